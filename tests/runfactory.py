"""Test helper: write run directories in the agreed format with realistic numbers.

Requests are simulated with numpy (seeded): each entity hot with probability r, a
cold entity costs disk-ish time, a hot one cache time; summary statistics are computed
from the simulated requests exactly as the contract defines them. Used by the report
tests until (and besides) real runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from featbench.measure.percentiles import QUANTILES, interval, percentile
from featbench.spec import builtin_spec

RATIOS = (100, 90, 80, 70, 60, 50, 30, 10, 0)
BACKEND_COST = {  # (hot entity ms, cold entity ms) per entity part of a request
    "postgres": (0.35, 2.4),
    "dynamodb": (1.6, 1.7),
    "redis": (0.12, 0.13),
}


def _pcts(a: np.ndarray) -> dict[str, float | None] | None:
    """latency_ms as the contract defines it: featbench's one percentile definition."""
    if a.size == 0:
        return None
    out: dict[str, float | None] = {k: percentile(a, q) for k, q in QUANTILES.items()}
    out["max"] = float(a.max())
    out["mean"] = float(a.mean())
    return out


def _cis(a: np.ndarray) -> dict[str, list[float | None]] | None:
    """latency_ci_ms: each percentile's distribution-free 95% interval."""
    if a.size == 0:
        return None
    return {k: list(interval(a, q)) for k, q in QUANTILES.items()}


def make_run(
    root: Path,
    run_id: str = "20261126T081500Z-3f2a1c",
    *,
    backend: str = "postgres",
    target: str = "postgresql://bench@127.0.0.1:5432/test",
    strategies: tuple[str, ...] = ("serial",),
    ratios: tuple[int, ...] = RATIOS,
    requests: int = 200,
    seed: int = 7,
    status: str = "complete",
    open_loop: bool = False,
    with_requests: bool = True,
    server: dict[str, Any] | None = None,
    extra_targets: tuple[tuple[str, str, tuple[str, ...]], ...] = (),
    schema_version: int = 1,
    scale: float = 0.02,
    consumed: bool = True,
) -> Path:
    """Write results/<run_id>/ and return its path. `extra_targets` adds more
    (backend, target, strategies) sections to the same run."""
    spec = builtin_spec("fraud-30")
    ents = spec.entity_names
    rng = np.random.default_rng(seed)
    d = root / run_id
    d.mkdir(parents=True, exist_ok=True)
    (d / "requests").mkdir(exist_ok=True)
    (d / "histograms").mkdir(exist_ok=True)
    plan = [(backend, target, strategies)] + list(extra_targets)
    sections = []
    parts = []
    targets_meta = []
    for b, tgt, strats in plan:
        hot_ms, cold_ms = BACKEND_COST[b]
        srv: dict[str, Any] = {
            "version": {"postgres": "PostgreSQL 15.14", "dynamodb": "moto 5", "redis": "7.2.4"}[b]
        }
        if b == "postgres":
            srv.update(
                {
                    "shared_buffers": "32MB",
                    "work_mem": "4MB",
                    "embedded": False,
                    "total_bytes": 96_000_000,
                }
            )
        if b == "dynamodb":
            srv.update({"item_bytes": 310.0, "layout": "table-per-feature-table"})
        if b == "redis":
            srv.update({"memory_per_row_bytes": 420.0})
        if server and b == backend:
            srv.update(server)
        targets_meta.append({"target": tgt, "backend": b, "server": srv})
        for si, strat in enumerate(strats):
            speed = 1.0 / (1 + si)  # later strategies faster
            ratio_objs = []
            seq = 0
            clock = 1_000_000_000 + si * 10**12
            for r in ratios:
                p = r / 100
                hot = rng.random((requests, len(ents))) < p
                n_tables = np.array([len(spec.tables_for(e)) for e in ents]) / 10
                part = np.where(hot, hot_ms, cold_ms) * n_tables * speed
                part = part * rng.lognormal(0, 0.35, part.shape)
                lat_ms = part.sum(axis=1) + 0.2
                n_hot = hot.sum(axis=1)
                errors = np.zeros(requests, dtype=bool)
                errors[rng.random(requests) < 0.003] = True
                start = clock + np.cumsum((lat_ms + 0.05) * 1e6).astype(np.int64)
                end = start + (lat_ms * 1e6).astype(np.int64)
                clock = int(end[-1]) + 50_000_000
                sched = (
                    (start - (rng.random(requests) * 2e5).astype(np.int64)) if open_loop else None
                )
                ok = ~errors
                lat_ok = lat_ms[ok]
                cols: dict[str, Any] = {
                    "hot_pct": np.full(requests, float(r)),
                    "seq": np.arange(seq, seq + requests),
                    "scheduled_ns": pa.array(
                        sched if sched is not None else [None] * requests, pa.int64()
                    ),
                    "start_ns": start,
                    "end_ns": end,
                    "latency_us": (lat_ms * 1000).astype(np.int64),
                    "error": pa.array(
                        [("connection lost" if e else None) for e in errors], pa.string()
                    ),
                    "hot_entities": n_hot.astype(np.int16),
                    "target": [tgt] * requests,
                    "strategy": [strat] * requests,
                }
                for j, e in enumerate(ents):
                    cols[f"{e}_key"] = [
                        f"{e[:4]}{k:060x}" for k in rng.integers(0, 2**40, requests)
                    ]
                    cols[f"{e}_hot"] = hot[:, j]
                    cols[f"{e}_latency_us"] = (
                        (part[:, j] * 1000).astype(np.int64)
                        if strat == "serial"
                        else pa.array([None] * requests, pa.int64())
                    )
                seq += requests
                parts.append(pa.table(cols))
                planned = hot.mean(axis=1)
                io = {
                    "buffer_hits": None,
                    "buffer_reads": None,
                    "hit_ratio": None,
                    "blocks_per_request": None,
                    "sampled_requests": None,
                }
                if b == "postgres":
                    blocks = 30 * 3
                    reads = int(requests * blocks * (1 - p) * 0.8)
                    hits = requests * blocks - reads
                    io = {
                        "buffer_hits": hits,
                        "buffer_reads": reads,
                        "hit_ratio": hits / (hits + reads),
                        "blocks_per_request": float(blocks),
                        "sampled_requests": max(1, requests // 100),
                    }
                corr = float(np.corrcoef(planned, lat_ms)[0, 1]) if planned.std() > 0 else None
                ratio_objs.append(
                    {
                        "hot_pct": float(r),
                        "requests": int(ok.sum()),
                        "errors": int(errors.sum()),
                        "latency_ms": _pcts(lat_ok),
                        "latency_ci_ms": _cis(lat_ok),
                        "corrected_latency_ms": _pcts(((end - sched) / 1e6)[ok])
                        if sched is not None
                        else None,
                        "corrected_latency_ci_ms": _cis(((end - sched) / 1e6)[ok])
                        if sched is not None
                        else None,
                        "entity_latency_ms": {
                            e: {
                                k: v
                                for k, v in (_pcts(part[ok, j]) or {}).items()
                                if k in ("p50", "p95", "p99")
                            }
                            for j, e in enumerate(ents)
                        }
                        if strat == "serial"
                        else {},
                        "planned_hot_fraction": float(planned.mean()),
                        "fully_hot_pct": float((n_hot == len(ents)).mean() * 100),
                        "fully_cold_pct": float((n_hot == 0).mean() * 100),
                        "mixed_pct": float(((n_hot > 0) & (n_hot < len(ents))).mean() * 100),
                        "latency_cache_corr": corr,
                        "io": io,
                        "keys_found_pct": 97.5,
                        "rows_per_lookup": 0.975,
                    }
                )
                if b == "dynamodb" and consumed:
                    ratio_objs[-1]["consumed_rcu_per_request"] = 15.0
            sections.append(
                {
                    "target": tgt,
                    "backend": b,
                    "strategy": strat,
                    "distribution": "hotcold",
                    "ratios": ratio_objs,
                }
            )
    manifest = {
        "schema_version": schema_version,
        "featbench_version": "0.1.0",
        "run_id": run_id,
        "started_at": "2026-11-26T08:15:00Z",
        "finished_at": None if status == "running" else "2026-11-26T08:17:00Z",
        "status": status,
        "config": {
            "ratios": list(ratios),
            "requests": requests,
            "warmup": 20,
            "seed": seed,
            "io_sample_every": 100,
            "hot_fraction": 0.01,
            "n_keys": 10000,
            "strategies": list(strategies),
            "distribution": "hotcold",
            "ratio_order": list(ratios),
            "scale": scale,
        },
        "spec": spec.model_dump(mode="json"),
        "spec_fingerprint": spec.fingerprint(),
        "seed": seed,
        "targets": targets_meta,
        "client": {"host": "testhost", "python": "3.11", "cpus": 2, "os": "Linux"},
    }
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if status != "running":
        first = sections[0]
        summary = {
            "schema_version": schema_version,
            "run_id": run_id,
            "backend": first["backend"],
            "strategy": first["strategy"],
            "ratios": first["ratios"],
            "sections": sections,
        }
        (d / "summary.json").write_text(json.dumps(summary, indent=2))
    if with_requests:
        table = pa.concat_tables(parts)
        if status == "complete":
            pq.write_table(table, d / "requests.parquet")
        else:
            for i, t in enumerate(parts):
                pq.write_table(t, d / "requests" / f"part-{i:03d}.parquet")
    pq.write_table(
        pa.table(
            {"entity": ["card_fingerprint"], "hash_key": ["ab" * 32], "is_hot": [True], "rank": [0]}
        ),
        d / "keys.parquet",
    )
    return d
