"""The tail measures the store: featbench's runner vs pgbench on the same lookup, p50 to p99.9.

What is compared: one prepared `SELECT * FROM lookup WHERE id = $1` per request on a
100,000-row table in shared buffers, through

- featbench: a real `run_benchmark` (closed loop, one client, serial session; plan,
  events, statistics, result files, time series — everything a run does), ratio 100%
  hot; latencies are read back from its requests.parquet;
- pgbench: `pgbench -n -M prepared -c 1 -j 1 -t N -f lookup.sql -l` (the pgbench that
  ships with pgserver, or the system's), latencies from its per-transaction log.

Both sides' percentiles use one definition (nearest rank over the raw values) and both
drop their first WARMUP requests. Rounds alternate which side goes first, three times
over: on an otherwise idle machine, with one CPU-bound process (started here) competing
for a core, and with two (on 2 cores: none left free). Printed per condition: the ratio
featbench / pgbench of the pooled p50, p99 and p99.9 (all rounds' requests together)
and the median of the per-round ratios.

Then the pauses: every request right after one of featbench's own pauses (when a
client hands its records over) against all the others, and the memory curve of one
long run (default 10 million requests, one-table spec, ratio 100) run as a separate
`featbench run` process whose resident memory is sampled from outside.

    .venv/bin/python benchmarks/tail_overhead.py [--target URL] [--requests N] [--rounds R]
        [--memory-requests N | --skip-memory] [--decompose] [--json]

Default target: $FEATBENCH_BENCH_PG_DSN, else the embedded server. Writes only to a
temporary schema `fb_tail_<random>`, dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import psycopg
import pyarrow.parquet as pq
from pgbench_ref import cpu_hog, python_path
from pglookup import ROWS, header, lookup_schema, lookup_spec_dict, pgbench_lookup

from featbench.backends.base import open_backend
from featbench.runner.benchmark import RunConfig, run_benchmark
from featbench.spec import spec_from_dict

WARMUP = 500
# (name, CPU-bound processes started beside the run): on this 2-core machine two of them
# leave no core free, so the client, the server and pgbench all wait for CPU.
CONDITIONS = (("idle", 0), ("one CPU-bound process", 1), ("two: every core busy", 2))
QS = {"p50": 0.50, "p99": 0.99, "p999": 0.999}


def rank_percentile(a: np.ndarray, q: float) -> float:
    """Nearest rank, the definition featbench uses: the ceil(q·n)-th smallest value."""
    s = np.sort(a)
    return float(s[max(1, math.ceil(q * s.size)) - 1])


def pcts(a: np.ndarray) -> dict[str, float]:
    return {k: rank_percentile(a, q) for k, q in QS.items()}


def featbench_round(
    target: str, schema: str, requests: int, seed: int, out: Path
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Latencies (µs) of one real run, the seqs right after a pause, and all seqs."""
    spec = spec_from_dict(lookup_spec_dict(schema))
    b = open_backend(target, schema=schema)
    try:
        cfg = RunConfig(
            ratios=(100,), requests=requests, warmup=WARMUP, n_keys=10_000,
            io_sample_every=0, seed=seed,
        )  # fmt: skip
        res = run_benchmark([b], spec, cfg, out=out, run_id=f"round-{seed}", sql_results=False)
    finally:
        b.close()
    t = pq.read_table(res.path / "requests.parquet", columns=["seq", "latency_us"])
    manifest = json.loads((res.path / "manifest.json").read_text())
    after = [s for e in manifest["load"] for s in e.get("after_pause_seq", [])]
    shutil.rmtree(res.path, ignore_errors=True)
    return t.column("latency_us").to_numpy(), after, t.column("seq").to_numpy()


def pgbench_round(
    pgbench: str, conninfo: str, schema: str, requests: int, work: Path, n: int
) -> np.ndarray:
    prefix = work / f"pgbench_{n}"
    pgbench_lookup(pgbench, conninfo, schema, work, 1, requests + WARMUP,
                ["-l", f"--log-prefix={prefix}"])  # fmt: skip
    lat: list[int] = []
    for f in sorted(work.glob(f"pgbench_{n}*")):
        for line in f.read_text().splitlines():
            lat.append(int(line.split()[2]))  # client_id transaction_no time(us) script_no …
        f.unlink()
    return np.array(lat[WARMUP:], dtype=np.float64)


def condition(
    name: str, hog: int, args: argparse.Namespace, conninfo: str, schema: str, work: Path,
    pgbench: str,
) -> dict[str, Any]:  # fmt: skip
    fb_all: list[np.ndarray] = []
    pb_all: list[np.ndarray] = []
    per_round: list[dict[str, float]] = []
    after_lat: list[float] = []
    other_lat: list[np.ndarray] = []
    with cpu_hog(hog):
        for i in range(args.rounds):
            got: dict[str, Any] = {}
            for side in ("fb", "pb") if i % 2 == 0 else ("pb", "fb"):  # alternate who goes first
                if side == "fb":
                    got["fb"] = featbench_round(
                        args.target, schema, args.requests, 1000 + i, work / "runs"
                    )
                else:
                    got["pb"] = pgbench_round(pgbench, conninfo, schema, args.requests, work, i)
            lat, after, seqs = got["fb"]
            fb_all.append(lat)
            pb_all.append(got["pb"])
            pf, pp = pcts(lat), pcts(got["pb"])
            per_round.append({k: pf[k] / pp[k] for k in QS})
            mask = np.isin(seqs, np.array(after, dtype=np.int64))
            after_lat += lat[mask].tolist()
            other_lat.append(lat[~mask])
    fa, pa = np.concatenate(fb_all), np.concatenate(pb_all)
    f, p = pcts(fa), pcts(pa)
    return {
        "condition": name,
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "featbench_us": f,
        "pgbench_us": p,
        "ratio_pooled": {k: f[k] / p[k] for k in QS},
        "ratio_median_of_rounds": {k: statistics.median(r[k] for r in per_round) for k in QS},
        "ratio_per_round": per_round,
        "after_pause": {
            "requests": len(after_lat),
            "median_us": statistics.median(after_lat) if after_lat else None,
            "others_median_us": float(np.median(np.concatenate(other_lat))),
        },
    }


def decompose(
    args: argparse.Namespace, conninfo: str, schema: str, work: Path, pgbench: str, hog: int
) -> dict[str, float]:
    """Where featbench's p50 goes, layer by layer: median over rounds of each layer's p50
    divided by pgbench's p50 in the same round (layers in rotating order).

    - libpq: a bare psycopg loop calling `exec_prepared` (what any Python client pays);
    - session: featbench's serial session in a bare loop (its parameter, timing, result);
    - featbench run: the whole runner (client loop, pauses, statistics, files), timed
      requests on the compiled path (backends/pg_native.py);
    - run, python path: the same with FEATBENCH_TIMED_PATH=python (`Session.execute`).
    """
    from featbench.backends.pg_requests import SerialSession

    spec = spec_from_dict(lookup_spec_dict(schema))
    n = args.requests
    keys = np.random.default_rng(0).integers(1, ROWS + 1, n + WARMUP).tolist()
    clock = time.perf_counter_ns

    def libpq() -> np.ndarray:
        with psycopg.connect(conninfo, autocommit=True) as c:
            pg = c.pgconn
            pg.prepare(b"s", f"SELECT * FROM {schema}.lookup WHERE id = $1".encode(), None)
            lat = []
            for k in keys:
                t0 = clock()
                r = pg.exec_prepared(b"s", [str(k).encode()])
                r.clear()
                lat.append(clock() - t0)
        return np.array(lat[WARMUP:], dtype=np.float64) / 1000

    def session() -> np.ndarray:
        s = SerialSession(conninfo, schema, spec)
        try:
            lat = []
            for k in keys:
                req = {"item": k}
                t0 = clock()
                s.execute(req)
                lat.append(clock() - t0)
        finally:
            s.close()
        return np.array(lat[WARMUP:], dtype=np.float64) / 1000

    def run(i: int) -> np.ndarray:
        return featbench_round(args.target, schema, n, 5000 + i, work / "runs")[0]

    def python_run(i: int) -> np.ndarray:
        with python_path():
            return run(i)

    ratios: dict[str, list[float]] = {
        "libpq": [], "session": [], "featbench run": [], "run, python path": []
    }  # fmt: skip
    with cpu_hog(hog):
        for i in range(args.rounds):
            base = rank_percentile(pgbench_round(pgbench, conninfo, schema, n, work, i), 0.5)
            layers = [("libpq", libpq), ("session", session), ("featbench run", lambda i=i: run(i)),
                      ("run, python path", lambda i=i: python_run(i))]  # fmt: skip
            r = i % len(layers)
            for name, fn in layers[r:] + layers[:r]:
                ratios[name].append(rank_percentile(fn(), 0.5) / base)
    return {k: statistics.median(v) for k, v in ratios.items()}


def memory_run(target: str, schema: str, requests: int, work: Path) -> dict[str, Any]:
    """One long `featbench run` in its own process; its RSS sampled from here."""
    spec_file = work / "tail.toml"
    import tomli_w

    spec_file.write_bytes(tomli_w.dumps(lookup_spec_dict(schema)).encode())
    out = work / "memruns"
    cmd = [
        sys.executable, "-m", "featbench", "run", "--target", target, "--schema", schema,
        "--spec", str(spec_file), "--ratios", "100", "--requests", str(requests),
        "--warmup", str(WARMUP), "--keys", "10000", "--io-sample-every", "0",
        "--out", str(out), "--run-id", "memory", "--json",
    ]  # fmt: skip
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            samples.append((time.time(), ps.memory_info().rss))
        time.sleep(0.5)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"memory run failed ({proc.returncode}): {err[-2000:]}")
    run = out / "memory"
    manifest = json.loads((run / "manifest.json").read_text())
    t = pq.read_table(run / "requests.parquet", columns=["seq", "start_ns", "end_ns", "latency_us"])
    origin = datetime.fromisoformat(manifest["clock_origin_utc"].replace("Z", "+00:00")).timestamp()
    start = origin + int(t.column("start_ns")[0].as_py()) / 1e9
    end = origin + int(t.column("end_ns")[-1].as_py()) / 1e9
    curve = {}
    for frac in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0):
        at = start + frac * (end - start)
        near = min(samples, key=lambda s: abs(s[0] - at)) if samples else (at, 0)
        curve[f"{int(frac * 100)}%"] = round(near[1] / 2**20, 1)
    during = [r for ts, r in samples if start <= ts <= end]
    lat = t.column("latency_us").to_numpy()
    seqs = t.column("seq").to_numpy()
    after = np.array(
        [s for e in manifest["load"] for s in e.get("after_pause_seq", [])], dtype=np.int64
    )
    mask = np.isin(seqs, after)
    doc = {
        "requests": int(t.num_rows),
        "wall_s": round(time.time() - t0, 1),
        "measured_s": round(end - start, 1),
        "rss_mb": curve,
        "max_rss_during_mb": round(max(during) / 2**20, 1) if during else None,
        "growth_10_to_100_mb": round(curve["100%"] - curve["10%"], 1),
        "pauses": int(sum(e.get("pauses", 0) for e in manifest["load"])),
        "after_pause": {
            "requests": int(mask.sum()),
            "median_us": float(np.median(lat[mask])) if mask.any() else None,
            "others_median_us": float(np.median(lat[~mask])),
        },
        "featbench_us": pcts(lat[WARMUP:] if lat.size > WARMUP else lat),
    }
    shutil.rmtree(run, ignore_errors=True)
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default=os.environ.get("FEATBENCH_BENCH_PG_DSN", "embedded"))
    ap.add_argument("--requests", type=int, default=5_000, help="per round and side")
    ap.add_argument("--rounds", type=int, default=20, help="per condition")
    ap.add_argument("--memory-requests", type=int, default=10_000_000)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument(
        "--decompose",
        action="store_true",
        help="also: p50 of each layer (bare libpq, featbench's session, the whole run) / pgbench",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with lookup_schema(args.target, "fb_tail") as lk:
        doc, conninfo, schema, work, pgbench = lk.doc, lk.conninfo, lk.schema, lk.work, lk.pgbench
        doc["conditions"] = [
            condition(name, hogs, args, conninfo, schema, work, pgbench)
            for name, hogs in CONDITIONS
        ]
        if args.decompose:
            doc["decompose_p50"] = {
                name: decompose(args, conninfo, schema, work, pgbench, hog)
                for name, hog in CONDITIONS
            }
        if not args.skip_memory:
            doc["memory"] = memory_run(args.target, schema, args.memory_requests, work)
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(header(doc, f"{args.rounds} rounds x {args.requests} requests per side and condition"))
    print(f"{'condition':24}{'':10}{'p50':>9}{'p99':>9}{'p99.9':>9}")
    for c in doc["conditions"]:
        print(
            f"{c['condition']:24}{'pgbench us':10}"
            + "".join(f"{c['pgbench_us'][k]:>9.1f}" for k in QS)
        )
        print(f"{'':24}{'featb. us':10}" + "".join(f"{c['featbench_us'][k]:>9.1f}" for k in QS))
        print(f"{'':24}{'ratio':10}" + "".join(f"{c['ratio_pooled'][k]:>9.3f}" for k in QS)
              + "   (pooled; aim <= 1.10 / 1.30 / 1.50)")  # fmt: skip
        print(
            f"{'':24}{'med/round':10}"
            + "".join(f"{c['ratio_median_of_rounds'][k]:>9.3f}" for k in QS)
        )
        ap_ = c["after_pause"]
        if ap_["median_us"] is not None:
            print(f"{'':24}after a pause: {ap_['requests']} requests, median {ap_['median_us']:.1f} us "
                  f"vs {ap_['others_median_us']:.1f} us ({ap_['median_us'] / ap_['others_median_us']:.3f}x)")  # fmt: skip
    for cond, layers in (doc.get("decompose_p50") or {}).items():
        print(
            f"p50 / pgbench, {cond}: " + ", ".join(f"{name} {v:.3f}" for name, v in layers.items())
        )
    m = doc.get("memory")
    if m:
        print(
            f"memory: {m['requests']:,} requests in {m['measured_s']} s; RSS MB "
            + ", ".join(f"{k} {v}" for k, v in m["rss_mb"].items())
            + f"; growth 10%->100% {m['growth_10_to_100_mb']} MB (aim <= 20; max during {m['max_rss_during_mb']} MB, aim < 200)"
        )
        ap_ = m["after_pause"]
        if ap_["median_us"] is not None:
            print(f"        {m['pauses']} pauses; first request after a pause: median {ap_['median_us']:.1f} us vs "
                  f"{ap_['others_median_us']:.1f} us ({ap_['median_us'] / ap_['others_median_us']:.3f}x, aim <= 1.10)")  # fmt: skip


if __name__ == "__main__":
    main()
