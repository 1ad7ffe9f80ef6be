"""Redis and DynamoDB backends: load throughput, stored size per row, request latency per strategy.

For each target: load fraud-30 at --scale into a temporary namespace (streams 2), read
what the backend measured (Redis `memory_per_row_bytes` from MEMORY USAGE, DynamoDB
`item_bytes` by DynamoDB's size rules), then time --requests requests per strategy
(one key per entity drawn with `sample_keys`, every request a different key set;
a session's first 20 requests are warm-up and not counted). The namespace is dropped
at the end.

For Redis, featbench's `pipeline` strategy is also set against a floor: the same 30
HGETALLs of each request issued by a bare redis-py loop on a raw connection
(`pack_commands`, `send_packed_command`, 30 `read_response`, key names built before
timing), one round trip, no featbench code. The two alternate in blocks of
--block requests (each block's requests run on both sides, which side goes first
alternating), and the ratio featbench p50 ÷ floor p50 is printed (aim <= 1.15).

    .venv/bin/python benchmarks/kv_backends.py [--redis URL] [--dynamodb URL] [--scale S]
        [--requests N] [--floor-requests N] [--namespace PREFIX] [--json]

Defaults: redis://127.0.0.1:6379/0 (or $FEATBENCH_BENCH_REDIS_URL) and dynamodb://embedded.
The embedded DynamoDB is moto: its latencies are those of a Python mock server, useful
to compare strategies (round trips) but not DynamoDB's service latency.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

from featbench.backends.base import open_backend
from featbench.spec import builtin_spec, scaled_rows

WARMUP = 20
FLOOR_AIM = 1.15


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def bench(
    url: str, scale: float, requests: int, seed: int = 7, *, floor_requests: int = 0,
    block: int = 100, prefix: str = "fb_bench",
) -> dict[str, Any]:  # fmt: skip
    spec = builtin_spec()
    ns = f"{prefix}_{uuid.uuid4().hex[:8]}"
    b = open_backend(url, namespace=ns, progress=False)
    try:
        rep = b.load(spec, scale, seed, streams=2)
        d = b.describe()
        keys = {e: b.sample_keys(spec, e, requests + WARMUP, seed) for e in spec.entity_names}
        n = min(len(v) for v in keys.values())
        out: dict[str, Any] = {
            "target": d["target"],
            "kind": b.kind,
            "rows": rep.rows,
            "load_seconds": round(rep.seconds, 2),
            "load_rows_per_s": round(rep.rows / rep.seconds),
            "strategies": {},
        }
        if b.kind == "redis":
            per = d["memory_per_row_bytes"]
            out["memory_per_row_mean_bytes"] = round(d["memory_per_row_mean_bytes"], 1)
            out["used_memory_delta_per_row_bytes"] = d["used_memory_delta_per_row_bytes"]
            out["bytes_total_estimate"] = int(
                sum((per[t.table_name] or 0) * scaled_rows(t, scale) for t in spec.tables)
            )
            out["per_family"] = _per_family(spec, per)
        else:
            out["item_bytes_mean"] = round(d["item_bytes_mean"], 1)
            out["read_units_per_full_request"] = d["read_units_per_full_request"]
            out["per_family"] = _per_family(spec, d["item_bytes"])
        for strategy in b.strategies:
            s = b.session(spec, strategy)
            lat: list[float] = []
            units: list[float] = []
            try:
                for i in range(n):
                    req = {e: keys[e][i] for e in spec.entity_names}
                    t0 = time.perf_counter_ns()
                    r = s.execute(req)
                    dt = (time.perf_counter_ns() - t0) / 1e6
                    if r.error:
                        raise SystemExit(f"request failed: {r.error}")
                    if i >= WARMUP:
                        lat.append(dt)
                        if r.consumed_units is not None:
                            units.append(r.consumed_units)
            finally:
                s.close()
            out["strategies"][strategy] = {
                "requests": len(lat),
                "p50_ms": round(statistics.median(lat), 3),
                "p99_ms": round(_pct(lat, 0.99), 3),
                "mean_ms": round(statistics.fmean(lat), 3),
                "consumed_units_mean": round(statistics.fmean(units), 2) if units else None,
            }
        if b.kind == "redis" and floor_requests:
            out["pipeline_vs_floor"] = redis_floor(b, spec, ns, floor_requests, block, seed)
        return out
    finally:
        b.drop()  # type: ignore[attr-defined]
        b.close()


def redis_floor(b: Any, spec: Any, ns: str, requests: int, block: int, seed: int) -> dict[str, Any]:
    """featbench's `pipeline` session against a bare redis-py pipelined round trip, in
    alternating blocks of the same requests."""
    # keys repeat when the entity has fewer (Redis has no cache for a repeat to warm)
    keys = {e: b.sample_keys(spec, e, requests + WARMUP, seed + 1) for e in spec.entity_names}
    n = requests + WARMUP
    reqs = [{e: v[i % len(v)] for e, v in keys.items()} for i in range(n)]
    tables = {e: [t.table_name for t in spec.tables_for(e)] for e in spec.entity_names}
    names = [[("HGETALL", f"{ns}:{t}:{r[e]}") for e in r for t in tables[e]] for r in reqs]
    s = b.session(spec, "pipeline")
    raw = b.r.connection_pool.make_connection()  # a connection of its own, outside any pool
    clock = time.perf_counter_ns
    lat: dict[str, list[float]] = {"featbench": [], "floor": []}
    try:
        raw.connect()

        def floor_block(lo: int, hi: int) -> None:
            pack, send, read = raw.pack_commands, raw.send_packed_command, raw.read_response
            for i in range(lo, hi):
                cmds = names[i]
                t0 = clock()
                send(pack(cmds))
                found = 0
                for _ in cmds:
                    if read():
                        found += 1
                dt = clock() - t0
                if i >= WARMUP:
                    lat["floor"].append(dt / 1e6)

        def featbench_block(lo: int, hi: int) -> None:
            execute = s.execute
            for i in range(lo, hi):
                req = reqs[i]
                t0 = clock()
                r = execute(req)
                dt = clock() - t0
                if r.error:
                    raise SystemExit(f"request failed: {r.error}")
                if i >= WARMUP:
                    lat["featbench"].append(dt / 1e6)

        for k, lo in enumerate(range(0, n, block)):
            hi = min(n, lo + block)
            order = (featbench_block, floor_block) if k % 2 == 0 else (floor_block, featbench_block)
            for side in order:
                side(lo, hi)
    finally:
        raw.disconnect()
        s.close()
    f50, p50 = statistics.median(lat["featbench"]), statistics.median(lat["floor"])
    return {
        "requests": len(lat["floor"]),
        "lookups_per_request": len(names[0]),
        "featbench_p50_ms": round(f50, 4),
        "floor_p50_ms": round(p50, 4),
        "featbench_p99_ms": round(_pct(lat["featbench"], 0.99), 4),
        "floor_p99_ms": round(_pct(lat["floor"], 0.99), 4),
        "ratio_p50": round(f50 / p50, 3),
    }


def _per_family(spec: Any, per_table: dict[str, float | None]) -> dict[str, float | None]:
    fams: dict[str, list[float]] = {}
    for t in spec.tables:
        v = per_table.get(t.table_name)
        if v is not None:
            fams.setdefault(t.family, []).append(v)
    return {f: round(statistics.fmean(v), 1) for f, v in sorted(fams.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--redis", default=os.environ.get("FEATBENCH_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    ap.add_argument("--dynamodb", default="dynamodb://embedded")
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--floor-requests", type=int, default=5000,
                    help="Redis: requests per side against the bare redis-py floor (0: skip)")  # fmt: skip
    ap.add_argument("--block", type=int, default=100, help="requests per alternating block")
    ap.add_argument("--namespace", default="fb_bench", help="prefix of the temporary namespace")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    results = [
        bench(u, a.scale, a.requests, floor_requests=a.floor_requests, block=a.block,
              prefix=a.namespace)
        for u in (a.redis, a.dynamodb)
        if u
    ]  # fmt: skip
    if a.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(
            f"{r['kind']} {r['target']}: {r['rows']:,} rows loaded in {r['load_seconds']} s "
            f"({r['load_rows_per_s']:,} rows/s)",
            file=sys.stdout,
        )
        for k in (
            "memory_per_row_mean_bytes",
            "used_memory_delta_per_row_bytes",
            "item_bytes_mean",
            "read_units_per_full_request",
        ):
            if k in r:
                print(f"  {k}: {r[k]}")
        print(f"  per family: {r['per_family']}")
        for s, v in r["strategies"].items():
            print(
                f"  {s:9s} p50 {v['p50_ms']:8.3f} ms  p99 {v['p99_ms']:8.3f} ms  mean {v['mean_ms']:8.3f} ms"
                + (
                    f"  units/request {v['consumed_units_mean']}"
                    if v["consumed_units_mean"] is not None
                    else ""
                )
            )
        fl = r.get("pipeline_vs_floor")
        if fl:
            print(
                f"  pipeline vs a bare redis-py round trip ({fl['requests']} requests each, "
                f"{fl['lookups_per_request']} HGETALLs): p50 {fl['featbench_p50_ms']:.3f} / "
                f"{fl['floor_p50_ms']:.3f} ms = {fl['ratio_p50']:.3f} (aim <= {FLOOR_AIM}); "
                f"p99 {fl['featbench_p99_ms']:.3f} / {fl['floor_p99_ms']:.3f} ms"
            )


if __name__ == "__main__":
    main()
