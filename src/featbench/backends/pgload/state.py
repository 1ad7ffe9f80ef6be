"""What featbench records inside its schema: ownership, the data set, and load progress.

Three small tables live in the schema featbench owns:

- ``_meta`` (key, value): the ownership marker (``owner = featbench``), whether
  featbench created the schema itself, and the data set loaded into it (spec name and
  fingerprint, scale, seed). Its presence is what makes a schema "featbench's".
- ``_load_state``: one row per feature table featbench created — the only tables it will
  ever drop — with its status (``loading`` → ``copied`` → ``done``) and chunk size.
- ``_load_chunks``: one row per loaded chunk, inserted in the same transaction as the
  chunk's COPY, so a crash or Ctrl-C leaves every chunk either fully loaded and recorded
  or absent, and a re-run resumes exactly where it stopped.

A load holds a session advisory lock keyed on the schema name, so a second concurrent
load of the same schema is refused instead of interleaving with the first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import sql

from featbench import __version__
from featbench.errors import FeatbenchError
from featbench.spec import SQL_TYPES, Table, WorkloadSpec

META = "_meta"
LOAD_STATE = "_load_state"
LOAD_CHUNKS = "_load_chunks"
INTERNAL_TABLES = (META, LOAD_STATE, LOAD_CHUNKS)
OWNER = "featbench"

Conn = psycopg.Connection[Any]


def q(schema: str, name: str) -> sql.Composed:
    """A schema-qualified, quoted identifier."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def lock_key(schema: str) -> int:
    """Stable signed 64-bit advisory lock key of a schema's load lock."""
    h = hashlib.blake2b(f"featbench-load\x00{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big", signed=True)


# -- advisory lock ------------------------------------------------------------------
def acquire_load_lock(conn: Conn, schema: str, target: str) -> None:
    """Take the schema's load lock on `conn` (held until it closes) or refuse clearly."""
    key = lock_key(schema)
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]  # type: ignore[index]
    if got:
        return
    holder = conn.execute(
        "SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
        (key,),
    ).fetchone()
    who = ""
    if holder:
        pid, app, addr, since = holder
        where = f" from {addr}" if addr else ""
        who = f" (server pid {pid}, {app or 'unknown client'}{where}, since {since:%Y-%m-%d %H:%M:%S})"
    raise FeatbenchError(
        f"another featbench load is running on schema {schema} at {target}{who}: "
        "wait for it to finish, or load into another --schema"
    )


# -- inspection ---------------------------------------------------------------------
def schema_exists(conn: Conn, schema: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return row is not None


def relation_names(conn: Conn, schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')",
        (schema,),
    ).fetchall()
    return {r[0] for r in rows}


def schema_object_count(conn: Conn, schema: str) -> int:
    """Relations, functions and types in a schema: 0 means empty."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid)"
        " + (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = n.oid)"
        " + (SELECT count(*) FROM pg_type t WHERE t.typnamespace = n.oid AND t.typrelid = 0"
        "    AND t.typelem = 0)"
        " FROM pg_namespace n WHERE n.nspname = %s",
        (schema,),
    ).fetchone()
    return int(row[0]) if row else 0


def read_meta(conn: Conn, schema: str) -> dict[str, str] | None:
    """The schema's featbench metadata, or None when featbench does not own the schema."""
    if f"{META}" not in relation_names(conn, schema):
        return None
    rows = conn.execute(sql.SQL("SELECT key, value FROM {}").format(q(schema, META))).fetchall()
    meta = dict(rows)
    return meta if meta.get("owner") == OWNER else None


@dataclass(frozen=True)
class DataSet:
    """What a schema holds: the identity of generated data."""

    spec_name: str
    spec_fingerprint: str
    scale: float
    seed: int

    @classmethod
    def of(cls, spec: WorkloadSpec, scale: float, seed: int) -> DataSet:
        return cls(spec.name, spec.fingerprint(), float(scale), int(seed))

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> DataSet | None:
        if "spec_fingerprint" not in meta:
            return None
        return cls(
            meta.get("spec_name", "?"),
            meta["spec_fingerprint"],
            float(meta["scale"]),
            int(meta["seed"]),
        )

    def same_data(self, other: DataSet) -> bool:
        return (self.spec_fingerprint, self.scale, self.seed) == (
            other.spec_fingerprint,
            other.scale,
            other.seed,
        )

    def describe(self) -> str:
        return f"{self.spec_name} (fingerprint {self.spec_fingerprint[:12]}) at scale {self.scale:g}, seed {self.seed}"


# -- DDL ----------------------------------------------------------------------------
def _create_internal_tables(conn: Conn, schema: str) -> None:
    conn.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, value TEXT NOT NULL)").format(
            q(schema, META)
        )
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " table_name TEXT PRIMARY KEY,"
            " status TEXT NOT NULL CHECK (status IN ('loading', 'copied', 'done')),"
            " rows_expected BIGINT NOT NULL,"
            " chunk_rows BIGINT NOT NULL,"
            " source TEXT NOT NULL DEFAULT 'generate',"
            " started_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
            " finished_at TIMESTAMPTZ)"
        ).format(q(schema, LOAD_STATE))
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " table_name TEXT NOT NULL REFERENCES {} (table_name) ON DELETE CASCADE,"
            " chunk_no INTEGER NOT NULL,"
            " first_row BIGINT NOT NULL,"
            " rows BIGINT NOT NULL,"
            " loaded_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
            " PRIMARY KEY (table_name, chunk_no))"
        ).format(q(schema, LOAD_CHUNKS), q(schema, LOAD_STATE))
    )


def _set_meta(conn: Conn, schema: str, values: dict[str, str]) -> None:
    for k, v in values.items():
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ).format(q(schema, META)),
            (k, v),
        )


def table_ddl(spec: WorkloadSpec, table: Table, schema: str) -> sql.Composed:
    """CREATE TABLE without the primary key: it is built after the data, which is faster."""
    key = spec.key_column_of(table)
    key_type = "TEXT" if spec.entity(table.entity).key_type == "hex64" else "BIGINT"
    cols = [sql.SQL("{} {} NOT NULL").format(sql.Identifier(key), sql.SQL(key_type))]
    cols += [
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(SQL_TYPES[c.type]))
        for c in table.columns
    ]
    return sql.SQL("CREATE TABLE {} ({})").format(
        q(schema, table.table_name), sql.SQL(", ").join(cols)
    )


def drop_table(conn: Conn, schema: str, name: str) -> None:
    """Drop a table featbench created; a view (or other object) of someone else's that
    depends on it is refused by name, before anything is dropped — never CASCADE."""
    deps = conn.execute(
        "SELECT DISTINCT format('%%I.%%I', n.nspname, v.relname) FROM pg_depend d"
        " JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class"
        " JOIN pg_namespace n ON n.oid = v.relnamespace"
        " WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
        "   AND d.refobjid = to_regclass(%s) AND v.oid <> d.refobjid ORDER BY 1",
        (f"{sql.Identifier(schema).as_string(conn)}.{sql.Identifier(name).as_string(conn)}",),
    ).fetchall()
    if deps:
        views = ", ".join(v for (v,) in deps)
        raise FeatbenchError(
            f"cannot drop featbench's table {schema}.{name}: {views} depend"
            f"{'s' if len(deps) == 1 else ''} on it (not featbench's, so not dropped); drop "
            "or change it yourself, or load into another --schema — nothing was changed"
        )
    try:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(q(schema, name)))
    except psycopg.errors.DependentObjectsStillExist as e:
        detail = (e.diag.message_detail or str(e)).splitlines()[0]
        raise FeatbenchError(
            f"cannot drop featbench's table {schema}.{name}: {detail}; nothing was changed"
        ) from None


@dataclass
class TableState:
    table: str
    status: str
    rows_expected: int
    chunk_rows: int
    source: str
    chunks_done: dict[int, int]  # chunk_no -> rows


def read_state(conn: Conn, schema: str) -> dict[str, TableState]:
    if LOAD_STATE not in relation_names(conn, schema):
        return {}
    out: dict[str, TableState] = {}
    for name, status, exp, chunk, source in conn.execute(
        sql.SQL("SELECT table_name, status, rows_expected, chunk_rows, source FROM {}").format(
            q(schema, LOAD_STATE)
        )
    ).fetchall():
        out[name] = TableState(name, status, int(exp), int(chunk), source, {})
    for name, no, rows in conn.execute(
        sql.SQL("SELECT table_name, chunk_no, rows FROM {}").format(q(schema, LOAD_CHUNKS))
    ).fetchall():
        if name in out:
            out[name].chunks_done[int(no)] = int(rows)
    return out


def prepare_schema(
    conn: Conn,
    schema: str,
    spec: WorkloadSpec,
    scale: float,
    seed: int,
    *,
    force: bool,
    target: str,
) -> list[str]:
    """Make `schema` featbench's and ready for this data set; return notes on what was done.

    Refuses (FeatbenchError) to write into a non-empty schema featbench did not create,
    or over a different data set, unless `force`. Never drops anything featbench did not
    create: with `force` it drops only the tables listed in its own load state.
    """
    notes: list[str] = []
    want = DataSet.of(spec, scale, seed)
    with conn.transaction():
        meta: dict[str, str] | None = None
        if not schema_exists(conn, schema):
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            conn.execute(
                sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                    sql.Identifier(schema),
                    sql.Literal("created by featbench: feature tables of a benchmark data set"),
                )
            )
            created = True
            notes.append(f"created schema {schema}")
        else:
            created = False
            meta = read_meta(conn, schema)
            if meta is None and schema_object_count(conn, schema) > 0 and not force:
                raise FeatbenchError(
                    f"schema {schema} at {target} exists, is not empty and was not created by featbench: "
                    "choose another --schema, or pass --force to add featbench's tables to it "
                    "(featbench never drops anything it did not create)"
                )
        if meta is None:
            clash = sorted(set(INTERNAL_TABLES) & relation_names(conn, schema))
            if clash:
                raise FeatbenchError(
                    f"schema {schema} at {target} has a table {clash[0]} that featbench did not create "
                    "but would use for its bookkeeping: use another --schema"
                )
            _create_internal_tables(conn, schema)
            _set_meta(
                conn,
                schema,
                {
                    "owner": OWNER,
                    "schema_created": "true" if created else "false",
                    "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "featbench_version": __version__,
                },
            )
            meta = read_meta(conn, schema) or {}
        else:
            _create_internal_tables(conn, schema)  # older layouts: add what is missing
        have = DataSet.from_meta(meta)
        state = read_state(conn, schema)
        if have is not None and not have.same_data(want):
            if not force:
                raise FeatbenchError(
                    f"schema {schema} at {target} holds {have.describe()}, not {want.describe()}: "
                    "pass --force to replace featbench's tables with the new data set, or use another --schema"
                )
            for name in state:
                drop_table(conn, schema, name)
            conn.execute(sql.SQL("DELETE FROM {}").format(q(schema, LOAD_STATE)))
            notes.append(
                f"dropped {len(state)} featbench tables of the previous data set ({have.describe()})"
            )
            state = {}
        _set_meta(
            conn,
            schema,
            {
                "spec_name": want.spec_name,
                "spec_fingerprint": want.spec_fingerprint,
                "scale": repr(want.scale),
                "seed": str(want.seed),
            },
        )
        # Tables of the spec that exist but are not featbench's must never be touched.
        existing = relation_names(conn, schema)
        for t in spec.tables:
            if t.table_name in existing and t.table_name not in state:
                raise FeatbenchError(
                    f"table {schema}.{t.table_name} at {target} exists and was not created by featbench: "
                    "featbench will not overwrite or drop it — rename or drop it yourself, or use another --schema"
                )
    return notes


def ensure_table(
    conn: Conn,
    schema: str,
    spec: WorkloadSpec,
    table: Table,
    rows: int,
    chunk_rows: int,
    source: str,
    *,
    replace: bool = False,
) -> None:
    """Create a feature table and its state row in one transaction (so it is always recorded
    as ours); `replace`: first drop the featbench table of that name (listed in its load
    state) and its state, to start again with a new chunking."""
    with conn.transaction():
        if replace:
            drop_table(conn, schema, table.table_name)
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE table_name = %s").format(q(schema, LOAD_STATE)),
                (table.table_name,),
            )
        conn.execute(table_ddl(spec, table, schema))
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (table_name, status, rows_expected, chunk_rows, source)"
                " VALUES (%s, 'loading', %s, %s, %s)"
            ).format(q(schema, LOAD_STATE)),
            (table.table_name, rows, chunk_rows, source),
        )


def set_status(conn: Conn, schema: str, table: str, status: str) -> None:
    finished = sql.SQL(", finished_at = now()") if status == "done" else sql.SQL("")
    conn.execute(
        sql.SQL("UPDATE {} SET status = %s{} WHERE table_name = %s").format(
            q(schema, LOAD_STATE), finished
        ),
        (status, table),
    )


def has_primary_key(conn: Conn, schema: str, table: str, column: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_constraint k"
        " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1]"
        " WHERE k.contype = 'p' AND n.nspname = %s AND c.relname = %s"
        " AND array_length(k.conkey, 1) = 1 AND a.attname = %s",
        (schema, table, column),
    ).fetchone()
    return row is not None


def drop_dataset(conn: Conn, schema: str) -> list[str]:
    """Drop what featbench loaded into `schema`: the tables its load state lists, its own
    bookkeeping tables (and its result tables), then the schema itself if featbench
    created it and nothing else is left in it. Returns the relations dropped."""
    meta = read_meta(conn, schema)
    if meta is None or meta.get("owner") != OWNER:
        return []
    dropped: list[str] = []
    with conn.transaction():
        for name in read_state(conn, schema):
            drop_table(conn, schema, name)
            dropped.append(name)
        # chunks reference the load state: drop them first
        for name in (LOAD_CHUNKS, LOAD_STATE, META, "run_results", "run_keys"):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(q(schema, name)))
            dropped.append(name)
        # the `function` strategy's request functions (featbench_request_<hash>)
        for (fn,) in conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname LIKE 'featbench\\_request\\_%%'",
            (schema,),
        ).fetchall():
            conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}").format(sql.SQL(fn)))
            dropped.append(fn)
        if meta.get("schema_created") == "true":
            left = conn.execute(
                "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                "         ON n.oid = c.relnamespace WHERE n.nspname = %s)"
                "     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n"
                "         ON n.oid = p.pronamespace WHERE n.nspname = %s)",
                (schema, schema),
            ).fetchone()
            if left is not None and left[0] == 0:
                conn.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(schema)))
                dropped.append(schema)
    return dropped
