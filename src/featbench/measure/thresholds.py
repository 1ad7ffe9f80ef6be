"""SLO thresholds, as k6 has them: `--threshold 'p99<10ms'`, evaluated per ratio. Pure functions.

Grammar (one expression)::

    METRIC OP VALUE[UNIT] [@FILTER[,FILTER…]]

- METRIC: a latency statistic of summary.json's `latency_ms` — p50, p95, p99, p99.9
  (or p999), max, mean — or `errors`, the ratio's error rate (errors / requests);
- OP: <, <=, >, >=;
- VALUE and UNIT: latency in ms (the default), s, us or µs; the error rate in % or as a
  fraction (`errors<0.001` is `errors<0.1%`);
- FILTER: which ratios it applies to, `hot=0` (hot %), `theta=0.99`, `backend=postgres`,
  `strategy=union`, `target=<the section's target>`. Without a filter an expression
  applies to every ratio of every section.

Evaluation makes one row per (expression, matching section and ratio): the measured
value (ms, or % for errors), and whether it passed. A statistic that was not measured
(no successful request) does not pass: an SLO cannot be met by nothing. An expression
that matches no ratio gives one failing row saying so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from featbench.errors import FeatbenchError

LATENCY_METRICS = {
    "p50": "p50",
    "p95": "p95",
    "p99": "p99",
    "p99.9": "p999",
    "p999": "p999",
    "max": "max",
    "mean": "mean",
}
ERROR_METRICS = ("errors", "error_rate")
OPS = ("<=", ">=", "<", ">")
LATENCY_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}
FILTER_KEYS = ("hot", "theta", "backend", "strategy", "target")
HINT = "use METRIC<VALUE[ms|s|us|%][@hot=N], e.g. p99<10ms, p99.9<50ms@hot=0, errors<0.1%"

_EXPR = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<num>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(?P<unit>ms|s|us|µs|%)?\s*"
    r"(?:@\s*(?P<filters>.*))?$"
)


class ThresholdError(FeatbenchError):
    """A threshold expression that cannot be parsed (exit 2 before anything runs)."""


@dataclass(frozen=True)
class Threshold:
    expression: str
    metric: str  # "errors" or a latency_ms key (p50, p95, p99, p999, max, mean)
    op: str
    limit: float  # ms for latency, a fraction for errors
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return "%" if self.metric == "errors" else "ms"

    @property
    def limit_shown(self) -> float:
        """The limit in the unit values are reported in (ms, or % for errors)."""
        return 100.0 * self.limit if self.metric == "errors" else self.limit

    def holds(self, value: float) -> bool:
        lim = self.limit_shown
        return {
            "<": value < lim,
            "<=": value <= lim,
            ">": value > lim,
            ">=": value >= lim,
        }[self.op]


def _bad(expr: str, why: str) -> ThresholdError:
    return ThresholdError(f"--threshold {expr!r}: {why}; {HINT}")


def _filters(expr: str, text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if text is None:
        return out
    for item in re.split(r"[,@]", text):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise _bad(expr, f"filter {item!r} is not NAME=VALUE")
        k, v = (x.strip() for x in item.split("=", 1))
        k = {"hot_pct": "hot", "θ": "theta"}.get(k, k)
        if k not in FILTER_KEYS or not v:
            raise _bad(expr, f"filter {item!r}: NAME is one of {', '.join(FILTER_KEYS)}")
        if k in ("hot", "theta"):
            try:
                x = float(v.rstrip("%"))
            except ValueError:
                raise _bad(expr, f"filter {item!r}: {k} takes a number") from None
            if not math.isfinite(x) or (k == "hot" and not 0 <= x <= 100):
                raise _bad(expr, f"filter {item!r}: hot is a percentage, 0–100")
            v = repr(x)
        if k in out:
            raise _bad(expr, f"filter {k} is given twice")
        out[k] = v
    if "hot" in out and "theta" in out:
        raise _bad(expr, "give hot= or theta=, not both")
    return out


def parse_threshold(expr: str) -> Threshold:
    m = _EXPR.match(expr)
    if m is None:
        raise _bad(expr, "not an expression")
    metric, op, unit = m["metric"].lower(), m["op"], m["unit"]
    num = float(m["num"])
    if metric in ERROR_METRICS:
        if unit not in (None, "%"):
            raise _bad(expr, f"the error rate is a percentage or a fraction, not {unit}")
        limit = num / 100.0 if unit == "%" else num
        if limit > 1:
            raise _bad(expr, "the error rate is at most 100% (a fraction at most 1)")
        key = "errors"
    elif metric in LATENCY_METRICS:
        if unit == "%":
            raise _bad(expr, f"{metric} is a latency: give ms, s or us")
        limit = num * LATENCY_UNITS[unit or "ms"]
        key = LATENCY_METRICS[metric]
    else:
        known = ", ".join([*dict.fromkeys(LATENCY_METRICS), "errors"])
        raise _bad(expr, f"unknown metric {m['metric']!r} (known: {known})")
    return Threshold(expr.strip(), key, op, limit, _filters(expr, m["filters"]))


def parse_thresholds(exprs: Iterable[str]) -> list[Threshold]:
    return [parse_threshold(e) for e in exprs]


def check_levels(
    thresholds: Sequence[Threshold], levels: Sequence[float], level_key: str = "hot_pct"
) -> None:
    """Refuse, before a run, a filter on a level the run will not measure."""
    name = "theta" if level_key == "theta" else "hot"
    other = "hot" if name == "theta" else "theta"
    for t in thresholds:
        if other in t.filters:
            raise ThresholdError(
                f"--threshold {t.expression!r}: this run sweeps {name}, not {other}"
            )
        if name in t.filters and not any(
            math.isclose(float(t.filters[name]), float(x)) for x in levels
        ):
            shown = ", ".join(f"{x:g}" for x in levels)
            raise ThresholdError(
                f"--threshold {t.expression!r}: the run has no {name} {float(t.filters[name]):g} "
                f"(its levels: {shown})"
            )


def _matches(t: Threshold, sec: dict[str, Any], r: dict[str, Any]) -> bool:
    for k, v in t.filters.items():
        if k == "hot":
            if "hot_pct" not in r or not math.isclose(float(r["hot_pct"]), float(v)):
                return False
        elif k == "theta":
            if "theta" not in r or not math.isclose(float(r["theta"]), float(v)):
                return False
        elif str(sec.get(k)) != v:
            return False
    return True


def measured_value(t: Threshold, r: dict[str, Any]) -> float | None:
    """The ratio's value of the threshold's metric: ms, or % for errors; None if unmeasured."""
    if t.metric == "errors":
        n = r.get("requests") or 0
        return 100.0 * (r.get("errors") or 0) / n if n else None
    v = (r.get("latency_ms") or {}).get(t.metric)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def evaluate_thresholds(
    thresholds: Sequence[Threshold], sections: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """summary.json `thresholds`: one row per expression and matching (section, ratio)."""
    out: list[dict[str, Any]] = []
    for t in thresholds:
        rows = []
        for i, sec in enumerate(sections):
            for r in sec.get("ratios") or []:
                if not _matches(t, sec, r):
                    continue
                level_key = "theta" if "theta" in r else "hot_pct"
                v = measured_value(t, r)
                rows.append(
                    {
                        "expression": t.expression,
                        "section": i,
                        "target": sec.get("target"),
                        "backend": sec.get("backend"),
                        "strategy": sec.get("strategy"),
                        "level_key": level_key,
                        "ratio": r.get(level_key),
                        "metric": t.metric,
                        "limit": t.limit_shown,
                        "unit": t.unit,
                        "value": v,
                        "passed": v is not None and t.holds(v),
                    }
                )
        if not rows:
            rows.append(
                {
                    "expression": t.expression,
                    "section": None,
                    "target": None,
                    "backend": None,
                    "strategy": None,
                    "level_key": None,
                    "ratio": None,
                    "metric": t.metric,
                    "limit": t.limit_shown,
                    "unit": t.unit,
                    "value": None,
                    "passed": False,
                    "note": "no ratio of the run matches its filters",
                }
            )
        out.extend(rows)
    return out


def failed_thresholds(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in summary.get("thresholds") or [] if not t.get("passed")]
