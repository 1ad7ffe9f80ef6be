"""Redis and DynamoDB backends: load throughput, stored size per row, request latency per strategy.

For each target: load fraud-30 at --scale into a temporary namespace (streams 2), read
what the backend measured (Redis `memory_per_row_bytes` from MEMORY USAGE, DynamoDB
`item_bytes` by DynamoDB's size rules), then time --requests requests per strategy
(one key per entity drawn with `sample_keys`, every request a different key set;
a session's first 20 requests are warm-up and not counted). The namespace is dropped
at the end.

    .venv/bin/python benchmarks/kv_backends.py [--redis URL] [--dynamodb URL] [--scale S] [--requests N] [--json]

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


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def bench(url: str, scale: float, requests: int, seed: int = 7) -> dict[str, Any]:
    spec = builtin_spec()
    ns = f"fb_bench_{uuid.uuid4().hex[:8]}"
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
        return out
    finally:
        b.drop()  # type: ignore[attr-defined]
        b.close()


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
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    results = [bench(u, a.scale, a.requests) for u in (a.redis, a.dynamodb) if u]
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


if __name__ == "__main__":
    main()
