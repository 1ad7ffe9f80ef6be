"""A run's summary figures in formats other tools read: CSV (one row per run, target,
strategy and level) and OpenMetrics text (what Prometheus and `promtool check metrics`
accept). Figures a run did not measure are left out (an empty cell, no sample), never 0.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from typing import Any

import featbench
from featbench.results.reader import Run, Section

FORMATS = ("csv", "openmetrics")
PERCENTILES = {"p50": "0.5", "p95": "0.95", "p99": "0.99", "p999": "0.999"}
CSV_COLUMNS = [
    "run_id", "status", "target", "backend", "strategy", "distribution", "level_key", "level",
    "requests", "errors", "p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms",
    "p99_ci_low_ms", "p99_ci_high_ms", "hit_ratio", "blocks_per_request",
    "planned_hot_fraction", "keys_found_pct",
]  # fmt: skip


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _levels(run: Run) -> Iterator[tuple[Section, dict[str, Any]]]:
    for s in run.sections:
        for r in sorted(s.levels, key=lambda x: -float(x[s.level_key])):
            yield s, r


def to_csv(run: Run) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for s, r in _levels(run):
        lat = r.get("latency_ms") or {}
        ci = (r.get("latency_ci_ms") or {}).get("p99") or [None, None]
        ioc = r.get("io") or {}
        row = [
            run.run_id, run.status, s.target, s.backend, s.strategy, s.distribution,
            s.level_key, r[s.level_key], r.get("requests"), r.get("errors"),
            *(lat.get(q) for q in ("p50", "p95", "p99", "p999", "max", "mean")),
            ci[0], ci[1], ioc.get("hit_ratio"), ioc.get("blocks_per_request"),
            r.get("planned_hot_fraction"), r.get("keys_found_pct"),
        ]  # fmt: skip
        w.writerow(["" if _num(v) is None and not isinstance(v, str) else v for v in row])
    return out.getvalue()


def _label(v: Any) -> str:
    """An OpenMetrics label value: backslash, double quote and newline escaped."""
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _g(v: float) -> str:
    return repr(float(v))


class _Family:
    def __init__(self, name: str, kind: str, help_: str, unit: str | None = None) -> None:
        self.name, self.kind, self.help, self.unit = name, kind, help_, unit
        self.samples: list[str] = []

    def add(self, labels: dict[str, Any], value: float | None, suffix: str = "") -> None:
        if value is None:
            return  # not measured: no sample rather than a made-up 0
        lab = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        self.samples.append(f"{self.name}{suffix}{{{lab}}} {_g(value)}")

    def text(self) -> list[str]:
        if not self.samples:
            return []
        head = [f"# TYPE {self.name} {self.kind}"]
        if self.unit:
            head.append(f"# UNIT {self.name} {self.unit}")
        head.append(f"# HELP {self.name} {self.help}")
        return head + self.samples


def to_openmetrics(run: Run) -> str:
    """Gauges per run, target, strategy and level (latency in seconds, as Prometheus
    wants base units), and an info metric with the run's status."""
    info = _Family("featbench_run", "info", "A featbench run: its status and version.")
    info.add(
        {"run_id": run.run_id, "status": run.status, "featbench_version": featbench.__version__},
        1,
        "_info",
    )
    lat = _Family("featbench_latency_seconds", "gauge", "Request latency percentile over one level (monotonic clock, first byte sent to last row received).", "seconds")  # fmt: skip
    lo = _Family("featbench_latency_ci_lower_seconds", "gauge", "Lower bound of the percentile's distribution-free 95% interval (absent: open).", "seconds")  # fmt: skip
    hi = _Family("featbench_latency_ci_upper_seconds", "gauge", "Upper bound of the percentile's distribution-free 95% interval (absent: open, too few requests).", "seconds")  # fmt: skip
    mx = _Family("featbench_latency_max_seconds", "gauge", "Slowest measured request of the level.", "seconds")  # fmt: skip
    mean = _Family("featbench_latency_mean_seconds", "gauge", "Mean latency of the level's requests.", "seconds")  # fmt: skip
    req = _Family("featbench_requests", "gauge", "Measured requests of the level.")
    err = _Family("featbench_errors", "gauge", "Failed requests of the level.")
    hit = _Family("featbench_cache_hit_ratio", "gauge", "Shared-buffer hits / (hits + reads) the server counted over the level (absent: the store exposes none).", "ratio")  # fmt: skip
    blk = _Family("featbench_blocks_per_request", "gauge", "Buffer blocks touched per request (EXPLAIN samples).")  # fmt: skip
    hot = _Family("featbench_planned_hot_ratio", "gauge", "Share of the requests' entities the plan made hot.", "ratio")  # fmt: skip
    found = _Family("featbench_keys_found_ratio", "gauge", "Share of lookups that found their key.", "ratio")  # fmt: skip
    for s, r in _levels(run):
        base = {
            "run_id": run.run_id,
            "target": s.target,
            "backend": s.backend,
            "strategy": s.strategy,
            s.level_key: f"{float(r[s.level_key]):g}",
        }
        latency = r.get("latency_ms") or {}
        cis = r.get("latency_ci_ms") or {}
        for q, quantile in PERCENTILES.items():
            labels = {**base, "quantile": quantile}
            v = _num(latency.get(q))
            lat.add(labels, None if v is None else v / 1000)
            ci = cis.get(q) or [None, None]
            for fam, bound in ((lo, ci[0]), (hi, ci[1])):
                b = _num(bound)
                fam.add(labels, None if b is None else b / 1000)
        for fam, key in ((mx, "max"), (mean, "mean")):
            v = _num(latency.get(key))
            fam.add(base, None if v is None else v / 1000)
        req.add(base, _num(r.get("requests")))
        err.add(base, _num(r.get("errors")))
        ioc = r.get("io") or {}
        hit.add(base, _num(ioc.get("hit_ratio")))
        blk.add(base, _num(ioc.get("blocks_per_request")))
        hot.add(base, _num(r.get("planned_hot_fraction")))
        kf = _num(r.get("keys_found_pct"))
        found.add(base, None if kf is None else kf / 100)
    lines = [
        ln for f in (info, lat, lo, hi, mx, mean, req, err, hit, blk, hot, found) for ln in f.text()
    ]
    return "\n".join([*lines, "# EOF"]) + "\n"


def export_run(run: Run, fmt: str) -> str:
    return to_csv(run) if fmt == "csv" else to_openmetrics(run)
