"""Spark scaling on this machine: load and request throughput with 1, 2 and 4 local executor
cores, as ratios to featbench's single-process path.

- Load: fraud-30 at --scale into a fresh schema, COPY phase only (primary keys and verify
  off, as benchmarks/load_throughput.py does), rows per second of the COPY phase. The
  single-process path is `featbench load --streams 1`; Spark is `load --engine spark` on
  `local[k]` with k partitions.
- Requests: closed loop at one hot ratio against one loaded schema. The single-process
  path is the one in-process client; Spark is `run --engine spark --clients k` on
  `local[k]`. Throughput is the level's requests over the slowest client's wall time.

Each Spark configuration starts its own session; JVM start-up and the first start of its
Python workers (importing featbench) are not timed but reported (`worker_start_s`). The machine
is shared, so each round runs the single-process path and Spark back to back; rates are
medians and each ratio the median of the per-round ratios. From the measured per-core load
rate the script prints the estimate the README quotes (labelled an estimate there).

    .venv/bin/python benchmarks/spark_scaling.py [--target URL] [--scale S] [--cores 1,2,4]
        [--requests N] [--rounds R] [--json]

Default target: $FEATBENCH_BENCH_PG_DSN, else $FEATBENCH_TEST_PG_DSN. Writes only to
temporary schemas `fb_sparkbench_<random>_*`, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from featbench import api
from featbench.backends.postgres import PostgresBackend
from featbench.runner.config import RunConfig
from featbench.spark.load import SparkChunks
from featbench.spark.session import spark, stop
from featbench.spec import builtin_spec, scaled_rows
from featbench.target import parse_target

ORIGINAL_ROWS = 15.6e9  # the original Lakebase benchmark's data set
ORIGINAL_HOURS = (23.4, 9.0)  # its load, then its index builds


def _drop(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def load_rate(dsn: str, prefix: str, scale: float, executor: Any | None) -> float:
    """Rows per second of one COPY phase into a fresh schema."""
    schema = f"{prefix}_{uuid.uuid4().hex[:6]}"
    b = PostgresBackend(parse_target(dsn), schema=schema)
    try:
        r = b.load(
            builtin_spec(), scale, 42, streams=1, progress=False, build_keys=False,
            verify=False, executor=executor,
        )  # fmt: skip
    finally:
        b.close()
        _drop(dsn, schema)
    assert r.rows_per_s is not None, "nothing was loaded"
    return float(r.rows_per_s)


def request_rate(dsn: str, schema: str, requests: int, out: Path, clients: int | None) -> float:
    """Measured requests per second of one closed-loop level."""
    config = RunConfig.from_options(ratios="50", requests=requests, warmup=200, n_keys=2000)
    extra: dict[str, Any] = {} if clients is None else {"engine": "spark", "clients": clients}
    run = api.run([dsn], config, schema=schema, out=out, **extra)
    (entry,) = run.manifest["load"]
    wall = max(c["wall_s"] for c in entry["client_cpu"])
    return run.summary["ratios"][0]["requests"] / wall


def _warm(_: int) -> None:
    import featbench.backends.pgload.worker  # noqa: F401
    import featbench.runner.client  # noqa: F401


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default=os.environ.get("FEATBENCH_BENCH_PG_DSN")
                    or os.environ.get("FEATBENCH_TEST_PG_DSN"))  # fmt: skip
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--cores", default="1,2,4")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not a.target:
        sys.exit("give --target (or set FEATBENCH_BENCH_PG_DSN)")
    cores = [int(c) for c in a.cores.split(",")]
    prefix = f"fb_sparkbench_{uuid.uuid4().hex[:6]}"
    rows = sum(scaled_rows(t, a.scale) for t in builtin_spec().tables)
    data_schema = f"{prefix}_data"
    res: dict[str, Any] = {
        "scale": a.scale,
        "rows": rows,
        "cpus": os.cpu_count(),
        "rounds": a.rounds,
    }
    out = Path(tempfile.mkdtemp(prefix="fb-sparkbench-"))
    loads: dict[str, list[float]] = {"single": []}
    reqs: dict[str, list[float]] = {"single": []}
    ratios: dict[str, dict[str, list[float]]] = {"load": {}, "requests": {}}
    try:
        api.load(a.target, scale=a.scale, schema=data_schema, streams=2)
        for k in cores:
            session = spark(f"local[{k},4]")
            try:
                # untimed: start the Python workers and import featbench in them once, as
                # a long job does once in hours (reported with the first job's time apart)
                t0 = time.perf_counter()
                session.sparkContext.parallelize(range(k), k).foreach(_warm)
                res.setdefault("worker_start_s", {})[f"spark_{k}"] = round(
                    time.perf_counter() - t0, 2
                )
                chunks = SparkChunks(session, partitions=k)
                name = f"spark_{k}"
                # the machine is shared and its load drifts: each round runs the
                # single-process path and Spark back to back, and ratios are per round
                for _ in range(a.rounds):
                    one = load_rate(a.target, prefix, a.scale, None)
                    dist = load_rate(a.target, prefix, a.scale, chunks)
                    loads["single"].append(one)
                    loads.setdefault(name, []).append(dist)
                    ratios["load"].setdefault(name, []).append(dist / one)
                    one = request_rate(a.target, data_schema, a.requests, out, None)
                    dist = request_rate(a.target, data_schema, a.requests, out, k)
                    reqs["single"].append(one)
                    reqs.setdefault(name, []).append(dist)
                    ratios["requests"].setdefault(name, []).append(dist / one)
            finally:
                stop(session)
    finally:
        _drop(a.target, data_schema)
    res["load_rows_per_s"] = {k: round(statistics.median(v)) for k, v in loads.items()}
    res["requests_per_s"] = {k: round(statistics.median(v)) for k, v in reqs.items()}
    res["load_rows_ratio"] = {k: round(statistics.median(v), 2) for k, v in ratios["load"].items()}
    res["requests_ratio"] = {
        k: round(statistics.median(v), 2) for k, v in ratios["requests"].items()
    }
    # the estimate: the best measured per-core load rate, scaled to N workers of C cores
    per_core = max(res["load_rows_per_s"][f"spark_{k}"] / k for k in cores)
    res["per_core_load_rows_per_s"] = round(per_core)
    res["estimate_hours_15_6b"] = {
        f"{n}x{c}": round(ORIGINAL_ROWS / (per_core * n * c) / 3600, 2)
        for n, c in ((1, 8), (4, 8), (16, 8), (64, 8))
    }
    if a.json:
        print(json.dumps(res, indent=2))
        return
    print(
        f"fraud-30 scale {a.scale:g} ({rows:,} rows), {os.cpu_count()} CPUs, median of {a.rounds}"
    )
    for kind, unit in (("load_rows_per_s", "rows/s"), ("requests_per_s", "req/s")):
        print(f"{kind}:")
        for k, v in res[kind].items():
            ratio = "" if k == "single" else f"  ({res[kind.replace('_per_s', '_ratio')][k]}x)"
            print(f"  {k:10s} {v:12,.0f} {unit}{ratio}")
    print(f"per-core load rate (best): {per_core:,.0f} rows/s")
    print("ESTIMATE, 15.6 B rows = 15.6e9 / (rate per core x cores per worker x workers):")
    for k, h in res["estimate_hours_15_6b"].items():
        print(
            f"  {k} cores: {h} h (original: {ORIGINAL_HOURS[0]} h load + {ORIGINAL_HOURS[1]} h indexes)"
        )


if __name__ == "__main__":
    main()
