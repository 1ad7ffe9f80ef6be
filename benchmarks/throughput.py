"""Throughput: N closed-loop featbench clients against `pgbench -c N -j N` on the same lookup.

What is compared, for N = 1, 2, 4: requests per second of one prepared
`SELECT * FROM lookup WHERE id = $1` (the one-table lookup of tail_overhead.py,
`pglookup.py`: 100,000 rows in shared buffers), through

- featbench: a real `run_benchmark` with `concurrency = N` (N client processes — or,
  for N = 1, the single in-process client, as `featbench run --concurrency 1` runs —
  and the parent's statistics, result files and time series), keys uniform over
  10,000 sampled keys; throughput = measured requests / (last end - first start),
  read back from its requests.parquet;
- pgbench: `pgbench -n -M prepared -c N -j N -t T` (the pgbench that ships with
  pgserver, or the system's), a uniform random key per transaction; its `tps`
  (without the initial connection time).

Both sides run the same number of requests per round; rounds alternate which side goes
first. Printed per N: the ratio featbench ÷ pgbench of pooled throughput (all rounds'
requests over all rounds' time; aim >= 0.85) and the median of the per-round ratios,
and the client CPU per request — robust where wall-clock time is noisy: pgbench's
process (rusage), featbench's client loops (the manifest's `load`, pauses excluded)
and all of featbench's client-side CPU (loops, pauses, and the parent's share while
the level was measured).

featbench's timed requests run on the compiled path (backends/pg_native.py).
`--decompose` adds, in the same rotation, featbench with FEATBENCH_TIMED_PATH=python
(`featbench, py`) and two layers, in N processes each: a bare psycopg loop calling
`exec_prepared` (what any Python client pays) and featbench's serial session in a
bare loop (no client loop, no parent).

    .venv/bin/python benchmarks/throughput.py [--target URL] [--clients 1,2,4]
        [--requests N] [--rounds R] [--decompose] [--json]

Default target: $FEATBENCH_BENCH_PG_DSN, else the embedded server. Writes only to a
temporary schema `fb_thru_<random>`, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from pgbench_ref import python_path
from pglookup import ROWS, header, lookup_schema, lookup_spec_dict, pgbench_lookup

from featbench.backends.base import open_backend
from featbench.runner.benchmark import RunConfig, run_benchmark
from featbench.spec import spec_from_dict

WARMUP = 2_000  # featbench's warm-up requests per round (split among the clients)
AIM = 0.85


class ParentCpu:
    """Run listener: the CPU time of this (the parent) process while levels are measured."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self._c0: float | None = None

    def on_level_start(self, ev: Any) -> None:
        self._c0 = time.process_time()

    def on_level_end(self, ev: Any) -> None:
        if self._c0 is not None:
            self.cpu_s += time.process_time() - self._c0
            self._c0 = None


def featbench_round(
    target: str, schema: str, clients: int, requests: int, seed: int, out: Path
) -> dict[str, float]:
    spec = spec_from_dict(lookup_spec_dict(schema))
    b = open_backend(target, schema=schema)
    parent = ParentCpu()
    try:
        cfg = RunConfig(
            distribution="uniform", requests=requests, warmup=WARMUP, n_keys=10_000,
            io_sample_every=0, seed=seed, concurrency=clients,
        )  # fmt: skip
        res = run_benchmark(
            [b], spec, cfg, out=out, run_id=f"round-{seed}", sql_results=False,
            listeners=[parent],
        )  # fmt: skip
    finally:
        b.close()
    t = pq.read_table(res.path / "requests.parquet", columns=["start_ns", "end_ns"])
    load = json.loads((res.path / "manifest.json").read_text())["load"]
    shutil.rmtree(res.path, ignore_errors=True)
    n = t.num_rows
    span_s = (int(t.column("end_ns").to_numpy().max()) - int(t.column("start_ns").to_numpy().min())) / 1e9  # fmt: skip
    cpu = [c for e in load for c in e["client_cpu"]]
    loop_s = sum(c["cpu_s"] for c in cpu)
    pause_s = sum(c.get("pause_cpu_s", 0.0) for c in cpu)
    # one client runs inside this process (inline): its loop and pauses are in parent.cpu_s
    total_s = parent.cpu_s if clients == 1 else loop_s + pause_s + parent.cpu_s
    return {
        "rps": n / span_s,
        "requests": n,
        "seconds": span_s,
        "loop_cpu_us": 1e6 * loop_s / n,
        "client_cpu_us": 1e6 * total_s / n,
        # N = 1: no parent apart from the client (its hand-overs are in client_cpu_us)
        "parent_cpu_us": 1e6 * parent.cpu_s / n if clients > 1 else 0.0,
    }


def pgbench_round(
    pgbench: str, conninfo: str, schema: str, clients: int, requests: int, work: Path
) -> dict[str, float]:
    per_client = requests // clients
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = pgbench_lookup(pgbench, conninfo, schema, work, clients, per_client)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    tps = next(float(line.split()[2]) for line in out.splitlines() if line.startswith("tps = "))
    n = per_client * clients
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"rps": tps, "requests": n, "seconds": n / tps, "client_cpu_us": 1e6 * cpu / n}


def python_featbench_round(*args: Any) -> dict[str, float]:
    """`featbench_round` with the timed requests through `Session.execute` (no compiled path)."""
    with python_path():
        return featbench_round(*args)


# -- the layers between (--decompose): N processes, each a bare loop ---------------------
def _layer_worker(layer: str, factory: Any, conninfo: str, schema: str, n: int, seed: int,
                  ready: Any, go: Any, results: Any) -> None:  # fmt: skip
    keys = np.random.default_rng(seed).integers(1, ROWS + 1, n).tolist()
    if layer == "libpq loop":
        import psycopg

        conn = psycopg.connect(conninfo, autocommit=True)
        pg = conn.pgconn
        pg.prepare(b"s", f"SELECT * FROM {schema}.lookup WHERE id = $1".encode(), None)
        bkeys = [str(k).encode() for k in keys]
        ready.put(1)
        go.wait()
        c0, t0 = time.process_time(), time.perf_counter_ns()
        for k in bkeys:
            pg.exec_prepared(b"s", [k]).clear()
        t1, c1 = time.perf_counter_ns(), time.process_time()
        conn.close()
    else:
        s = factory()
        reqs = [{"item": k} for k in keys]
        ready.put(1)
        go.wait()
        execute = s.execute
        c0, t0 = time.process_time(), time.perf_counter_ns()
        for r in reqs:
            execute(r)
        t1, c1 = time.perf_counter_ns(), time.process_time()
        s.close()
    results.put((t0, t1, c1 - c0))


def layer_round(
    layer: str, target: str, conninfo: str, schema: str, clients: int, requests: int, seed: int
) -> dict[str, float]:
    spec = spec_from_dict(lookup_spec_dict(schema))
    b = open_backend(target, schema=schema)
    factory = b.session_factory(spec, "serial")
    b.close()
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    per = requests // clients
    procs = [
        ctx.Process(target=_layer_worker,
                    args=(layer, factory, conninfo, schema, per, seed + i, ready, go, results))
        for i in range(clients)
    ]  # fmt: skip
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()
    got = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    span_s = (max(g[1] for g in got) - min(g[0] for g in got)) / 1e9
    n = per * clients
    return {"rps": n / span_s, "requests": n, "seconds": span_s,
            "client_cpu_us": 1e6 * sum(g[2] for g in got) / n}  # fmt: skip


# -- the comparison --------------------------------------------------------------------------
def compare(
    clients: int, args: argparse.Namespace, conninfo: str, schema: str, work: Path, pgbench: str
) -> dict[str, Any]:
    requests = args.requests * clients
    sides: dict[str, Any] = {
        "pgbench": lambda i: pgbench_round(pgbench, conninfo, schema, clients, requests, work),
        "featbench": lambda i: featbench_round(
            args.target, schema, clients, requests, 1000 + i, work / "runs"
        ),
    }
    if args.decompose:
        sides["featbench, py"] = lambda i: python_featbench_round(
            args.target, schema, clients, requests, 3000 + i, work / "runs"
        )
        for layer in ("libpq loop", "session loop"):
            sides[layer] = lambda i, layer=layer: layer_round(
                layer, args.target, conninfo, schema, clients, requests, 2000 + 10 * i
            )
    names = list(sides)
    got: dict[str, list[dict[str, float]]] = {k: [] for k in names}
    for i in range(args.rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:  # rotate who goes first
            got[name].append(sides[name](i))

    def pooled(rs: list[dict[str, float]]) -> float:
        return sum(r["requests"] for r in rs) / sum(r["seconds"] for r in rs)

    def cpu(rs: list[dict[str, float]], k: str) -> float:
        return sum(r[k] * r["requests"] for r in rs) / sum(r["requests"] for r in rs)

    base = got["pgbench"]
    doc: dict[str, Any] = {
        "clients": clients,
        "rounds": args.rounds,
        "requests_per_round": requests,
    }
    for name, rs in got.items():
        d: dict[str, Any] = {
            "rps": round(pooled(rs), 1),
            "client_cpu_us": round(cpu(rs, "client_cpu_us"), 2),
            "rps_per_round": [round(r["rps"], 1) for r in rs],
        }
        if name != "pgbench":
            d["ratio_pooled"] = round(pooled(rs) / pooled(base), 3)
            d["ratio_median_of_rounds"] = round(
                statistics.median(r["rps"] / p["rps"] for r, p in zip(rs, base, strict=True)), 3
            )
        if name.startswith("featbench"):
            d["loop_cpu_us"] = round(cpu(rs, "loop_cpu_us"), 2)
            d["parent_cpu_us"] = round(cpu(rs, "parent_cpu_us"), 2)
        doc[name] = d
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default=os.environ.get("FEATBENCH_BENCH_PG_DSN", "embedded"))
    ap.add_argument("--clients", default="1,2,4", help="comma-separated N values")
    ap.add_argument("--requests", type=int, default=20_000, help="per client, round and side")
    ap.add_argument("--rounds", type=int, default=6, help="per N")
    ap.add_argument("--decompose", action="store_true",
                    help="also: N bare libpq loops and N bare featbench session loops")  # fmt: skip
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with lookup_schema(args.target, "fb_thru") as lk:
        doc = lk.doc
        doc["by_clients"] = [
            compare(int(n), args, lk.conninfo, lk.schema, lk.work, lk.pgbench)
            for n in args.clients.split(",")
        ]
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(header(doc, f"{args.rounds} rounds x {args.requests} requests per client and side"))
    print(
        f"{'N':>2}  {'side':14}{'req/s':>10}{'÷ pgbench':>11}{'med/round':>11}{'client CPU us/req':>19}"
    )
    for c in doc["by_clients"]:
        for name in [k for k in c if isinstance(c[k], dict)]:
            d = c[name]
            ratio = f"{d['ratio_pooled']:>11.3f}{d['ratio_median_of_rounds']:>11.3f}" if "ratio_pooled" in d else " " * 22  # fmt: skip
            extra = (
                f"  (loops {d['loop_cpu_us']:.1f}, parent {d['parent_cpu_us']:.1f})"
                if "loop_cpu_us" in d and c["clients"] > 1
                else f"  (loop {d['loop_cpu_us']:.1f})"
                if "loop_cpu_us" in d
                else ""
            )
            print(f"{c['clients']:>2}  {name:14}{d['rps']:>10.0f}{ratio}{d['client_cpu_us']:>19.1f}{extra}")  # fmt: skip
        print(f"{'':4}aim: featbench ÷ pgbench >= {AIM}")


if __name__ == "__main__":
    main()
