"""The cost of fan-out: a 30-table request per strategy against one single-table lookup.

For the default request (fraud-30: 3 entities, 30 tables), this measures p50 and p99 of
every PostgreSQL strategy — serial, pipeline, union, function, parallel, plus the
variants the strategies were chosen from (union rows as jsonb/json, a plpgsql
function, a pipeline through psycopg's cursor API) — and of a single-table
single-key lookup, on the same server in the same run. Requests are interleaved
(every variant runs request i before any runs request i+1, in a rotating order), so
the noise of a shared machine falls on every variant alike.

It prints the ratio best-strategy p50 / single-lookup p50 (the cost of fan-out) and
the floor a 30-table request cannot beat: the server's own execution time of the
union (EXPLAIN ANALYZE, timing off) plus one round trip (an empty prepared statement).

Keys are drawn from a small fixed set per entity, touched during warm-up, so every
block is in shared buffers: this measures the cost of fan-out, not of I/O. Some keys
miss short-window tables (nested key universes), as in a real request.

    .venv/bin/python benchmarks/fanout.py [--target URL] [--scale 1] [--requests 2000] [--json FILE]

The target defaults to FEATBENCH_BENCH_PG_DSN, else postgresql://postgres@127.0.0.1:5432/test.
Data go to a schema of their own (default featbench_fanout), reused when it already
holds the same spec/scale/seed, and dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from featbench.backends import pg_strategies as S
from featbench.backends.base import RequestKeys
from featbench.generate import csv_bytes, generate_batch, keys_for
from featbench.measure.percentiles import percentile
from featbench.spec import SQL_TYPES, WorkloadSpec, builtin_spec, scaled_rows
from featbench.target import redact

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


# -- data ----------------------------------------------------------------------------------
def _marker(spec: WorkloadSpec, scale: float, seed: int) -> str:
    return f"featbench-fanout {spec.fingerprint()} scale={scale} seed={seed}"


def ensure_data(dsn: str, schema: str, spec: WorkloadSpec, scale: float, seed: int) -> str:
    """Load the spec into `schema` (reused when it already holds this data set); how it went."""
    t0 = time.perf_counter()
    try:
        from featbench.backends.pgload import loader  # noqa: F401  (featbench's loader, when installed)
    except ImportError:
        return _ensure_by_copy(dsn, schema, spec, scale, seed, t0)
    from featbench.backends.postgres import PostgresBackend
    from featbench.target import parse_target

    # the loader resumes or reuses the same data set and refuses a different one
    be = PostgresBackend(parse_target(dsn), schema=schema)
    try:
        be.load(spec, scale, seed, streams=2, progress=False)
    finally:
        be.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ANALYZE"))
    return f"PostgresBackend.load in {time.perf_counter() - t0:.0f} s"


def _ensure_by_copy(
    dsn: str, schema: str, spec: WorkloadSpec, scale: float, seed: int, t0: float
) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            (schema,),
        ).fetchone()
        if row is not None and row[0] == _marker(spec, scale, seed):
            return "reused"
        if row is not None:
            raise SystemExit(
                f"schema {schema} exists and does not hold this benchmark's data: pick another "
                "--schema (or drop it yourself)"
            )
    _copy_load(dsn, schema, spec, scale, seed)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                sql.Identifier(schema), sql.Literal(_marker(spec, scale, seed))
            )
        )
        conn.execute(sql.SQL("ANALYZE"))
    return f"loaded with COPY (benchmark helper) in {time.perf_counter() - t0:.0f} s"


def _copy_load(dsn: str, schema: str, spec: WorkloadSpec, scale: float, seed: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for t in spec.tables:
            key_t = "TEXT" if spec.entity(t.entity).key_type == "hex64" else "BIGINT"
            key = spec.key_column_of(t)
            cols = [sql.SQL("{} {} NOT NULL").format(sql.Identifier(key), sql.SQL(key_t))]
            cols += [
                sql.SQL("{} {} NOT NULL").format(sql.Identifier(c.name), sql.SQL(SQL_TYPES[c.type]))
                for c in t.columns
            ]
            ident = sql.Identifier(schema, t.table_name)
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(", ").join(cols)))
            n = scaled_rows(t, scale)
            with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(ident)) as cp:
                for a in range(0, n, 50_000):
                    cp.write(csv_bytes(generate_batch(spec, t, seed, a, min(n, a + 50_000))))
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(ident, sql.Identifier(key))
            )


def request_keys(
    spec: WorkloadSpec,
    scale: float,
    seed: int,
    n_keys: int,
    n_requests: int,
    rng: np.random.Generator,
) -> list[RequestKeys]:
    """n_requests requests over n_keys keys per entity, drawn from each entity's whole universe."""
    pools: dict[str, list[Any]] = {}
    for e in spec.entity_names:
        longest = max(spec.tables_for(e), key=lambda t: scaled_rows(t, scale))
        rows = rng.choice(scaled_rows(longest, scale), size=n_keys, replace=False)
        pools[e] = [keys_for(spec, longest, seed, int(i), int(i) + 1)[0].as_py() for i in rows]
    picks = {e: rng.integers(0, n_keys, size=n_requests) for e in spec.entity_names}
    return [{e: pools[e][int(picks[e][i])] for e in spec.entity_names} for i in range(n_requests)]


# -- the variants ----------------------------------------------------------------------------
class SingleLookup:
    """One prepared lookup of one key in one table (libpq level, like the strategies)."""

    strategy = "single lookup"

    def __init__(self, dsn: str, schema: str, spec: WorkloadSpec) -> None:
        # the first entity's longest-window table: every key of the request is in it
        e0 = spec.entity_names[0]
        cands = [lk for lk in S.plan_lookups(schema, spec) if lk.entity == e0]
        self.lk = max(cands, key=lambda lk: lk.table.rows)
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.pg = self.conn.pgconn
        res = self.pg.prepare(b"fb_single", S.lookup_sql(self.lk).encode(), None)
        assert res.status == psycopg.pq.ExecStatus.COMMAND_OK, res.error_message

    def execute(self, keys: RequestKeys) -> Any:
        res = self.pg.exec_prepared(b"fb_single", [str(keys[self.lk.entity]).encode()])
        if res.status != psycopg.pq.ExecStatus.TUPLES_OK:
            raise RuntimeError(res.error_message)
        return res.ntuples

    def close(self) -> None:
        self.conn.close()


class CursorPipeline:
    """All lookups in psycopg's `conn.pipeline()` through the cursor API (for comparison)."""

    strategy = "pipeline (psycopg cursor API)"

    def __init__(self, dsn: str, schema: str, spec: WorkloadSpec) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.qs = [
            (S.lookup_sql(lk).replace("$1", "%s").encode(), lk.entity)
            for lk in S.plan_lookups(schema, spec)
        ]

    def execute(self, keys: RequestKeys) -> int:
        with self.conn.pipeline():
            curs = []
            for q, e in self.qs:
                c = self.conn.cursor()
                c.execute(q, (keys[e],), prepare=True)
                curs.append(c)
        return sum(len(c.fetchall()) for c in curs)

    def close(self) -> None:
        self.conn.close()


def open_variants(dsn: str, schema: str, spec: WorkloadSpec) -> dict[str, Any]:
    v: dict[str, Any] = {"single lookup": SingleLookup(dsn, schema, spec)}
    try:
        from featbench.backends import pg_requests

        v["serial"] = pg_requests.open_session(dsn, schema, spec, "serial")
    except ImportError:
        v["serial"] = None  # reported as missing
    v["pipeline"] = S.open_strategy_session(dsn, schema, spec, "pipeline")
    v["pipeline (psycopg cursor API)"] = CursorPipeline(dsn, schema, spec)
    v["union (typed rows)"] = S.open_strategy_session(
        dsn, schema, spec, "union", union_rows="typed"
    )
    v["union (jsonb rows)"] = S.open_strategy_session(
        dsn, schema, spec, "union", union_rows="jsonb"
    )
    v["union (json rows)"] = S.open_strategy_session(dsn, schema, spec, "union", union_rows="json")
    v["function (sql)"] = S.open_strategy_session(
        dsn, schema, spec, "function", function_language="sql"
    )
    v["function (plpgsql)"] = S.open_strategy_session(
        dsn, schema, spec, "function", function_language="plpgsql"
    )
    v["parallel"] = S.open_strategy_session(dsn, schema, spec, "parallel")
    return v


# the variant each featbench strategy uses by default (the others are for comparison)
DEFAULTS = {
    "serial": "serial",
    "pipeline": "pipeline",
    "union": "union (typed rows)",
    "function": "function (sql)",
    "parallel": "parallel",
}


def run_interleaved(
    variants: dict[str, Any], requests: list[RequestKeys], warmup: int
) -> dict[str, np.ndarray]:
    names = [n for n, v in variants.items() if v is not None]
    calls: list[Callable[[RequestKeys], Any]] = [variants[n].execute for n in names]
    lat = {n: np.empty(len(requests), dtype=np.int64) for n in names}
    clock = time.perf_counter_ns
    k = len(names)
    for i, keys in enumerate(requests[:warmup] + requests):
        j0 = i % k
        for jj in range(k):
            j = (j0 + jj) % k
            t = clock()
            r = calls[j](keys)
            dt = clock() - t
            err = getattr(r, "error", None)
            if err:
                raise RuntimeError(f"{names[j]}: {err}")
            if i >= warmup:
                lat[names[j]][i - warmup] = dt
    return lat


# -- the floor -------------------------------------------------------------------------------
def _p50(x: Any) -> float:
    v = percentile(x, 0.5)
    assert v is not None
    return v


def floor_us(
    dsn: str, schema: str, spec: WorkloadSpec, requests: list[RequestKeys]
) -> dict[str, float]:
    """Server execution time of the union (EXPLAIN ANALYZE, TIMING OFF) and one round trip."""
    lookups = S.plan_lookups(schema, spec)
    union = S.union_sql(lookups, "typed")
    e0 = spec.entity_names[0]
    single_lk = max((lk for lk in lookups if lk.entity == e0), key=lambda lk: lk.table.rows)
    single = S.lookup_sql(single_lk)
    with psycopg.connect(dsn, autocommit=True) as conn:
        pg = conn.pgconn
        pg.prepare(b"fb_empty", b"SELECT", None)
        for _ in range(200):
            pg.exec_prepared(b"fb_empty", [])
        rt = []
        for _ in range(2000):
            t = time.perf_counter_ns()
            pg.exec_prepared(b"fb_empty", [])
            rt.append(time.perf_counter_ns() - t)
        pg.prepare(
            b"fb_explain_union",
            f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {union}".encode(),
            None,
        )
        pg.prepare(
            b"fb_explain_single",
            f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {single}".encode(),
            None,
        )
        ex_u, ex_s = [], []
        for keys in requests[:400]:
            params = [str(keys[e]).encode() for e in spec.entity_names]
            r = pg.exec_prepared(b"fb_explain_union", params)
            doc = json.loads(r.get_value(0, 0))[0]
            ex_u.append(doc["Execution Time"] * 1000)
            r = pg.exec_prepared(b"fb_explain_single", [params[single_lk.entity_index]])
            ex_s.append(json.loads(r.get_value(0, 0))[0]["Execution Time"] * 1000)
    out = {
        # featbench's one percentile definition (nearest rank), as everywhere else
        "round_trip_us": _p50(np.array(rt) / 1000),
        "union_execution_us": _p50(ex_u[100:]),
        "single_execution_us": _p50(ex_s[100:]),
    }
    out["floor_us"] = out["round_trip_us"] + out["union_execution_us"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default=os.environ.get("FEATBENCH_BENCH_PG_DSN", DEFAULT_DSN))
    ap.add_argument("--schema", default="featbench_fanout")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--keys", type=int, default=100, help="distinct keys per entity (all hot)")
    ap.add_argument("--keep", action="store_true", help="keep the schema for the next run")
    ap.add_argument("--json", dest="json_out", help="write the figures to this file")
    a = ap.parse_args(argv)

    spec = builtin_spec("fraud-30")
    dsn = a.target
    print(
        f"target {redact(dsn)}  schema {a.schema}  spec fraud-30  scale {a.scale}", file=sys.stderr
    )
    how = ensure_data(dsn, a.schema, spec, a.scale, a.seed)
    print(f"data: {how}", file=sys.stderr)
    rng = np.random.default_rng(a.seed)
    reqs = request_keys(spec, a.scale, a.seed, a.keys, a.warmup + a.requests, rng)
    variants = open_variants(dsn, a.schema, spec)
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            server = c.execute("SELECT current_setting('server_version')").fetchone()[0]  # type: ignore[index]
        lat = run_interleaved(variants, reqs[a.warmup :], a.warmup)
        fl = floor_us(dsn, a.schema, spec, reqs)
        rows_found = {}
        for n, v in variants.items():
            if v is not None:
                got = [v.execute(k) for k in reqs[:200]]
                rows_found[n] = float(np.mean([getattr(r, "rows_found", r) for r in got]))
    finally:
        for v in variants.values():
            if v is not None:
                v.close()
        if not a.keep:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(a.schema))
                )

    def pct(x: np.ndarray, q: float) -> float:
        v = percentile(x / 1000.0, q / 100.0)
        assert v is not None
        return v

    single = pct(lat["single lookup"], 50)
    table = []
    for name, v in variants.items():
        if v is None:
            table.append({"variant": name, "p50_us": None, "p99_us": None, "x_single": None})
            continue
        p50, p99 = pct(lat[name], 50), pct(lat[name], 99)
        table.append(
            {
                "variant": name,
                "default_for": next((s for s, d in DEFAULTS.items() if d == name), None),
                "p50_us": round(p50),
                "p99_us": round(p99),
                "x_single": round(p50 / single, 2),
                "x_floor": round(p50 / fl["floor_us"], 2),
                "rows_found_mean": rows_found.get(name),
            }
        )
    strat = [r for r in table if r.get("default_for") and r["p50_us"] is not None]
    best = min(strat, key=lambda r: r["p50_us"])
    result = {
        "spec": "fraud-30",
        "tables_per_request": len(spec.tables),
        "scale": a.scale,
        "requests": a.requests,
        "keys_per_entity": a.keys,
        "server_version": server,
        "target": redact(dsn),
        "client": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "host": platform.node(),
        },
        "psycopg": psycopg.__version__,
        "libpq": psycopg.pq.version(),
        "variants": table,
        "single_lookup_p50_us": round(single),
        "best_strategy": best["default_for"],
        "best_over_single_p50": round(best["p50_us"] / single, 2),
        **{k: round(v) for k, v in fl.items()},
        "best_over_floor_p50": round(best["p50_us"] / fl["floor_us"], 2),
    }
    print(
        f"\n{'variant':32} {'p50 µs':>8} {'p99 µs':>8} {'× single':>9} {'× floor':>8} {'rows':>6}"
    )
    for r in table:
        if r["p50_us"] is None:
            print(f"{r['variant']:32} {'missing':>8}")
            continue
        rf = f"{r['rows_found_mean']:.1f}" if r.get("rows_found_mean") is not None else ""
        print(
            f"{r['variant']:32} {r['p50_us']:>8} {r['p99_us']:>8} {r['x_single']:>9} "
            f"{r['x_floor']:>8} {rf:>6}"
        )
    print(
        f"\nbest strategy: {best['default_for']}  p50 {best['p50_us']} µs = "
        f"{result['best_over_single_p50']}× the single lookup ({round(single)} µs)"
    )
    print(
        f"floor: server execution of the 30-lookup union {fl['union_execution_us']:.0f} µs "
        f"(single lookup {fl['single_execution_us']:.0f} µs) + one round trip "
        f"{fl['round_trip_us']:.0f} µs = {fl['floor_us']:.0f} µs; best strategy = "
        f"{result['best_over_floor_p50']}× the floor"
    )
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
