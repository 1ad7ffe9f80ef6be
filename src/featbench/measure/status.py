"""Whether a run that ran to its end is `complete` or `failed`: a pure function of summary.json.

A ratio whose requests mostly failed has latency figures that describe errors, not the
store: such a run must not look like a result. The rule: a run is `failed` when any
ratio of any section has an error rate (errors / requests) above `max_error_rate`; the
reason names the first such ratio (in the order of summary.json) and how many others.
"""

from __future__ import annotations

from typing import Any

DEFAULT_MAX_ERROR_RATE = 0.01  # 1 %


def check_max_error_rate(rate: float) -> float:
    """The limit as a fraction in [0, 1]; ValueError with what to fix otherwise."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"--max-error-rate must be a fraction between 0 and 1, got {rate:g}")
    return float(rate)


def _level(r: dict[str, Any]) -> str:
    if "theta" in r:
        return f"θ {r['theta']:g}"
    return f"{r.get('hot_pct', '?'):g}% hot" if "hot_pct" in r else "?"


def error_rate(r: dict[str, Any]) -> float | None:
    """errors / requests of one ratio object, None when it has no requests."""
    n = r.get("requests") or 0
    return (r.get("errors") or 0) / n if n else None


def run_status(summary: dict[str, Any], max_error_rate: float) -> tuple[str, str | None]:
    """("complete", None) or ("failed", one-line reason) for a run that ran to its end."""
    over: list[tuple[dict[str, Any], dict[str, Any], float]] = []
    for sec in summary.get("sections") or []:
        for r in sec.get("ratios") or []:
            rate = error_rate(r)
            if rate is not None and rate > max_error_rate:
                over.append((sec, r, rate))
    if not over:
        return "complete", None
    sec, r, rate = over[0]
    more = (
        f" (and {len(over) - 1} more ratio{'s' if len(over) > 2 else ''})" if len(over) > 1 else ""
    )
    return (
        "failed",
        f"{sec.get('backend')} · {sec.get('strategy')} at {_level(r)}: {r.get('errors')} of "
        f"{r.get('requests')} requests failed ({100 * rate:.3g}%), above --max-error-rate "
        f"{100 * max_error_rate:g}%{more}",
    )
