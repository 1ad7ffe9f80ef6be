"""Compare two runs: per-ratio deltas of p50/p95/p99 and hit ratio, with significance.

Like asv / pytest-benchmark, `compare` refuses pairs that are not comparable (another
workload spec) unless forced, and marks differences that are within noise. Noise is
judged by a seeded percentile bootstrap over the raw per-request latencies of
requests.parquet (successful requests only): a delta is significant when its 95%
interval excludes zero. The hit ratio is one counter delta per ratio, with no
sampling distribution to bootstrap: its delta is reported without a verdict.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.compute as pc

from featbench.errors import FeatbenchError
from featbench.measure.stats import bootstrap_delta, finite_or_none
from featbench.results.load import Run

COMPARED = ("p50", "p95", "p99")


def _latencies(run: Run, target: str, strategy: str, level_key: str, level: float) -> np.ndarray:
    t = run.requests()
    if t.num_rows == 0 or level_key not in t.column_names:
        return np.empty(0)
    mask = pc.and_(
        pc.and_(pc.equal(t.column("target"), target), pc.equal(t.column("strategy"), strategy)),
        pc.and_(pc.equal(t.column(level_key), float(level)), pc.is_null(t.column("error"))),
    )
    return t.filter(mask).column("latency_us").to_numpy(zero_copy_only=False) / 1000.0


def _level_key(ratio: dict[str, Any]) -> str:
    return "theta" if "theta" in ratio else "hot_pct"


def compare_runs(
    a: Run,
    b: Run,
    *,
    force: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
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
    for i, (sa, sb) in enumerate(zip(a.sections, b.sections, strict=False)):
        if sa.get("strategy") != sb.get("strategy"):
            warnings.append(
                f"section {i}: strategies differ ({sa.get('strategy')} vs {sb.get('strategy')})"
            )
        by_level_b = {float(r[_level_key(r)]): r for r in sb.get("ratios", [])}
        ratios = []
        for ra in sa.get("ratios", []):
            key = _level_key(ra)
            lvl = float(ra[key])
            rb = by_level_b.get(lvl)
            if rb is None:
                continue
            xa = _latencies(a, sa["target"], sa["strategy"], key, lvl)
            xb = _latencies(b, sb["target"], sb["strategy"], key, lvl)
            row: dict[str, Any] = {key: ra[key]}
            for stat in COMPARED:
                d = bootstrap_delta(xa, xb, stat, n_boot=n_boot, seed=seed, confidence=confidence)
                row[stat] = {
                    "a_ms": finite_or_none(d.a, 6),
                    "b_ms": finite_or_none(d.b, 6),
                    "delta_ms": finite_or_none(d.delta, 6),
                    "delta_pct": finite_or_none(100.0 * d.delta / d.a, 3)
                    if d.a and d.delta is not None
                    else None,
                    "ci_low_ms": finite_or_none(d.low, 6),
                    "ci_high_ms": finite_or_none(d.high, 6),
                    "significant": d.significant,
                }
            ha, hb = ra["io"]["hit_ratio"], rb["io"]["hit_ratio"]
            row["hit_ratio"] = {
                "a": ha,
                "b": hb,
                "delta": finite_or_none(hb - ha, 6) if ha is not None and hb is not None else None,
            }
            ratios.append(row)
        sections.append(
            {
                "a": {k: sa.get(k) for k in ("target", "backend", "strategy")},
                "b": {k: sb.get(k) for k in ("target", "backend", "strategy")},
                "ratios": ratios,
            }
        )
    if len(a.sections) != len(b.sections):
        warnings.append(
            f"the runs have {len(a.sections)} and {len(b.sections)} sections; compared the first {len(sections)}"
        )
    return {
        "a": {"run_id": a.run_id, "path": str(a.path), "status": a.status},
        "b": {"run_id": b.run_id, "path": str(b.path), "status": b.status},
        "same_spec": fa == fb,
        "method": f"percentile bootstrap of b - a over successful requests, {n_boot} resamples, "
        f"{int(confidence * 100)}% interval, seed {seed}",
        "sections": sections,
        "warnings": warnings,
    }
