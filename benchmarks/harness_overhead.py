"""Harness overhead: featbench's runner vs pgbench on the same one-key lookup, same server, same run.

What is compared: one prepared `SELECT * FROM lookup WHERE id = $1` per request on a
100,000-row table that fits in shared_buffers (so both sides measure the client path
and one round trip, not the disk).

- featbench: a real `run_benchmark` (closed loop, serial session, libpq-level
  `exec_prepared`), one entity with one table described as an existing table
  ("bring your own" spec), ratio 0% hot (every key a fresh sampled key), no I/O
  samples; p50 and mean from its summary.json.
- featbench session: the same serial session in a bare Python loop (no plan, events,
  statistics or files), to show how the overhead splits between session and runner.
- pgbench: `pgbench -n -M prepared -c 1 -j 1 -t N -f lookup.sql -l` with
  `\\set id random(1, 100000)`; p50 and mean from its per-transaction log.

The machine is shared and its load swings (a lookup takes 20 µs or 100 µs depending on
what else runs), so many short rounds alternate — featbench then pgbench, then the
other way round — and the reported ratio is the median of the per-round ratios (each
round's two sides ran seconds apart, under the same load). Usage:

    .venv/bin/python benchmarks/harness_overhead.py [--target URL] [--requests N] [--rounds R] [--json]

Default target: $FEATBENCH_BENCH_PG_DSN, else the embedded server. Writes only to a
temporary schema `fb_harness_<random>`, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from featbench.backends.base import open_backend
from featbench.measure.percentiles import percentile
from featbench.runner.benchmark import RunConfig, run_benchmark
from featbench.spec import spec_from_dict

ROWS = 100_000


def pgbench_path() -> str:
    cands = []
    try:
        import pgserver._commands as pc

        cands.append(Path(pc.POSTGRES_BIN_PATH) / "pgbench")
    except Exception:  # noqa: BLE001 - pgserver is optional here
        pass
    cands += sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)
    found = shutil.which("pgbench")
    if found:
        cands.append(Path(found))
    for c in cands:
        if c.exists():
            return str(c)
    sys.exit("pgbench not found (it ships with pgserver; or install postgresql-client)")


def setup(conninfo: str, schema: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        s = sql.Identifier(schema)
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.lookup AS SELECT g::bigint AS id, md5(g::text) AS payload, "
                "g * 1.5::float8 AS amount, (g %% 97)::bigint AS txn_count, "
                "timestamptz '2026-01-01' - g * interval '1 minute' AS last_seen "
                "FROM generate_series(1, %s) g"
            ).format(s),
            (ROWS,),
        )
        conn.execute(sql.SQL("ALTER TABLE {}.lookup ADD PRIMARY KEY (id)").format(s))
        conn.execute(sql.SQL("VACUUM ANALYZE {}.lookup").format(s))
        conn.execute(sql.SQL("SELECT count(*) FROM {}.lookup").format(s))  # warm the cache


def lookup_spec(schema: str) -> Any:
    return spec_from_dict(
        {
            "name": "harness-overhead",
            "entities": [{"name": "item", "key_type": "bigint"}],
            "tables": [
                {
                    "entity": "item", "family": "lookup", "name": "lookup", "rows": ROWS,
                    "schema_name": schema, "key_column": "id",
                    "columns": [
                        {"name": "payload", "type": "text"},
                        {"name": "amount", "type": "double"},
                        {"name": "txn_count", "type": "bigint"},
                        {"name": "last_seen", "type": "timestamptz"},
                    ],
                }
            ],
        }
    )  # fmt: skip


def featbench_round(
    target: str, schema: str, requests: int, seed: int, out: Path
) -> dict[str, float]:
    spec = lookup_spec(schema)
    b = open_backend(target, schema=schema)
    try:
        cfg = RunConfig(
            ratios=(0,),
            requests=requests,
            warmup=200,
            n_keys=requests + 400,
            io_sample_every=0,
            seed=seed,
        )
        res = run_benchmark([b], spec, cfg, out=out, run_id=f"round-{seed}", sql_results=False)
    finally:
        b.close()
    lat = res.summary["ratios"][0]["latency_ms"]
    return {"p50_us": lat["p50"] * 1000, "mean_us": lat["mean"] * 1000, "requests": requests}


def session_round(conninfo: str, schema: str, requests: int, seed: int) -> dict[str, float]:
    import time

    from featbench.backends.pg_requests import SerialSession

    s = SerialSession(conninfo, schema, lookup_spec(schema))
    keys = np.random.default_rng(seed).integers(1, ROWS + 1, size=requests + 200).tolist()
    lat = []
    clock = time.perf_counter_ns
    try:
        for k in keys:
            t0 = clock()
            s.execute({"item": k})
            lat.append(clock() - t0)
    finally:
        s.close()
    a = np.array(lat[200:], dtype=np.float64) / 1000.0
    return {
        "p50_us": percentile(a, 0.5),
        "mean_us": float(a.mean()),
        "requests": int(a.size),
    }


def pgbench_round(
    pgbench: str, conninfo: str, schema: str, requests: int, work: Path, n: int
) -> dict[str, float]:
    script = work / "lookup.sql"
    script.write_text(
        f"\\set id random(1, {ROWS})\nSELECT * FROM {schema}.lookup WHERE id = :id;\n"
    )
    prefix = work / f"pgbench_{n}"
    cmd = [pgbench, "-n", "-M", "prepared", "-c", "1", "-j", "1", "-t", str(requests + 200),
           "-f", str(script), "-l", f"--log-prefix={prefix}", conninfo]  # fmt: skip
    subprocess.run(
        cmd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PGAPPNAME": "fb_harness"},
    )
    lat = []
    for f in work.glob(f"pgbench_{n}*"):
        for line in f.read_text().splitlines():
            parts = line.split()
            lat.append(int(parts[2]))  # client_id transaction_no time(us) script_no epoch us
    a = np.array(lat[200:], dtype=np.float64)  # the first 200 are its warm-up, like featbench's
    return {
        "p50_us": percentile(a, 0.5),
        "mean_us": float(a.mean()),
        "requests": int(a.size),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default=os.environ.get("FEATBENCH_BENCH_PG_DSN", "embedded"))
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    b = open_backend(args.target)
    conninfo = b.conninfo  # type: ignore[attr-defined]
    server = b.describe()
    b.close()
    schema = f"fb_harness_{uuid.uuid4().hex[:8]}"
    pgbench = pgbench_path()
    fb: list[dict[str, float]] = []
    pb: list[dict[str, float]] = []
    ss: list[dict[str, float]] = []
    try:
        setup(conninfo, schema)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for i in range(args.rounds):
                fb_round = lambda i=i: fb.append(  # noqa: E731
                    featbench_round(args.target, schema, args.requests, 1000 + i, work / "runs")
                )
                steps = [
                    fb_round,
                    lambda i=i: ss.append(session_round(conninfo, schema, args.requests, i)),
                    lambda i=i: pb.append(
                        pgbench_round(pgbench, conninfo, schema, args.requests, work, i)
                    ),
                ]
                for step in steps if i % 2 == 0 else steps[::-1]:  # alternate who goes first
                    step()
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    med = {
        "featbench": {k: statistics.median(r[k] for r in fb) for k in ("p50_us", "mean_us")},
        "session": {k: statistics.median(r[k] for r in ss) for k in ("p50_us", "mean_us")},
        "pgbench": {k: statistics.median(r[k] for r in pb) for k in ("p50_us", "mean_us")},
    }
    doc = {
        # the machine is shared: a load average above the core count means noisy figures
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "target": "embedded" if args.target == "embedded" else server.get("target"),
        "server_version": server.get("server_version"),
        "pgbench": pgbench,
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "per_round": {"featbench": fb, "session": ss, "pgbench": pb},
        "median": med,
        # median of per-round ratios: each round's sides ran under the same machine load
        "ratio_p50": statistics.median(
            f["p50_us"] / p["p50_us"] for f, p in zip(fb, pb, strict=True)
        ),
        "ratio_mean": statistics.median(
            f["mean_us"] / p["mean_us"] for f, p in zip(fb, pb, strict=True)
        ),
        "session_ratio_p50": statistics.median(
            f["p50_us"] / p["p50_us"] for f, p in zip(ss, pb, strict=True)
        ),
        "session_ratio_mean": statistics.median(
            f["mean_us"] / p["mean_us"] for f, p in zip(ss, pb, strict=True)
        ),
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(
        f"one-key lookup, {args.requests} requests x {args.rounds} rounds, PostgreSQL {doc['server_version']} "
        f"at {doc['target']}; load average {doc['load_average'][0]} on {doc['cpus']} CPUs"
    )
    print(f"{'':12}{'p50 us':>10}{'mean us':>10}")
    labels = {"pgbench": "pgbench", "session": "fb session", "featbench": "featbench"}
    for name in ("pgbench", "session", "featbench"):
        print(f"{labels[name]:12}{med[name]['p50_us']:>10.1f}{med[name]['mean_us']:>10.1f}")
    print(f"{'session/pgb':12}{doc['session_ratio_p50']:>10.3f}{doc['session_ratio_mean']:>10.3f}")
    print(
        f"{'run/pgbench':12}{doc['ratio_p50']:>10.3f}{doc['ratio_mean']:>10.3f}   "
        "(median of per-round featbench / pgbench; aim <= 1.15)"
    )


if __name__ == "__main__":
    main()
