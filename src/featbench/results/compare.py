"""Compare two runs: per-ratio deltas of p50/p95/p99/p99.9 and hit ratio, with significance.

Like asv / pytest-benchmark, `compare` refuses pairs that are not comparable (another
workload spec) unless forced, and marks differences that are within noise.

Significance comes from summary.json alone (no per-request log needed): each percentile
carries its distribution-free 95% interval (`latency_ci_ms`, measure/percentiles.py). A
difference is *significant* when the two runs' intervals do not overlap, a missing (null)
bound counting as unbounded on its side (0 below, infinity above); it is *noise* when they
overlap and both are closed; *undecidable* (None) when they overlap and either is open, or
a figure is missing. Two disjoint 95% intervals are a conservative test: a change called
significant this way is one a 5%-level test would call significant too, while some real
changes of about one interval's width are reported as noise.

Runs written before summaries held intervals get them from requests.parquet (the same
order statistics over the raw successful latencies) when it is there. The hit ratio is one
counter delta per ratio, with no sampling distribution: its delta carries no verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow.compute as pc

from featbench.errors import FeatbenchError
from featbench.measure.percentiles import QUANTILES, interval
from featbench.measure.stats import finite_or_none
from featbench.results.reader import Run, Section, level_key_of

COMPARED = ("p50", "p95", "p99", "p999")
METHOD = (
    "a difference is significant when the two runs' distribution-free 95% intervals "
    "(order statistics, summary.json latency_ci_ms) do not overlap; noise when they "
    "overlap; undecidable when they overlap and one is open (too few requests)"
)

Bounds = Sequence[float | None]


def significance(
    a: float | None, a_ci: Bounds | None, b: float | None, b_ci: Bounds | None
) -> bool | None:
    """True: the intervals are disjoint; False: they overlap, both closed; None: cannot tell
    (they overlap and one is open, or a value or interval is missing)."""
    if a is None or b is None or a_ci is None or b_ci is None:
        return None
    a_lo, a_hi = a_ci
    b_lo, b_hi = b_ci
    # an open bound reaches as far as it can: a lower bound to 0, an upper one to infinity
    if b_hi is not None and a_lo is not None and b_hi < a_lo:
        return True  # b's whole interval is below a's
    if a_hi is not None and b_lo is not None and a_hi < b_lo:
        return True  # b's whole interval is above a's
    if None in (a_lo, a_hi, b_lo, b_hi):
        return None
    return False


def _latencies_ms(run: Run, target: str, strategy: str, level_key: str, level: float) -> np.ndarray:
    t = run.requests(("target", "strategy", level_key, "error", "latency_us"))
    if t.num_rows == 0 or level_key not in t.column_names:
        return np.empty(0)
    mask = pc.and_(
        pc.and_(pc.equal(t.column("target"), target), pc.equal(t.column("strategy"), strategy)),
        pc.and_(pc.equal(t.column(level_key), float(level)), pc.is_null(t.column("error"))),
    )
    return t.filter(mask).column("latency_us").to_numpy(zero_copy_only=False) / 1000.0


def level_intervals(run: Run, section: Section, level: dict[str, Any]) -> dict[str, Bounds] | None:
    """The level's percentile intervals: from summary.json, else (older runs) from the
    request log; None when neither has them."""
    ci = level.get("latency_ci_ms")
    if isinstance(ci, dict):
        return ci
    key = level_key_of(level)
    lat = _latencies_ms(run, section.target, section.strategy, key, float(level[key]))
    if lat.size == 0:
        return None
    return {k: list(interval(lat, q)) for k, q in QUANTILES.items()}


def _stat_row(
    stat: str, ra: dict[str, Any], rb: dict[str, Any], cia: Any, cib: Any
) -> dict[str, Any]:
    a = (ra.get("latency_ms") or {}).get(stat)
    b = (rb.get("latency_ms") or {}).get(stat)
    a_ci = cia.get(stat) if cia else None
    b_ci = cib.get(stat) if cib else None
    delta = b - a if a is not None and b is not None else None
    return {
        "a_ms": finite_or_none(a, 6),
        "b_ms": finite_or_none(b, 6),
        "a_ci_ms": a_ci,
        "b_ci_ms": b_ci,
        "delta_ms": finite_or_none(delta, 6),
        "delta_pct": finite_or_none(100.0 * delta / a, 3) if a and delta is not None else None,
        "significant": significance(a, a_ci, b, b_ci),
    }


def compare_runs(a: Run, b: Run, *, force: bool = False) -> dict[str, Any]:
    """Deltas b - a per section (matched by position and strategy) and ratio."""
    fa, fb = a.spec_fingerprint, b.spec_fingerprint
    if fa != fb and not force:
        raise FeatbenchError(
            f"runs {a.run_id} and {b.run_id} used different workload specs "
            f"({str(fa)[:12]}… vs {str(fb)[:12]}…); pass --force to compare anyway"
        )
    warnings: list[str] = []
    if fa != fb:
        warnings.append("the runs used different workload specs (compared because of --force)")
    for r in (a, b):
        if r.status != "complete":
            warnings.append(f"run {r.run_id} is {r.status}")
    ca, cb = a.manifest.get("config", {}), b.manifest.get("config", {})
    for k in (
        "requests",
        "warmup",
        "io_sample_every",
        "hot_fraction",
        "n_keys",
        "scale",
        "ratio_order",
    ):
        if ca.get(k) != cb.get(k):
            warnings.append(f"config {k} differs: {ca.get(k)} vs {cb.get(k)}")
    sections = []
    missing_ci: set[str] = set()
    for i, (sa, sb) in enumerate(zip(a.sections, b.sections, strict=False)):
        if sa.strategy != sb.strategy:
            warnings.append(f"section {i}: strategies differ ({sa.strategy} vs {sb.strategy})")
        by_level_b = {float(r[level_key_of(r)]): r for r in sb.levels}
        levels = []
        for ra in sa.levels:
            key = level_key_of(ra)
            rb = by_level_b.get(float(ra[key]))
            if rb is None:
                continue
            cia, cib = level_intervals(a, sa, ra), level_intervals(b, sb, rb)
            for run, ci in ((a, cia), (b, cib)):
                if ci is None:
                    missing_ci.add(run.run_id)
            row: dict[str, Any] = {key: ra[key]}
            for stat in COMPARED:
                row[stat] = _stat_row(stat, ra, rb, cia, cib)
            ha, hb = ((r.get("io") or {}).get("hit_ratio") for r in (ra, rb))
            row["hit_ratio"] = {
                "a": ha,
                "b": hb,
                "delta": finite_or_none(hb - ha, 6) if ha is not None and hb is not None else None,
            }
            levels.append(row)
        sections.append(
            {
                "a": {"target": sa.target, "backend": sa.backend, "strategy": sa.strategy},
                "b": {"target": sb.target, "backend": sb.backend, "strategy": sb.strategy},
                "ratios": levels,  # the contract's word
            }
        )
    for rid in sorted(missing_ci):
        warnings.append(
            f"run {rid} records no percentile intervals (written before they existed, and "
            "without a request log): its differences are undecidable"
        )
    if len(a.sections) != len(b.sections):
        warnings.append(
            f"the runs have {len(a.sections)} and {len(b.sections)} sections; compared the first {len(sections)}"
        )
    return {
        "a": {"run_id": a.run_id, "path": str(a.path), "status": a.status},
        "b": {"run_id": b.run_id, "path": str(b.path), "status": b.status},
        "same_spec": fa == fb,
        "method": METHOD,
        "sections": sections,
        "warnings": warnings,
    }
