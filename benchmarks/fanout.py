"""The cost of fan-out: a 30-table request per strategy, against one lookup and against pgbench.

For the default request (fraud-30: 3 entities, 30 tables) it measures two things on
the same server in one run:

1. Every PostgreSQL strategy (serial, pipeline, union, function, parallel, plus the
   variants the strategies were chosen from: union rows as jsonb/json, a plpgsql
   function, a pipeline through psycopg's cursor API) and a single-table single-key
   lookup, interleaved request by request in a rotating order: p50, p99 and the cost
   of fan-out (best strategy p50 / single lookup p50). Interleaving makes the variants
   comparable with each other, not with anything run alone: each request follows
   other variants' work, which costs it (see the README, "Fan-out strategies").
2. For each one-statement strategy (union, function), featbench's own statement with
   the same keys through featbench's session (its compiled timed path, as a run
   uses it) and through `pgbench -M prepared` (a C client), in alternating blocks (`against_pgbench`): featbench ÷ pgbench at p50 and
   p99 per round (aim ≤ 1.10 and ≤ 1.3 in every round), client CPU per request on
   both sides, the server backend's CPU for featbench's connection, the plan cache's
   generic/custom counts, and the statement's shape on the wire (rows, columns,
   protocol messages, bytes each way).

Keys are drawn from a small fixed set per entity, touched during warm-up, so every
block is in shared buffers: this measures the cost of fan-out, not of I/O. Some keys
miss short-window tables (nested key universes), as in a real request.

    .venv/bin/python benchmarks/fanout.py [--target URL] [--scale 1] [--requests 2000]
        [--rounds 6] [--key-sets 8] [--per-key 250] [--hog] [--skip-variants] [--json FILE]

The target defaults to FEATBENCH_BENCH_PG_DSN, else postgresql://postgres@127.0.0.1:5432/test.
Data go to a schema of their own (default featbench_fanout), reused when it already
holds the same spec/scale/seed, and dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgbench_ref import cpu_hog, pgbench_path, run_pgbench
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


# -- against a C client: the same statement through pgbench --------------------------------
# the strategies that send one statement per request, with the variant featbench uses
ONE_STATEMENT = {
    "union": ("union", {"union_rows": "typed"}),
    "function": ("function", {"function_language": "sql"}),
}


def pgbench_script(stmt: str, n_entities: int) -> str:
    """featbench's statement with `$k` as pgbench variable `:k{k-1}`.

    pgbench -M prepared turns every *occurrence* of a variable into a parameter of its
    own: the function call keeps its 3 parameters, the union gets one per branch (30)
    carrying the same keys (its Bind is ~1.9 KB larger than featbench's; see the shape).
    """
    for k in range(n_entities, 0, -1):  # $10 before $1
        stmt = stmt.replace(f"${k}", f":k{k - 1}")
    return stmt + ";\n"


def wire_shape(
    res: psycopg.pq.abc.PGresult, stmt_name: bytes, params: list[bytes]
) -> dict[str, int]:
    """Protocol messages and bytes of one request, from the v3 protocol's message layouts.

    libpq's PQexecPrepared (psycopg's exec_prepared, and pgbench -M prepared) sends Bind,
    Describe portal, Execute, Sync; the server answers BindComplete, RowDescription, one
    DataRow per row, CommandComplete, ReadyForQuery.
    """
    nf, nt = res.nfields, res.ntuples
    bind = 1 + 4 + 1 + len(stmt_name) + 1 + 2 + 2 + sum(4 + len(p) for p in params) + 2 + 2
    sent = bind + 7 + 10 + 5
    rowdesc = 1 + 4 + 2 + sum(len(res.fname(j) or b"") + 1 + 18 for j in range(nf))
    cells = [res.get_value(i, j) for i in range(nt) for j in range(nf)]  # None is NULL
    datarows = nt * (1 + 4 + 2) + sum(4 + (len(v) if v is not None else 0) for v in cells)
    received = 5 + rowdesc + datarows + (1 + 4 + len(f"SELECT {nt}") + 1) + 6
    return {
        "rows": nt,
        "columns": nf,
        "messages_sent": 4,
        "messages_received": 4 + nt,
        "bytes_sent": sent,
        "bytes_received": received,
        "row_description_bytes": rowdesc,
        "mean_data_row_bytes": round(datarows / nt) if nt else 0,
    }


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds of a local server backend (None when the server is elsewhere)."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def against_pgbench(
    dsn: str,
    schema: str,
    spec: WorkloadSpec,
    key_sets: list[RequestKeys],
    rounds: int,
    per_key: int,
    warm: int,
    work: Path,
) -> dict[str, Any]:
    """featbench ÷ pgbench per round for each one-statement strategy, same SQL, same keys.

    The same keys: pgbench takes a request's keys as `-D` variables, fixed for one run,
    so each round runs every request of `key_sets` as one block of warm + per_key
    repeats, through featbench's session (one connection, kept across blocks) and
    through one pgbench run (a new connection each), which side first alternating
    block by block. Both sides drop the first `warm` of every block (a new pgbench
    backend's catalog caches, its first custom plans) and pool the rest of the round.
    CPU per request: featbench's process time over its loops; pgbench's from its
    rusage, less a `-t 1` run's (its start-up and connection); the server backend's
    for featbench's connection where it is local (/proc).
    """
    pgbench = pgbench_path()
    ents = spec.entity_names
    sessions = {n: S.open_strategy_session(dsn, schema, spec, st, **o) for n, (st, o) in ONE_STATEMENT.items()}  # fmt: skip
    try:
        scripts = {n: pgbench_script(s.sql, len(ents)) for n, s in sessions.items()}
        defines = [{f"k{i}": str(k[e]) for i, e in enumerate(ents)} for k in key_sets]
        out: dict[str, Any] = {}
        for n, s in sessions.items():
            res = s._run(key_sets[0])
            params = [str(key_sets[0][e]).encode() for e in ents]
            pb_params = params if n == "function" else [params[lk.entity_index] for lk in s.lookups]
            out[n] = {
                "sql": s.sql if len(s.sql) < 200 else s.sql[:200] + " …",
                "shape_featbench": wire_shape(res, b"fb_req", params),  # type: ignore[arg-type]
                "shape_pgbench": wire_shape(res, b"P_0", pb_params),  # type: ignore[arg-type]
                "rounds": [],
            }
        # pgbench's own start-up and connection, to take off its CPU per request
        boot = []
        for i in range(3):
            c0 = _children_cpu()
            run_pgbench(pgbench, dsn, scripts["function"], 1, work, f"boot{i}", defines[0])
            boot.append(_children_cpu() - c0)
        boot_cpu = statistics.median(boot)
        clock = time.perf_counter_ns
        for s in sessions.values():
            featbench_block(s, key_sets[0], 1, clock)  # readies the timed path, untimed
        names = list(sessions)
        for r in range(rounds):
            for n in names[r % len(names) :] + names[: r % len(names)]:
                s = sessions[n]
                be_pid = s._conn.pg.backend_pid
                fb: list[np.ndarray] = []
                pb: list[np.ndarray] = []
                fb_cpu = pb_cpu = be_cpu = 0.0
                for j, keys in enumerate(key_sets):
                    for side in ("fb", "pb") if (r + j) % 2 == 0 else ("pb", "fb"):
                        if side == "pb":
                            c0 = _children_cpu()
                            lat = run_pgbench(pgbench, dsn, scripts[n], warm + per_key, work, f"{n}{r}_{j}", defines[j])  # fmt: skip
                            pb_cpu += _children_cpu() - c0 - boot_cpu
                            pb.append(lat[warm:])
                            continue
                        b0 = _backend_cpu(be_pid)
                        c0 = time.process_time()
                        got = featbench_block(s, keys, warm + per_key, clock)
                        fb_cpu += time.process_time() - c0
                        b1 = _backend_cpu(be_pid)
                        if b0 is not None and b1 is not None:
                            be_cpu += b1 - b0
                        fb.append(got[warm:] / 1000.0)
                f, p = np.concatenate(fb), np.concatenate(pb)
                m = len(key_sets) * (warm + per_key)
                row = {
                    "featbench_p50_us": _pct(f, 0.5),
                    "featbench_p99_us": _pct(f, 0.99),
                    "pgbench_p50_us": _pct(p, 0.5),
                    "pgbench_p99_us": _pct(p, 0.99),
                    "client_cpu_us_featbench": fb_cpu / m * 1e6,
                    "client_cpu_us_pgbench": pb_cpu / m * 1e6,
                    "server_cpu_us_featbench": be_cpu / m * 1e6 if be_cpu else None,
                }
                row["ratio_p50"] = row["featbench_p50_us"] / row["pgbench_p50_us"]
                row["ratio_p99"] = row["featbench_p99_us"] / row["pgbench_p99_us"]
                out[n]["rounds"].append(row)
                print(
                    f"round {r + 1}/{rounds} {n:9} featbench p50 {row['featbench_p50_us']:6.0f} "
                    f"p99 {row['featbench_p99_us']:6.0f} | pgbench p50 {row['pgbench_p50_us']:6.0f} "
                    f"p99 {row['pgbench_p99_us']:6.0f} | ÷ p50 {row['ratio_p50']:.2f} "
                    f"p99 {row['ratio_p99']:.2f} | client CPU/req {row['client_cpu_us_featbench']:.0f} "
                    f"vs {row['client_cpu_us_pgbench']:.0f} µs",
                    file=sys.stderr,
                )
        for n, s in sessions.items():
            row = s._conn.pg.exec_(
                b"SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'fb_req'"
            )
            out[n]["plans_featbench"] = {
                "generic": int(row.get_value(0, 0) or 0),
                "custom": int(row.get_value(0, 1) or 0),
            }
    finally:
        for s in sessions.values():
            s.close()
    for d in out.values():
        rs = d["rounds"]
        d["ratio_p50_range"] = [min(x["ratio_p50"] for x in rs), max(x["ratio_p50"] for x in rs)]
        d["ratio_p99_range"] = [min(x["ratio_p99"] for x in rs), max(x["ratio_p99"] for x in rs)]
        d["ratio_p50_median"] = statistics.median(x["ratio_p50"] for x in rs)
        d["ratio_p99_median"] = statistics.median(x["ratio_p99"] for x in rs)
    return out


def featbench_block(s: Any, keys: RequestKeys, n: int, clock: Callable[[], int]) -> np.ndarray:
    """n repeats of one request as featbench times them (ns): on the compiled path
    (backends/pg_native.py) where the session has a plan, else through `execute`."""
    ents = list(s.entities)
    plan = s.native_plan(ents)
    if plan is None:
        got = np.empty(n, dtype=np.int64)
        ex = s.execute
        for t in range(n):
            t0 = clock()
            ex(keys)
            got[t] = clock() - t0
        return got
    enc = plan.encode_keys([[keys[e]] for e in ents])
    arr = [np.zeros(n, dtype=np.int64) for _ in range(5)]
    out = plan.out(*arr, np.zeros(n * len(ents), dtype=np.int64))
    done, err = plan.run(np.zeros((n, len(ents)), dtype=np.int64), 0, 2**62, out, enc, False)
    if err is not None or done != n:
        raise RuntimeError(f"{s.strategy} request failed: {err}")
    return arr[1] - arr[0]


def _pct(x: Any, q: float) -> float:
    # featbench's one percentile definition (nearest rank), as everywhere else
    v = percentile(x, q)
    assert v is not None
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default=os.environ.get("FEATBENCH_BENCH_PG_DSN", DEFAULT_DSN))
    ap.add_argument("--schema", default="featbench_fanout")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--requests", type=int, default=2000, help="interleaved, per variant")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--keys", type=int, default=100, help="distinct keys per entity (all hot)")
    ap.add_argument("--rounds", type=int, default=6, help="featbench/pgbench rounds")
    ap.add_argument("--key-sets", type=int, default=8, help="requests per round (pgbench runs)")
    ap.add_argument("--per-key", type=int, default=250, help="measured repeats per request")
    ap.add_argument("--block-warmup", type=int, default=30, help="dropped repeats per block")
    ap.add_argument("--hog", action="store_true", help="one CPU-bound process throughout")
    ap.add_argument("--skip-variants", action="store_true", help="only the pgbench rounds")
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
    table: list[dict[str, Any]] = []
    single = None
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            server = c.execute("SELECT current_setting('server_version')").fetchone()[0]  # type: ignore[index]
        with cpu_hog(a.hog):
            if not a.skip_variants:
                table, single = _variants(dsn, a.schema, spec, reqs, a.warmup)
            with tempfile.TemporaryDirectory(prefix="fb_fanout_") as work:
                vs = against_pgbench(
                    dsn, a.schema, spec, reqs[: a.key_sets], a.rounds, a.per_key,
                    a.block_warmup, Path(work),
                )  # fmt: skip
    finally:
        if not a.keep:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(a.schema))
                )

    result: dict[str, Any] = {
        "spec": "fraud-30",
        "tables_per_request": len(spec.tables),
        "scale": a.scale,
        "keys_per_entity": a.keys,
        "cpu_hog": a.hog,
        "server_version": server,
        "target": redact(dsn),
        "client": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "host": platform.node(),
        },
        "psycopg": psycopg.__version__,
        "libpq": psycopg.pq.version(),
        "aims": {"ratio_p50": 1.10, "ratio_p99": 1.3},
        "against_pgbench": vs,
    }
    if table:
        assert single is not None
        strat = [r for r in table if r.get("default_for") and r["p50_us"] is not None]
        best = min(strat, key=lambda r: r["p50_us"])
        result.update(
            requests=a.requests,
            variants=table,
            single_lookup_p50_us=round(single),
            best_strategy=best["default_for"],
            best_over_single_p50=round(best["p50_us"] / single, 2),
        )
        print(
            f"\n{'variant (interleaved)':32} {'p50 µs':>8} {'p99 µs':>8} {'× single':>9} {'rows':>6}"
        )
        for r in table:
            if r["p50_us"] is None:
                print(f"{r['variant']:32} {'missing':>8}")
                continue
            rf = f"{r['rows_found_mean']:.1f}" if r.get("rows_found_mean") is not None else ""
            print(f"{r['variant']:32} {r['p50_us']:>8} {r['p99_us']:>8} {r['x_single']:>9} {rf:>6}")
        print(
            f"best strategy: {best['default_for']}  p50 {best['p50_us']} µs = "
            f"{result['best_over_single_p50']}× the single lookup ({round(single)} µs)"
        )
    print(
        f"\nfeatbench ÷ pgbench -M prepared, same statement and keys, {a.rounds} alternating "
        f"rounds of {a.key_sets} requests × {a.per_key} (aim ≤ 1.10 at p50, ≤ 1.3 at p99, "
        "every round)"
    )
    for n, d in vs.items():
        sh, pb = d["shape_featbench"], d["shape_pgbench"]
        r50, r99 = d["ratio_p50_range"], d["ratio_p99_range"]
        cpu_f = statistics.median(x["client_cpu_us_featbench"] for x in d["rounds"])
        cpu_p = statistics.median(x["client_cpu_us_pgbench"] for x in d["rounds"])
        print(
            f"{n:9} p50 ÷ {d['ratio_p50_median']:.2f} ({r50[0]:.2f}–{r50[1]:.2f})  "
            f"p99 ÷ {d['ratio_p99_median']:.2f} ({r99[0]:.2f}–{r99[1]:.2f})  "
            f"client CPU/request {cpu_f:.0f} vs {cpu_p:.0f} µs  plans {d['plans_featbench']}"
        )
        print(
            f"{'':9} shape: {sh['rows']} rows × {sh['columns']} columns, "
            f"{sh['messages_sent']} messages / {sh['bytes_sent']} B sent "
            f"(pgbench {pb['bytes_sent']} B), {sh['messages_received']} messages / "
            f"{sh['bytes_received']} B received (RowDescription {sh['row_description_bytes']} B, "
            f"DataRow ~{sh['mean_data_row_bytes']} B)"
        )
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


def _variants(
    dsn: str, schema: str, spec: WorkloadSpec, reqs: list[RequestKeys], warmup: int
) -> tuple[list[dict[str, Any]], float]:
    """Every variant interleaved request by request: p50, p99, × the single lookup."""
    variants = open_variants(dsn, schema, spec)
    try:
        lat = run_interleaved(variants, reqs[warmup:], warmup)
        rows_found = {}
        for n, v in variants.items():
            if v is not None:
                got = [v.execute(k) for k in reqs[:200]]
                rows_found[n] = float(np.mean([getattr(r, "rows_found", r) for r in got]))
    finally:
        for v in variants.values():
            if v is not None:
                v.close()
    single = _pct(lat["single lookup"] / 1000.0, 0.5)
    table: list[dict[str, Any]] = []
    for name, v in variants.items():
        if v is None:
            table.append({"variant": name, "p50_us": None, "p99_us": None, "x_single": None})
            continue
        p50, p99 = _pct(lat[name] / 1000.0, 0.5), _pct(lat[name] / 1000.0, 0.99)
        table.append(
            {
                "variant": name,
                "default_for": next((s for s, d in DEFAULTS.items() if d == name), None),
                "p50_us": round(p50),
                "p99_us": round(p99),
                "x_single": round(p50 / single, 2),
                "rows_found_mean": rows_found.get(name),
            }
        )
    return table, single


if __name__ == "__main__":
    raise SystemExit(main())
