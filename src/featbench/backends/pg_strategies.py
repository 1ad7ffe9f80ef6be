"""PostgreSQL request strategies other than serial: pipeline, union, function, parallel.

Each strategy is a `Session` (see `backends/base.py`) on its own connection(s):

- ``pipeline``: every lookup of the request sent at once in libpq pipeline mode, then
  all results read: one round trip, one statement per table on the server.
- ``union``: one prepared ``UNION ALL`` statement returning every row of the request.
  Rows are *typed*: each branch puts its columns into slots of a shared row shape
  (slots grouped by type, NULL padding) led by the table's index, so nothing is
  serialised to JSON on the server; ``union_rows="jsonb"`` or ``"json"`` selects
  ``to_jsonb(t)`` / ``row_to_json(t)`` rows instead (measured by benchmarks/fanout.py:
  typed is the faster, see the README).
- ``function``: a server-side function generated from the spec, installed with
  ``CREATE OR REPLACE`` in featbench's schema only, taking one key per entity and
  returning the request's rows in the typed-union shape; called once per request.
  ``LANGUAGE sql`` by default (PostgreSQL inlines it into the prepared call, so it
  plans like the union); ``function_language="plpgsql"`` uses ``RETURN QUERY``.
- ``parallel``: one connection per entity; each entity's lookups are sent as a
  pipeline on its connection, all entities at once, and the results are read as they
  arrive by one thread multiplexing the sockets (non-blocking libpq), so no GIL or
  thread hand-off sits on the timed path. It measures each entity's part: the time
  from the request's start until that entity's last row arrived (``entity_ns``).

The timed path (``execute``) works at the libpq level (``conn.pgconn``) with prepared
statements and decodes nothing: the psycopg cursor API costs about as much as a
lookup itself (DESIGN.md, "Performance notes"). ``fetch`` runs the very same
statements and decodes the rows with psycopg's loaders, so tests can prove that every
strategy returns the same feature rows.

Every strategy selects the key column and the spec's columns by name (for tables
featbench generates, that is exactly ``SELECT *``).
"""

from __future__ import annotations

import hashlib
import json
import select
import selectors
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Transformer

from featbench.backends import pg_native, pgconn
from featbench.backends.base import IOSample, NativePlan, RequestKeys, RequestResult, Row
from featbench.backends.pg_lookup import (
    KEY_SQL_TYPES,
    LookupStatement,
    lookup_statement,
    quote_ident,
    refuse_own_queries,
)
from featbench.errors import FeatbenchError
from featbench.spec import SQL_TYPES, Table, WorkloadSpec, function_parameter

STRATEGIES = ("pipeline", "union", "function", "parallel")
UNION_ROWS = ("typed", "jsonb", "json")
FUNCTION_LANGUAGES = ("sql", "plpgsql")
FUNCTION_PREFIX = "featbench_request_"
# How long the parallel strategy waits for a server before calling the request failed.
PARALLEL_TIMEOUT_S = 60.0

_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_BAD = pq.ConnStatus.BAD


# -- the request's SQL, derived from the spec ------------------------------------------
@dataclass(frozen=True)
class Lookup:
    """One table's lookup within a request."""

    index: int  # position of the table in spec.tables
    table: Table
    entity: str
    entity_index: int  # position of the entity in spec.entity_names (its union parameter)
    relation: str  # quoted schema.table
    columns: tuple[str, ...]  # key column first, then the spec's columns
    types: tuple[str, ...]  # spec column types; the key's SQL type first (text for hex64)
    statement: LookupStatement  # what a lookup sends (the table's own query where it has one)


def plan_lookups(schema: str, spec: WorkloadSpec) -> list[Lookup]:
    entities = spec.entity_names
    out = []
    for i, t in enumerate(spec.tables):
        key_type = KEY_SQL_TYPES[spec.entity(t.entity).key_type]
        rel = f"{quote_ident(t.schema_name or schema)}.{quote_ident(t.table_name)}"
        columns = (spec.key_column_of(t), *(c.name for c in t.columns))
        out.append(
            Lookup(
                index=i,
                table=t,
                entity=t.entity,
                entity_index=entities.index(t.entity),
                relation=rel,
                columns=columns,
                types=(key_type, *(c.type for c in t.columns)),
                statement=lookup_statement(schema, spec, t, columns),
            )
        )
    return out


def lookup_sql(lk: Lookup, param: int = 1) -> str:
    if param == 1:
        return lk.statement.sql
    cols = ", ".join(quote_ident(c) for c in lk.columns)
    return f"SELECT {cols} FROM {lk.relation} WHERE {quote_ident(lk.columns[0])} = ${param}"


@dataclass(frozen=True)
class UnionLayout:
    """The typed union's row shape: table index, then slots grouped by type.

    Each table's k-th column of type T goes into the k-th slot of type T, so the row
    is as narrow as the widest table per type, and every value keeps its SQL type.
    """

    slot_types: tuple[str, ...]
    table_slots: tuple[tuple[int, ...], ...]  # per lookup: slot of each column

    @classmethod
    def build(cls, lookups: Sequence[Lookup]) -> UnionLayout:
        order = ["text", "bigint", "integer", "double", "timestamptz", "boolean", "bytea", "uuid"]
        width = {t: 0 for t in order}
        for lk in lookups:
            for t in order:
                width[t] = max(width[t], lk.types.count(t))
        start, pos = {}, 0
        for t in order:
            start[t] = pos
            pos += width[t]
        slot_types = tuple(t for t in order for _ in range(width[t]))
        table_slots = []
        for lk in lookups:
            seen = dict.fromkeys(order, 0)
            slots = []
            for t in lk.types:
                slots.append(start[t] + seen[t])
                seen[t] += 1
            table_slots.append(tuple(slots))
        return cls(slot_types, tuple(table_slots))

    def branch(self, lk: Lookup, param: str, first: bool) -> str:
        exprs = [f"NULL::{SQL_TYPES[t]}" for t in self.slot_types]
        for col, slot in zip(lk.columns, self.table_slots[lk.index], strict=True):
            exprs[slot] = quote_ident(col)
        if first:
            exprs = [f"{e} AS fb_s{j}" for j, e in enumerate(exprs)]
            head = f"{lk.index} AS fb_table"
        else:
            head = str(lk.index)
        key = quote_ident(lk.columns[0])
        return f"SELECT {head}, {', '.join(exprs)} FROM {lk.relation} WHERE {key} = {param}"

    def result_columns(self) -> str:
        cols = ["fb_table integer"] + [
            f"fb_s{j} {SQL_TYPES[t]}" for j, t in enumerate(self.slot_types)
        ]
        return ", ".join(cols)


def union_sql(lookups: Sequence[Lookup], rows: str = "typed") -> str:
    """One statement for the whole request; parameter $k+1 is entity k's key."""
    if rows not in UNION_ROWS:
        raise FeatbenchError(f"union rows must be one of {', '.join(UNION_ROWS)}, not {rows!r}")
    if rows == "typed":
        layout = UnionLayout.build(lookups)
        parts = [
            layout.branch(lk, f"${lk.entity_index + 1}", i == 0) for i, lk in enumerate(lookups)
        ]
    else:
        fn = "to_jsonb" if rows == "jsonb" else "row_to_json"
        parts = []
        for i, lk in enumerate(lookups):
            head = f"{lk.index} AS fb_table" if i == 0 else str(lk.index)
            # `fb_r.*` is the whole row even when a column is called fb_r
            row = f"{fn}(fb_r.*) AS fb_row" if i == 0 else f"{fn}(fb_r.*)"
            parts.append(f"SELECT {head}, {row} FROM ({lookup_sql(lk, lk.entity_index + 1)}) fb_r")
    return "\nUNION ALL\n".join(parts)


def function_definition(schema: str, spec: WorkloadSpec, language: str = "sql") -> tuple[str, str]:
    """(function name, CREATE OR REPLACE statement) for the spec's request function.

    The name carries a hash of the definition, so two specs (or languages) sharing a
    schema never overwrite each other's function and sessions can check cheaply that
    the installed one is current.
    """
    if language not in FUNCTION_LANGUAGES:
        raise FeatbenchError(
            f"function language must be one of {', '.join(FUNCTION_LANGUAGES)}, not {language!r}"
        )
    refuse_own_queries(spec, "function")
    lookups = plan_lookups(schema, spec)
    layout = UnionLayout.build(lookups)
    args = []
    for e in spec.entities:
        args.append(f"{function_parameter(e.name)} {KEY_SQL_TYPES[e.key_type]}")
    body = union_sql(lookups, "typed")
    if language == "sql":
        # STABLE, not STRICT, not SECURITY DEFINER, no SET: PostgreSQL may inline it.
        src = body
        tail = "LANGUAGE sql STABLE PARALLEL SAFE"
    else:
        src = f"#variable_conflict use_column\nBEGIN\nRETURN QUERY\n{body};\nEND"
        tail = "LANGUAGE plpgsql STABLE PARALLEL SAFE"
    digest = hashlib.sha256(f"{language}\x00{', '.join(args)}\x00{src}".encode()).hexdigest()[:12]
    name = FUNCTION_PREFIX + digest
    tag = dollar_tag(src)
    ddl = (
        f"CREATE OR REPLACE FUNCTION {quote_ident(schema)}.{quote_ident(name)}({', '.join(args)})\n"
        f"RETURNS TABLE ({layout.result_columns()})\n{tail}\nAS {tag}\n{src}\n{tag}"
    )
    return name, ddl


def dollar_tag(body: str) -> str:
    """A dollar-quote tag that does not occur in `body`, so nothing in it (a schema or
    table name holding `$fb$`, say) can end the quote early."""
    tag, n = "$fb$", 0
    while tag in body:
        n += 1
        tag = f"$fb{n}$"
    return tag


def install_function(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec, language: str = "sql"
) -> str:
    """Install the request function in `schema` (only there) unless it is already current.

    Serialised by an advisory lock: concurrent sessions would otherwise race on
    CREATE OR REPLACE ("tuple concurrently updated").
    """
    name, ddl = function_definition(schema, spec, language)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('featbench.request_function'))")
            ns = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
            if ns is None:
                raise FeatbenchError(
                    f"schema {schema} does not exist: the function strategy installs its "
                    "function there; load the data first or pick another --schema"
                )
            exists = conn.execute(
                "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = %s AND p.proname = %s",
                (schema, name),
            ).fetchone()
            if exists is None:
                conn.execute(ddl.encode())
    except psycopg.errors.InsufficientPrivilege:
        raise FeatbenchError(
            f"the function strategy needs CREATE on schema {schema} to install its function "
            f"(GRANT CREATE ON SCHEMA {schema} TO <user>), or use the union strategy"
        ) from None
    except psycopg.errors.UndefinedTable as e:
        raise FeatbenchError(_missing_table(e, schema)) from None
    except psycopg.errors.DatatypeMismatch as e:
        raise FeatbenchError(
            f"the tables do not match the spec's column types: {_first(e)}"
        ) from None
    return name


def _first(e: BaseException | bytes | str | None) -> str:
    if isinstance(e, bytes):
        e = e.decode(errors="replace")
    text = str(e or "unknown error").strip()
    return text.splitlines()[0].removeprefix("ERROR:").strip() if text else "unknown error"


def _missing_table(e: BaseException | str, schema: str) -> str:
    return (
        f"{_first(e)}: the target lacks a table of the spec; load it first "
        f"(featbench load --schema {schema})"
    )


def _key_bytes(key: Any) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise FeatbenchError(f"a key must be text or an integer, not {type(key).__name__}")
    return str(key).encode()


def _params(entities: Sequence[str], keys: RequestKeys) -> list[bytes]:
    try:
        return [_key_bytes(keys[e]) for e in entities]
    except KeyError as e:
        raise FeatbenchError(f"the request has no key for entity {e.args[0]!r}") from None


# -- decoding (only on the untimed `fetch` path) ----------------------------------------
def _decode_json_value(v: Any, typ: str) -> Any:
    if v is None:
        return None
    if typ == "double":
        return float(v)
    if typ in ("bigint", "integer"):
        return int(v)
    if typ == "timestamptz":
        return datetime.fromisoformat(v)
    return v


def _empty_rows(spec: WorkloadSpec) -> dict[str, Row | None]:
    return {t.table_name: None for t in spec.tables}


# -- one libpq connection with its prepared statements ---------------------------------
class _Conn:
    """A connection whose statements are prepared once; reopened after it breaks."""

    def __init__(
        self,
        conninfo: pgconn.Conninfo,
        statements: Sequence[tuple[bytes, str, Sequence[int] | None]],
        *,
        schema: str,
        pipeline: bool = False,
        nonblocking: bool = False,
        setup: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.statements = statements
        self.schema = schema
        self.pipeline = pipeline
        self.nonblocking = nonblocking
        self.setup = setup
        self.conn: psycopg.Connection[Any] | None = None
        self.pg: pq.abc.PGconn
        self.open()

    def open(self) -> None:
        self.conn = pgconn.connect(self.conninfo)
        try:
            if self.setup is not None:
                self.setup(self.conn)
            pg = self.conn.pgconn
            for name, sql, oids in self.statements:
                res = pg.prepare(name, sql.encode(), list(oids) if oids else None)
                if res.status != _COMMAND_OK:
                    msg = res.error_message.decode(errors="replace")
                    if "does not exist" in msg:
                        raise FeatbenchError(_missing_table(msg, self.schema))
                    raise FeatbenchError(f"cannot prepare the request's statements: {_first(msg)}")
            if self.nonblocking:
                pg.nonblocking = 1
            if self.pipeline:
                pg.enter_pipeline_mode()
            self.pg = pg
        except BaseException:
            self.close()
            raise

    @property
    def broken(self) -> bool:
        return self.conn is None or self.conn.closed or self.conn.pgconn.status == _BAD

    def reopen(self) -> None:
        self.close()
        self.open()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # closing a broken connection must not mask the real error
                pass
            self.conn = None

    def outside_pipeline(self) -> _OutsidePipeline:
        return _OutsidePipeline(self)

    def exec_params(self, sql: str, params: Sequence[bytes]) -> pq.abc.PGresult:
        with self.outside_pipeline():
            return self.pg.exec_params(sql.encode(), list(params))


class _OutsidePipeline:
    """Leave pipeline / non-blocking mode for an untimed statement (EXPLAIN), then go back."""

    def __init__(self, c: _Conn) -> None:
        self.c = c

    def __enter__(self) -> None:
        if self.c.pipeline:
            self.c.pg.exit_pipeline_mode()
        if self.c.nonblocking:
            self.c.pg.nonblocking = 0

    def __exit__(self, *exc: object) -> None:
        if self.c.broken:
            return
        if self.c.nonblocking:
            self.c.pg.nonblocking = 1
        if self.c.pipeline:
            self.c.pg.enter_pipeline_mode()


def _explain_totals(plan_json: bytes) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """(shared hit, shared read, per relation) of one EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)."""
    doc = json.loads(plan_json)[0]
    top = doc["Plan"]
    per: dict[str, tuple[int, int]] = {}

    def walk(node: dict[str, Any]) -> None:
        rel = node.get("Relation Name")
        if rel is not None:  # a scan's counts include its children (bitmap index scans)
            h, r = per.get(rel, (0, 0))
            per[rel] = (h + node.get("Shared Hit Blocks", 0), r + node.get("Shared Read Blocks", 0))
            return
        for child in node.get("Plans", ()):
            walk(child)

    walk(top)
    return top.get("Shared Hit Blocks", 0), top.get("Shared Read Blocks", 0), per


_EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "


# -- sessions ----------------------------------------------------------------------------
class _Base:
    strategy: str
    io_sampling = True  # every strategy can run its statements as EXPLAIN (ANALYZE, BUFFERS)

    def __init__(self, conninfo: pgconn.Conninfo, schema: str, spec: WorkloadSpec) -> None:
        self.stats: dict[str, int] = {}  # libpq keeps no counts of its own
        self.conninfo = conninfo
        self.schema = schema
        self.spec = spec
        self.entities = spec.entity_names
        self.lookups = plan_lookups(schema, spec)
        self.n_lookups = len(self.lookups)
        self._conns: list[_Conn] = []
        # a spec sending the store's own queries gets read-only connections: it cannot write
        self._setup = _read_only if spec.tables_with_query else None

    def _ensure(self) -> str | None:
        """Reopen broken connections; the error text if that fails (the request fails)."""
        for c in self._conns:
            if c.broken:
                try:
                    c.reopen()
                except FeatbenchError as e:
                    return str(e)
        return None

    # -- hooks the runner uses (the same as the serial session's) ---------------------
    @property
    def broken(self) -> bool:
        return any(c.broken for c in self._conns)

    def recover(self) -> None:
        """Reconnect what the last error broke, outside the timed path (no-op otherwise)."""
        for c in self._conns:
            if c.broken:
                c.reopen()

    def flush_stats(self) -> None:
        """Make every connection's pending table stats visible (before counters are read)."""
        for c in self._conns:
            if not c.broken and c.pg.server_version >= 150000:
                with c.outside_pipeline():
                    c.pg.exec_(b"SELECT pg_stat_force_next_flush()")

    @property
    def backend_pids(self) -> list[int]:
        return [c.pg.backend_pid for c in self._conns if not c.broken]

    @property
    def backend_pid(self) -> int | None:
        pids = self.backend_pids
        return pids[0] if pids else None

    def native_plan(self, entities: Sequence[str]) -> NativePlan | None:
        return None  # pipelined and multi-connection requests run through `execute`

    def _failed(self, err: BaseException | str) -> RequestResult:
        return RequestResult(
            rows_found=0, rows_looked_up=self.n_lookups, error=_first(err), keys_found=0
        )

    def close(self) -> None:
        for c in self._conns:
            c.close()

    def __enter__(self) -> _Base:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _statements(prefix: str, lookups: Sequence[Lookup]) -> list[tuple[bytes, str, Sequence[int]]]:
    """(name, SQL, parameter types) of each lookup's prepared statement."""
    return [(f"{prefix}{lk.index}".encode(), lk.statement.sql, lk.statement.oids) for lk in lookups]


def _read_only(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET default_transaction_read_only = on")


def _send_pipeline(pg: pq.abc.PGconn, sends: Sequence[tuple[bytes, list[bytes]]]) -> None:
    for name, params in sends:
        pg.send_query_prepared(name, params)
    pg.pipeline_sync()


def _drain_pipeline(
    pg: pq.abc.PGconn, keep: list[pq.abc.PGresult] | None, block: bool = True
) -> tuple[int, int, str | None, bool]:
    """Read a synced pipeline's results: rows found, lookups with at least one row (one
    result per lookup), the first error, and whether its sync point was reached. With
    `block=False` only what has arrived is read (the connection is not busy); a broken
    connection raises OperationalError."""
    found = 0
    hit = 0
    err: str | None = None
    while block or not pg.is_busy():
        res = pg.get_result()
        if res is None:
            if pg.status == _BAD:
                raise psycopg.OperationalError(err or _first(pg.error_message) or "connection lost")
            continue
        st = res.status
        if st == _TUPLES_OK:
            n = res.ntuples
            found += n
            hit += n > 0
            if keep is not None:
                keep.append(res)
        elif st == _SYNC:
            return found, hit, err, True
        elif err is None:
            err = _first(res.error_message) or pq.ExecStatus(st).name
    return found, hit, err, False


class PipelineSession(_Base):
    """All lookups of a request in one libpq pipeline on one connection."""

    strategy = "pipeline"

    def __init__(self, conninfo: pgconn.Conninfo, schema: str, spec: WorkloadSpec) -> None:
        super().__init__(conninfo, schema, spec)
        stmts = _statements("fb_pl_", self.lookups)
        self._names = [s[0] for s in stmts]
        self._ent = [lk.entity_index for lk in self.lookups]
        self._extra = [lk.statement.extra for lk in self.lookups]
        self._conn = _Conn(conninfo, stmts, schema=schema, pipeline=True, setup=self._setup)
        self._conns = [self._conn]

    def _roundtrip(self, keys: RequestKeys, keep: list[pq.abc.PGresult] | None) -> RequestResult:
        params = [[p] for p in _params(self.entities, keys)]
        err = self._ensure()
        if err:
            return self._failed(err)
        pg = self._conn.pg
        try:
            _send_pipeline(
                pg,
                [
                    (n, [*params[e], *x] if x else params[e])
                    for n, e, x in zip(self._names, self._ent, self._extra, strict=True)
                ],
            )
            found, hit, err, _ = _drain_pipeline(pg, keep)
        except psycopg.Error as e:
            self._conn.close()
            return self._failed(e)
        return RequestResult(found, self.n_lookups, error=err, keys_found=hit)

    def execute(self, keys: RequestKeys) -> RequestResult:
        return self._roundtrip(keys, None)

    def fetch(self, keys: RequestKeys) -> dict[str, Row | None]:
        results: list[pq.abc.PGresult] = []
        r = self._roundtrip(keys, results)
        if r.error:
            raise FeatbenchError(f"pipeline request failed: {r.error}")
        # one TUPLES_OK result per lookup, in order
        out = _empty_rows(self.spec)
        assert self._conn.conn is not None
        tx = Transformer(self._conn.conn)
        for lk, res in zip(self.lookups, results, strict=True):
            out.update(_decode_single(tx, lk, res))
        return out

    def explain(self, keys: RequestKeys) -> IOSample:
        params = _params(self.entities, keys)
        return _explain_each(self._conn, self.lookups, params)


def _decode_single(tx: Transformer, lk: Lookup, res: pq.abc.PGresult) -> dict[str, Row]:
    if res.ntuples == 0:
        return {}
    tx.set_pgresult(res)
    (row,) = tx.load_rows(0, 1, tuple)
    # the result's own names: a table's own query selects what it selects
    names = [(res.fname(i) or b"").decode() for i in range(res.nfields)]
    return {lk.table.table_name: dict(zip(names, row, strict=True))}


def _explain_each(c: _Conn, lookups: Sequence[Lookup], params: Sequence[bytes]) -> IOSample:
    hit = read = 0
    per: dict[str, tuple[int, int]] = {}
    with c.outside_pipeline():
        for lk in lookups:
            st = lk.statement
            res = c.pg.exec_params(
                (_EXPLAIN + st.sql).encode(), st.params(params[lk.entity_index]), list(st.oids)
            )
            if res.status != _TUPLES_OK:
                raise FeatbenchError(f"EXPLAIN failed: {_first(res.error_message)}")
            h, r, _ = _explain_totals(res.get_value(0, 0) or b"[]")
            hit, read = hit + h, read + r
            per[lk.table.table_name] = (h, r)
    return IOSample(shared_hit=hit, shared_read=read, per_table=per)


class _OneStatementSession(_Base):
    """A request as one prepared statement with one parameter per entity."""

    _stmt = b"fb_req"

    def _start(
        self, sql: str, rows: str, setup: Callable[[psycopg.Connection[Any]], None] | None
    ) -> None:
        self.rows = rows
        self.sql = sql
        # No parameter types: the server infers each key's type from its key column (the
        # function's arguments are typed by its definition).
        self._conn = _Conn(
            self.conninfo, [(self._stmt, sql, None)], schema=self.schema, setup=setup
        )
        self._conns = [self._conn]
        self._layout = UnionLayout.build(self.lookups)
        self._one_row_per_key = _unique_keys(self._conn, self.lookups)

    def _run(self, keys: RequestKeys) -> pq.abc.PGresult | RequestResult:
        params = _params(self.entities, keys)
        err = self._ensure()
        if err:
            return self._failed(err)
        try:
            res = self._conn.pg.exec_prepared(self._stmt, params)
        except psycopg.Error as e:
            self._conn.close()
            return self._failed(e)
        if res.status != _TUPLES_OK:
            if self._conn.broken:
                self._conn.close()
            return self._failed(_first(res.error_message) or "request failed")
        return res

    def native_plan(self, entities: Sequence[str]) -> NativePlan | None:
        """One statement with a key per entity; only where each row is a lookup that
        found its key (otherwise counting them reads a value per row: `execute`)."""
        if not self._one_row_per_key:
            return None
        idx = tuple(list(entities).index(e) for e in self.entities)

        def conn_ptr() -> int:
            return (self._conn.pg.pgconn_ptr or 0) if self._conn.conn is not None else 0

        stmt = pg_native.Statement(self._stmt, idx, looked=self.n_lookups, hit_rows=True)
        return pg_native.plan_or_none(
            lambda: pg_native.NativePlan(conn_ptr, [stmt], len(entities), fail_counts_lookups=True)
        )

    def execute(self, keys: RequestKeys) -> RequestResult:
        res = self._run(keys)
        if isinstance(res, RequestResult):
            return res
        n = res.ntuples
        if self._one_row_per_key:
            # every table is unique on its key: each row is one lookup that found its key
            return RequestResult(n, self.n_lookups)
        # Every row leads with its table's index: the lookups that found a row are the
        # distinct indexes (a table may hold several rows per key). Reading one small
        # text value per row costs well under a microsecond each.
        get = res.get_value
        hit = len({get(i, 0) for i in range(n)}) if n else 0
        return RequestResult(n, self.n_lookups, keys_found=hit)

    def fetch(self, keys: RequestKeys) -> dict[str, Row | None]:
        res = self._run(keys)
        if isinstance(res, RequestResult):
            raise FeatbenchError(f"{self.strategy} request failed: {res.error}")
        assert self._conn.conn is not None
        tx = Transformer(self._conn.conn)
        tx.set_pgresult(res)
        out = _empty_rows(self.spec)
        for row in tx.load_rows(0, res.ntuples, tuple):
            lk = self.lookups[row[0]]
            if self.rows == "typed":
                vals = [row[1 + s] for s in self._layout.table_slots[lk.index]]
            else:
                obj = row[1] if isinstance(row[1], dict) else json.loads(row[1])
                vals = [
                    _decode_json_value(obj[c], t) for c, t in zip(lk.columns, lk.types, strict=True)
                ]
            out[lk.table.table_name] = dict(zip(lk.columns, vals, strict=True))
        return out

    def _explain_sql(self) -> str:
        return self.sql

    def explain(self, keys: RequestKeys) -> IOSample:
        params = _params(self.entities, keys)
        res = self._conn.exec_params(_EXPLAIN + self._explain_sql(), params)
        if res.status != _TUPLES_OK:
            raise FeatbenchError(f"EXPLAIN failed: {_first(res.error_message)}")
        hit, read, per = _explain_totals(res.get_value(0, 0) or b"[]")
        return IOSample(shared_hit=hit, shared_read=read, per_table=per)


def _unique_keys(c: _Conn, lookups: Sequence[Lookup]) -> bool:
    """Whether every looked-up relation has a unique index on exactly its key column (no
    predicate, no expression): then a request's rows are its lookups that found a key,
    and the timed path need not read a value per row to count them. Tables featbench
    loads have it (their primary key); an existing store's may not."""
    assert c.conn is not None
    row = c.conn.execute(
        "SELECT count(*) FROM unnest(%s::text[], %s::text[]) AS l(rel, col)"
        " WHERE EXISTS (SELECT 1 FROM pg_index i"
        "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        "  WHERE i.indrelid = to_regclass(l.rel) AND i.indisunique AND i.indnkeyatts = 1"
        "  AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = l.col)",
        ([lk.relation for lk in lookups], [lk.columns[0] for lk in lookups]),
    ).fetchone()
    return row is not None and row[0] == len(lookups)


class UnionSession(_OneStatementSession):
    """One UNION ALL statement per request."""

    strategy = "union"

    def __init__(
        self, conninfo: pgconn.Conninfo, schema: str, spec: WorkloadSpec, rows: str = "typed"
    ) -> None:
        refuse_own_queries(spec, "union")
        super().__init__(conninfo, schema, spec)
        self._start(union_sql(self.lookups, rows), rows, None)


class FunctionSession(_OneStatementSession):
    """One call of the spec's server-side request function per request."""

    strategy = "function"

    def __init__(
        self, conninfo: pgconn.Conninfo, schema: str, spec: WorkloadSpec, language: str = "sql"
    ) -> None:
        super().__init__(conninfo, schema, spec)
        self.function, _ = function_definition(schema, spec, language)
        params = ", ".join(f"${i + 1}" for i in range(len(self.entities)))
        call = f"SELECT * FROM {quote_ident(schema)}.{quote_ident(self.function)}({params})"

        def setup(conn: psycopg.Connection[Any]) -> None:
            install_function(conn, schema, spec, language)

        self._start(call, "typed", setup)


class ParallelSession(_Base):
    """One connection per entity, all entities in flight at once, one thread multiplexing."""

    strategy = "parallel"

    def __init__(self, conninfo: pgconn.Conninfo, schema: str, spec: WorkloadSpec) -> None:
        super().__init__(conninfo, schema, spec)
        self._sel = selectors.DefaultSelector()
        self._per: list[tuple[_Conn, list[bytes], list[Lookup]]] = []
        self._registered: dict[int, int] = {}  # entity position -> registered socket
        try:
            for e in self.entities:
                lks = [lk for lk in self.lookups if lk.entity == e]
                stmts = _statements("fb_pa_", lks)
                c = _Conn(conninfo, stmts, schema=schema, pipeline=True, nonblocking=True,
                          setup=self._setup)  # fmt: skip
                self._conns.append(c)
                self._per.append((c, [s[0] for s in stmts], lks))
        except BaseException:
            self.close()
            raise

    def _register(self) -> None:
        """(Re-)register every connection's socket (sockets change after a reconnect)."""
        for i, (c, _, _) in enumerate(self._per):
            fd = c.pg.socket
            if self._registered.get(i) != fd:
                old = self._registered.pop(i, None)
                if old is not None:
                    try:
                        self._sel.unregister(old)
                    except (KeyError, ValueError):
                        pass
                self._sel.register(fd, selectors.EVENT_READ, i)
                self._registered[i] = fd

    def _unregister_all(self) -> None:
        for fd in self._registered.values():
            try:
                self._sel.unregister(fd)
            except (KeyError, ValueError):
                pass
        self._registered.clear()

    def _roundtrip(
        self, keys: RequestKeys, keep: list[list[pq.abc.PGresult]] | None
    ) -> RequestResult:
        params = _params(self.entities, keys)
        err = self._ensure()
        if err:
            self._unregister_all()
            return self._failed(err)
        self._register()
        n = len(self._per)
        found = 0
        hit = 0
        entity_ns: dict[str, int] = {}
        first_err: str | None = None
        t0 = time.perf_counter_ns()
        try:
            for i, (c, names, lks) in enumerate(self._per):
                p = [params[i]]
                _send_pipeline(
                    c.pg,
                    [(nm, lk.statement.params(p[0]) if lk.statement.extra else p)
                     for nm, lk in zip(names, lks, strict=True)],
                )  # fmt: skip
            for c, _, _ in self._per:
                # non-blocking: a request larger than the socket buffer needs more flushes
                while c.pg.flush() == 1:
                    select.select([c.pg.socket], [c.pg.socket], [], PARALLEL_TIMEOUT_S)
                    c.pg.consume_input()
            pending = n
            done = [False] * n
            while pending:
                events = self._sel.select(PARALLEL_TIMEOUT_S)
                if not events:
                    raise TimeoutError(f"no answer from the server in {PARALLEL_TIMEOUT_S:.0f} s")
                for key, _ in events:
                    i = key.data
                    if done[i]:
                        continue
                    c = self._per[i][0]
                    pg = c.pg
                    pg.consume_input()
                    f, h, err, synced = _drain_pipeline(
                        pg, None if keep is None else keep[i], block=False
                    )
                    found += f
                    hit += h
                    first_err = first_err or err
                    if synced:
                        entity_ns[self.entities[i]] = time.perf_counter_ns() - t0
                        done[i] = True
                        pending -= 1
        except (psycopg.Error, TimeoutError, OSError) as e:
            # the state of every pipeline is unknown now: start afresh next time
            for c in self._conns:
                c.close()
            self._unregister_all()
            return self._failed(e)
        return RequestResult(
            found, self.n_lookups, entity_ns=entity_ns, error=first_err, keys_found=hit
        )

    def execute(self, keys: RequestKeys) -> RequestResult:
        return self._roundtrip(keys, None)

    def fetch(self, keys: RequestKeys) -> dict[str, Row | None]:
        keep: list[list[pq.abc.PGresult]] = [[] for _ in self._per]
        r = self._roundtrip(keys, keep)
        if r.error:
            raise FeatbenchError(f"parallel request failed: {r.error}")
        out = _empty_rows(self.spec)
        for (c, _, lks), results in zip(self._per, keep, strict=True):
            assert c.conn is not None
            tx = Transformer(c.conn)
            for lk, res in zip(lks, results, strict=True):
                out.update(_decode_single(tx, lk, res))
        return out

    def explain(self, keys: RequestKeys) -> IOSample:
        params = _params(self.entities, keys)
        hit = read = 0
        per: dict[str, tuple[int, int]] = {}
        for c, _, lks in self._per:
            s = _explain_each(c, lks, params)
            hit, read = hit + s.shared_hit, read + s.shared_read
            per.update(s.per_table)
        return IOSample(shared_hit=hit, shared_read=read, per_table=per)

    def close(self) -> None:
        self._unregister_all()
        super().close()
        self._sel.close()


# -- entry points ------------------------------------------------------------------------
StrategySession = PipelineSession | UnionSession | FunctionSession | ParallelSession


def open_strategy_session(
    conninfo: pgconn.Conninfo, schema: str, spec: WorkloadSpec, strategy: str, **options: Any
) -> StrategySession:
    """A Session executing requests with `strategy` (any but serial, which pg_requests owns).

    Options: ``union_rows`` ("typed" | "jsonb" | "json") for union, ``function_language``
    ("sql" | "plpgsql") for function.
    """
    unknown = set(options) - {"union_rows", "function_language"}
    if unknown:
        raise FeatbenchError(f"unknown strategy option(s): {', '.join(sorted(unknown))}")
    if strategy == "pipeline":
        return PipelineSession(conninfo, schema, spec)
    if strategy == "union":
        return UnionSession(conninfo, schema, spec, options.get("union_rows", "typed"))
    if strategy == "function":
        return FunctionSession(conninfo, schema, spec, options.get("function_language", "sql"))
    if strategy == "parallel":
        return ParallelSession(conninfo, schema, spec)
    known = ", ".join(("serial", *STRATEGIES))
    raise FeatbenchError(f"unknown strategy {strategy!r} for PostgreSQL; use one of {known}")


def fetch_rows_with(
    conninfo: pgconn.Conninfo,
    schema: str,
    spec: WorkloadSpec,
    strategy: str,
    keys: RequestKeys,
    **options: Any,
) -> dict[str, Row | None]:
    """The typed feature rows of one request fetched with `strategy` (None where absent)."""
    with open_strategy_session(conninfo, schema, spec, strategy, **options) as s:
        return s.fetch(keys)
