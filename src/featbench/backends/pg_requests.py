"""PostgreSQL request side: key sampling, typed fetch, the serial session, cache counters.

`PostgresBackend` (backends/postgres.py) delegates its request-side methods here.

The timed path (`SerialSession.execute`) works at the libpq level
(`pgconn.exec_prepared`): psycopg's cursor API costs about 50 µs a query on a
2-core machine (DESIGN.md "Performance notes"), as much as the lookup itself, and
would measure the client library instead of the store. Nothing is decoded on the
timed path; rows found are counted from `ntuples`. This is what a lean real client
(libpq, pgx, asyncpg) does: one prepared `SELECT *` per table, one round trip each.
Where the C loop is built, runs go further: `SerialSession.native_plan` hands the same
statements to `pg_native`, which sends them with no Python per request; `execute`
stays the path for everything else and the reference the compiled path is tested
against.

Tables may live outside featbench's schema ("bring your own feature store"):
a spec table's `schema_name` and `key_column` override the defaults. They are only
read, never written.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq, sql

from featbench.backends import pg_native, pgconn
from featbench.backends.base import IOSample, Key, RequestKeys, RequestResult, Row, Session
from featbench.backends.pg_lookup import (
    LookupFailed,
    LookupStatement,
    check_key_types,
    key_param,
    lookup_statement,
    quote_ident,
    run_lookup,
)
from featbench.backends.typing_codec import key_from_db
from featbench.errors import FeatbenchError
from featbench.spec import Table, WorkloadSpec

# Below this many estimated rows per key wanted, a table is "small": it is read whole
# and ordered by a seeded hash instead of block-sampled (TABLESAMPLE SYSTEM picks whole
# pages, so on a few pages it returns far too many or too few rows).
SMALL_TABLE_FACTOR = 4
SAMPLE_OVERSHOOT = 3.0  # ask SYSTEM for 3x the rows wanted: page-level sampling varies
COUNTER_COLUMNS = ("heap_blks_hit", "heap_blks_read", "idx_blks_hit", "idx_blks_read")


def table_schema(schema: str, table: Table) -> str:
    return table.schema_name or schema


def table_ident(schema: str, table: Table) -> sql.Composed:
    return sql.SQL("{}.{}").format(
        sql.Identifier(table_schema(schema, table)), sql.Identifier(table.table_name)
    )


def _sql_text(conn: psycopg.Connection[Any], q: sql.Composable) -> bytes:
    return q.as_bytes(conn)


def check_tables(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec, *, redacted: str = "the target"
) -> None:
    """Raise FeatbenchError naming the first spec table (or key column) the target lacks.

    Unlike a plain existence check in featbench's schema, this honours a table's
    `schema_name` and `key_column`, so specs describing existing tables are checked too.
    """
    rows = conn.execute(
        """SELECT n.nspname, c.relname, a.attname
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p', 'm', 'f', 'v') AND (n.nspname, c.relname) IN
                  (SELECT * FROM unnest(%s::text[], %s::text[]))""",
        ([table_schema(schema, t) for t in spec.tables], [t.table_name for t in spec.tables]),
    ).fetchall()
    cols: dict[tuple[str, str], set[str]] = {}
    for nsp, rel, att in rows:
        cols.setdefault((nsp, rel), set()).add(att)
    for t in spec.tables:
        sch = table_schema(schema, t)
        have = cols.get((sch, t.table_name))
        if have is None:
            raise FeatbenchError(
                f"table {sch}.{t.table_name} of the spec does not exist at {redacted}: load the data first "
                f"(featbench load --target … --schema {schema}) or fix the spec"
            )
        key = spec.key_column_of(t)
        if key not in have:
            raise FeatbenchError(
                f"table {sch}.{t.table_name} has no key column {key!r} (set key_column in the spec)"
            )
    check_key_types(conn, schema, spec)


# -- key sampling ---------------------------------------------------------------------
TUPLE_OVERHEAD_BYTES = 28  # heap tuple header (23, aligned to 24) + its 4-byte line pointer


def _table_estimate(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec, table: Table
) -> float | None:
    """Estimated rows from the table's file size and the spec's row width.

    Not pg_class.reltuples: autovacuum's ANALYZE re-estimates it (from a 30,000-row sample
    on larger tables) at any time, and a different estimate gives TABLESAMPLE a different
    percentage, which picks different pages — the same seed then gave different keys.
    The file size changes only when the data does, so the sample is a function of (seed,
    table files), as promised. A rough estimate costs nothing: SAMPLE_OVERSHOOT and the
    widening loop absorb it.
    """
    row = conn.execute(
        """SELECT pg_relation_size(c.oid)::float8
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'm', 'f', 'v')""",
        (table_schema(schema, table), table.table_name),
    ).fetchone()
    if row is None:
        raise FeatbenchError(
            f"table {table_schema(schema, table)}.{table.table_name} of entity {table.entity!r} "
            "does not exist on the target (load the data, or fix the spec's schema_name/name)"
        )
    size = row[0]
    if size and size > 0:
        return float(size) / (max(1, spec.row_bytes(table)) + TUPLE_OVERHEAD_BYTES)
    return None  # a view, or an empty table: read it whole


def _sample_table(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec, table: Table, m: int, seed: int
) -> list[Key]:
    """Up to m keys of one table, reproducible for the same seed and the same table files."""
    key = sql.Identifier(spec.key_column_of(table))
    key_type = spec.entity(table.entity).key_type  # bytes, UUIDs come back as featbench's text
    ident = table_ident(schema, table)
    # A seeded total order: the same seed gives the same keys among any rows sampled.
    order = sql.SQL("md5({}::text || {})").format(key, sql.Literal(str(seed)))
    est = _table_estimate(conn, schema, spec, table)
    if est is None or est < SMALL_TABLE_FACTOR * m:
        q = sql.SQL("SELECT {k} FROM {t} ORDER BY {o} LIMIT {m}").format(
            k=key, t=ident, o=order, m=sql.Literal(m)
        )
        return [key_from_db(r[0], key_type) for r in conn.execute(q).fetchall()]
    pct = min(100.0, 100.0 * SAMPLE_OVERSHOOT * m / est)
    while True:
        q = sql.SQL(
            "SELECT {k} FROM {t} TABLESAMPLE SYSTEM ({p}) REPEATABLE ({s}) ORDER BY {o} LIMIT {m}"
        ).format(k=key, t=ident, p=sql.Literal(pct), s=sql.Literal(seed), o=order, m=sql.Literal(m))
        got = [key_from_db(r[0], key_type) for r in conn.execute(q).fetchall()]
        if len(got) >= m or pct >= 100.0:
            return got
        pct = min(100.0, pct * 4)  # stale statistics or unlucky pages: widen, still seeded


def sample_keys(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec, entity: str, n: int, seed: int
) -> list[Key]:
    """About n distinct keys of an entity, sampled from *all* of its tables.

    Each table gives an equal share (with 50% headroom for keys that appear in several
    tables); the union is deduplicated. If that is short of n and a table had more to
    give, shares grow and sampling repeats — every query is seeded, so the result is the
    same for the same seed and data. The order returned is not meaningful (the caller
    ranks keys with its own seeded shuffle).
    """
    if n <= 0:
        return []
    tables = spec.tables_for(entity)
    share = int(math.ceil(1.5 * n / len(tables)))
    while True:
        seen: dict[Key, None] = {}
        exhausted = True
        for t in tables:
            got = _sample_table(conn, schema, spec, t, share, seed)
            if len(got) >= share:
                exhausted = False
            for k in got:
                seen.setdefault(k, None)
        if len(seen) >= n or exhausted:
            return list(seen)
        share *= 2


# -- typed fetch (featbench get, tests) -----------------------------------------------
def fetch_rows(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec, keys: RequestKeys
) -> dict[str, Row | None]:
    """The first typed feature row one request would fetch, per table (None where absent);
    see `fetch_all_rows` for every row."""
    return {
        t: rows[0] if rows else None for t, rows in fetch_all_rows(conn, schema, spec, keys).items()
    }


def fetch_all_rows(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec, keys: RequestKeys
) -> dict[str, list[Row]]:
    """Every typed row of each table's lookup of one request (its own query where it has
    one), ordered by the spec's columns; only the tables of the entities in `keys`.

    This path is for people and tests, never timed.
    """
    out: dict[str, list[Row]] = {}
    for t in spec.tables:
        if t.entity not in keys:
            continue
        st = lookup_statement(schema, spec, t)
        order = ", ".join(quote_ident(c.name) for c in t.columns)
        q = f"SELECT * FROM ({st.sql}) AS fb_q ORDER BY {order}"
        names, rows = run_lookup(conn, LookupStatement(q, st.oids, st.extra, st.own_query),
                                 spec.entity(t.entity).key_type, keys[t.entity])  # fmt: skip
        out[t.table_name] = [dict(zip(names, r, strict=True)) for r in rows]
    return out


# -- the probe before timing ------------------------------------------------------------
def _db_types(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec
) -> dict[tuple[str, str], dict[str, str]]:
    """Column types as the server names them, per (schema, table) of the spec."""
    rows = conn.execute(
        """SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.attnum > 0 AND NOT a.attisdropped AND (n.nspname, c.relname) IN
                  (SELECT * FROM unnest(%s::text[], %s::text[]))""",
        ([table_schema(schema, t) for t in spec.tables], [t.table_name for t in spec.tables]),
    ).fetchall()
    out: dict[tuple[str, str], dict[str, str]] = {}
    for nsp, rel, att, typ in rows:
        out.setdefault((nsp, rel), {})[att] = typ
    return out


# SQLSTATEs of a key that does not bind to the key column's type: invalid input syntax
# (a bytea or uuid column given hex text), out of range, bad datetime, no operator for
# the types, datatype mismatch. Any other error is the server's behaviour: the run goes
# on and measures it.
_KEY_BIND_ERRORS = ("22P02", "22003", "22007", "22008", "42883", "42804")


def probe(
    conn: psycopg.Connection[Any],
    schema: str,
    spec: WorkloadSpec,
    keys_by_entity: dict[str, list[Key]],
) -> list[str]:
    """Each table's lookup, exactly as the sessions bind it (its own query where it has
    one), with sampled keys until one finds rows; the first row is decoded and checked
    against the spec's types. Then what would make the numbers describe something else
    than the store's index lookups: a plain view, a key column without an index, a plan
    without an index scan (`pg_checks`).

    Raises ProbeError (one line: table, column, both types) on a mismatch; returns
    warnings for other failed probe lookups (the run measures those as errors) and for
    what `pg_checks` finds.
    """
    from featbench.backends.pg_checks import relation_warnings
    from featbench.backends.probe import ProbeError, first_keys, key_problem, row_problem

    types = _db_types(conn, schema, spec)
    warnings: list[str] = []
    probed: dict[str, Key] = {}  # table -> the key its lookup was tried with
    for t in spec.tables:
        sch = table_schema(schema, t)
        where = f"{sch}.{t.table_name}"
        key_col = spec.key_column_of(t)
        db = types.get((sch, t.table_name), {})
        st = lookup_statement(schema, spec, t)
        key_type = spec.entity(t.entity).key_type
        # sampled keys first; then, if none is in this table, one taken from the table itself
        sampled = first_keys(keys_by_entity, t.entity)
        tried = 0
        for key in itertools.chain(sampled, _own_key(conn, schema, spec, t)):
            tried += 1
            probed.setdefault(t.table_name, key)
            try:
                names, rows = run_lookup(conn, st, key_type, key)
            except LookupFailed as e:
                if e.sqlstate in _KEY_BIND_ERRORS:
                    raise ProbeError(
                        key_problem(spec, t, where=where, db_type=db.get(key_col), error=str(e))
                    ) from None
                warnings.append(f"probe lookup of table {where} failed: {e}")
                break
            if not rows:
                continue
            problem = row_problem(spec, t, dict(zip(names, rows[0], strict=True)), where=where,
                                  db_types=db)  # fmt: skip
            if problem:
                raise ProbeError(problem)
            break
        else:
            warnings.append(
                f"probe: the lookup of table {where} found no row, not even for a key taken "
                "from the table itself (does its query filter every row out?)"
                if tried > len(sampled)
                else f"probe: table {where} is empty: every lookup of it will find nothing"
            )
    return warnings + relation_warnings(conn, schema, spec, probed)


def _own_key(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec, t: Table
) -> Iterator[Key]:
    """A key taken from the table itself (none when it is empty), read only when asked."""
    q = sql.SQL("SELECT {} FROM {} LIMIT 1").format(
        sql.Identifier(spec.key_column_of(t)), table_ident(schema, t)
    )
    for (k,) in conn.execute(q).fetchall():
        yield key_from_db(k, spec.entity(t.entity).key_type)


# -- cache counters -------------------------------------------------------------------
def read_counters(conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec) -> dict[str, int]:
    """Cumulative heap/index blocks hit and read over the spec's tables (pg_statio_user_tables).

    The snapshot is cleared first: with the default stats_fetch_consistency=cache a
    transaction would otherwise keep returning the values it read first. Sessions must
    flush their own pending stats first (`SerialSession.flush_stats`).
    """
    conn.execute("SELECT pg_stat_clear_snapshot()")
    schemas = [table_schema(schema, t) for t in spec.tables]
    names = [t.table_name for t in spec.tables]
    row = conn.execute(
        """SELECT count(*),
                  coalesce(sum(s.heap_blks_hit), 0)::int8, coalesce(sum(s.heap_blks_read), 0)::int8,
                  coalesce(sum(s.idx_blks_hit), 0)::int8, coalesce(sum(s.idx_blks_read), 0)::int8
             FROM pg_statio_user_tables s
             JOIN unnest(%s::text[], %s::text[]) AS w(sch, rel)
               ON s.schemaname = w.sch AND s.relname = w.rel""",
        (schemas, names),
    ).fetchone()
    assert row is not None
    out = dict(zip(COUNTER_COLUMNS, (int(v) for v in row[1:]), strict=False))
    out["tables"] = int(row[0])
    return out


def try_reset_stats(conn: psycopg.Connection[Any]) -> str | None:
    """Try pg_stat_reset(); return a warning instead of failing when it is refused.

    Per-ratio figures are deltas, so a refused reset changes nothing measured; the
    reset only makes the server's own views start from zero, as the seed did.
    """
    try:
        conn.execute("SELECT pg_stat_reset()")
        return None
    except psycopg.errors.InsufficientPrivilege:
        return (
            "pg_stat_reset() refused (not superuser): continuing; per-ratio figures are deltas "
            "(GRANT EXECUTE ON FUNCTION pg_stat_reset() TO <user> to allow it)"
        )
    except psycopg.Error as e:
        return f"pg_stat_reset() failed ({type(e).__name__}): continuing with deltas"


def flush_own_stats(pgconn: pq.abc.PGconn) -> None:
    """Make this connection's pending table stats visible to other sessions now.

    PostgreSQL 15+ accumulates stats in the backend and flushes them at most once a
    second; pg_stat_force_next_flush() forces the flush that happens before the
    server reports ready for the next query, i.e. before this call returns.
    """
    if pgconn.server_version >= 150000:
        res = pgconn.exec_(b"SELECT pg_stat_force_next_flush()")
        res.clear()


# -- sessions ------------------------------------------------------------------------
def open_session(
    conninfo: pgconn.Conninfo, schema: str, spec: WorkloadSpec, strategy: str
) -> Session:
    if strategy == "serial":
        return SerialSession(conninfo, schema, spec)
    from featbench.backends.pg_strategies import open_strategy_session

    return open_strategy_session(conninfo, schema, spec, strategy)


@dataclass(frozen=True)
class PgSessionFactory:
    """Opens a session in any process (picklable). `conninfo` may hold a password: not shown."""

    conninfo: pgconn.Conninfo = field(repr=False)
    schema: str
    spec_json: dict[str, Any] = field(repr=False)
    strategy: str

    def __call__(self) -> Session:
        spec = WorkloadSpec.model_validate(self.spec_json)
        return open_session(self.conninfo, self.schema, spec, self.strategy)


def connections_per_session(strategy: str, spec: WorkloadSpec) -> int:
    return len(spec.entity_names) if strategy == "parallel" else 1


def check_capacity(
    conn: psycopg.Connection[Any],
    spec: WorkloadSpec,
    strategies: Sequence[str],
    concurrency: int,
    *,
    redacted: str = "the server",
) -> None:
    """Refuse, before anything runs, a concurrency the server cannot admit connections for."""
    if concurrency < 1:
        raise FeatbenchError(f"--concurrency must be >= 1, got {concurrency}")
    row = conn.execute(
        "SELECT current_setting('max_connections')::int,"
        " current_setting('superuser_reserved_connections')::int,"
        " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int"
    ).fetchone()
    assert row is not None
    max_conn, reserved, in_use = row
    free = max_conn - reserved - in_use
    for s in strategies:
        per = connections_per_session(s, spec)
        need = concurrency * per
        if need > free:
            how = f" ({per} per client: one per entity)" if per > 1 else ""
            raise FeatbenchError(
                f"--concurrency {concurrency} with strategy {s} needs {need} connections{how}, "
                f"but {redacted} admits {max_conn} (max_connections) less {reserved} reserved "
                f"and {in_use} in use: {max(free, 0)} free; lower --concurrency or raise "
                "max_connections"
            )


_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK


def _err_text(res: pq.abc.PGresult | None, pgconn: pq.abc.PGconn) -> str:
    msg = res.error_message if res is not None else b""
    if not msg:
        msg = pgconn.error_message
    text = msg.decode("utf-8", "replace").strip() if msg else "unknown error"
    return " ".join(text.split())  # one line: it is saved in requests.parquet


class SerialSession:
    """One connection; one prepared `SELECT *` per table (or the table's own query); one
    round trip per table lookup. On a spec with its own queries the connection is
    read-only (`default_transaction_read_only`): what the spec sends cannot write.

    Besides `execute`: `explain(keys)` (an I/O sample), `flush_stats()` (before cache
    counters are read) and `recover()` (reconnect after an error that broke the
    connection, outside the timed path), as every `Session` has.
    """

    strategy = "serial"
    io_sampling = True

    def __init__(self, conninfo: pgconn.Conninfo, schema: str, spec: WorkloadSpec) -> None:
        self.stats: dict[str, int] = {}  # libpq keeps no counts of its own
        self._conninfo = conninfo
        self._schema = schema
        self._spec = spec
        self._entities = spec.entity_names
        self._conn: psycopg.Connection[Any] | None = None
        self._pg: pq.abc.PGconn
        # (entity, [(statement name, values of $2…)]) in spec order, the SELECT text of each
        self._plan: list[tuple[str, list[tuple[bytes, tuple[bytes, ...]]]]] = []
        self._queries: dict[bytes, bytes] = {}
        self._table_of: dict[bytes, str] = {}
        self._oids: dict[bytes, tuple[int, ...]] = {}
        self.backend_pid: int | None = None
        self._connect()

    def _connect(self) -> None:
        # every login goes through pgconn: credentials from the provider, one-line errors
        conn = pgconn.connect(self._conninfo)
        pg = conn.pgconn
        if self._spec.tables_with_query:
            conn.execute("SET default_transaction_read_only = on")
        plan: list[tuple[str, list[tuple[bytes, tuple[bytes, ...]]]]] = []
        for e in self._entities:
            names = []
            for t in self._spec.tables_for(e):
                name_b = f"fb_serial_{len(self._queries)}".encode()
                st = lookup_statement(self._schema, self._spec, t)
                text = st.sql.encode()
                # The key's parameter has its column's type (text, bigint, integer, uuid,
                # bytea), checked against the table before anything runs.
                res = pg.prepare(name_b, text, list(st.oids))
                if res.status != _COMMAND_OK:
                    msg = _err_text(res, pg)
                    conn.close()
                    raise FeatbenchError(
                        f"cannot prepare the lookup of table {t.table_name}: {msg}"
                    )
                self._queries[name_b] = text
                self._table_of[name_b] = t.table_name
                self._oids[name_b] = st.oids
                names.append((name_b, st.extra))
            plan.append((e, names))
        self._plan = plan
        self._lookups = plan
        self._conn = conn
        self._pg = pg
        self.backend_pid = pg.backend_pid

    def execute(self, keys: RequestKeys) -> RequestResult:
        pg = self._pg
        clock = time.perf_counter_ns
        ok = _TUPLES_OK
        found = looked = hit = 0
        entity_ns: dict[str, int] = {}
        try:
            for entity, stmts in self._lookups:
                key = keys[entity]
                params = [key.encode() if key.__class__ is str else str(key).encode()]
                t0 = clock()
                for stmt, extra in stmts:
                    res = pg.exec_prepared(stmt, [*params, *extra] if extra else params)
                    if res.status != ok:
                        err = _err_text(res, pg)
                        return RequestResult(found, looked, entity_ns or None, err, None, hit)
                    n = res.ntuples
                    found += n
                    hit += n > 0
                    looked += 1
                    res.clear()
                entity_ns[entity] = clock() - t0
        except psycopg.Error as e:
            return RequestResult(found, looked, entity_ns or None, _first_line(e), None, hit)
        return RequestResult(found, looked, entity_ns, None, None, hit)

    def native_plan(self, entities: Sequence[str]) -> pg_native.NativePlan | None:
        """`execute` compiled: the same statements in the same order, each entity timed."""
        col = {e: list(entities).index(e) for e, _ in self._plan}  # an entity's key column
        stmts = [
            pg_native.Statement(name, (col[e],), extra, group=col[e])
            for e, names in self._plan
            for name, extra in names
        ]

        def conn_ptr() -> int:
            return (self._pg.pgconn_ptr or 0) if self._conn is not None else 0

        return pg_native.plan_or_none(
            lambda: pg_native.NativePlan(conn_ptr, stmts, len(entities), fail_counts_lookups=False)
        )

    def explain(self, keys: RequestKeys) -> IOSample:
        """The request as EXPLAIN (ANALYZE, BUFFERS): shared blocks hit/read per table."""
        pg = self._pg
        hit = read = 0
        per_table: dict[str, tuple[int, int]] = {}
        for entity, stmts in self._plan:
            key = key_param(keys[entity])
            for stmt, extra in stmts:
                res = pg.exec_params(
                    b"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + self._queries[stmt],
                    [key, *extra],
                    list(self._oids[stmt]),
                )
                if res.status != _TUPLES_OK:
                    raise FeatbenchError(
                        f"EXPLAIN of {self._table_of[stmt]} failed: {_err_text(res, pg)}"
                    )
                doc = json.loads(res.get_value(0, 0) or b"[]")
                res.clear()
                plan = doc[0]["Plan"]
                h, r = int(plan.get("Shared Hit Blocks", 0)), int(plan.get("Shared Read Blocks", 0))
                per_table[self._table_of[stmt]] = (h, r)
                hit += h
                read += r
        return IOSample(hit, read, per_table)

    def flush_stats(self) -> None:
        flush_own_stats(self._pg)

    @property
    def broken(self) -> bool:
        return self._conn is None or self._pg.status != pq.ConnStatus.OK

    def recover(self) -> None:
        """Reconnect if the last error broke the connection (a no-op otherwise)."""
        if not self.broken:
            return
        self.close()
        self._queries.clear()
        self._table_of.clear()
        self._plan = []
        self._connect()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())
