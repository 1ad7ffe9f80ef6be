"""One table's lookup on PostgreSQL as every strategy sends it: SQL, parameter types, values.

A table's lookup is featbench's own (`SELECT … WHERE key = $1`) or the store's own
(`query` in the spec: `$1` is the key, `$2…` the table's named `params`). Either way the
statement is prepared with the key's real type (text, bigint, integer, uuid, bytea), so
the server never guesses it, and the key travels as the text PostgreSQL reads for that
type (a bytea as ``\\x`` hex: see `typing_codec`). The table's own parameters are sent as
text of types the server infers from the query (a list as an array literal).

Also here: the check that each key column has the type its entity declares, made before
anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Transformer

from featbench.backends.base import Key
from featbench.backends.typing_codec import typed_key
from featbench.errors import FeatbenchError
from featbench.spec import Table, WorkloadSpec

# key type -> (the column types that serve it, as format_type names them; parameter OID)
KEY_COLUMN_TYPES: dict[str, tuple[tuple[str, ...], int]] = {
    "hex64": (("text", "character varying"), 25),
    "text": (("text", "character varying"), 25),
    "bigint": (("bigint",), 20),
    "integer": (("integer",), 23),
    "uuid": (("uuid",), 2950),
    "bytea": (("bytea",), 17),
}
# the SQL type of a key type's parameters (and of the function strategy's arguments)
KEY_SQL_TYPES = {k: types[0] for k, (types, _) in KEY_COLUMN_TYPES.items()}
# what to declare for a column type a spec got wrong
_DECLARE = {"text": "text", "character varying": "text", "bigint": "bigint",
            "integer": "integer", "uuid": "uuid", "bytea": "bytea"}  # fmt: skip


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def relation(schema: str, table: Table) -> str:
    """The table's quoted schema.name (its own `schema_name` when it lives elsewhere)."""
    return f"{quote_ident(table.schema_name or schema)}.{quote_ident(table.table_name)}"


@dataclass(frozen=True)
class LookupStatement:
    """What one lookup sends: `sql` ($1 the key), the parameters' type OIDs (0: the server
    infers it), and the values of $2… (`extra`, already as text)."""

    sql: str
    oids: tuple[int, ...]
    extra: tuple[bytes, ...]
    own_query: bool

    def params(self, key: bytes) -> list[bytes]:
        return [key, *self.extra]


def key_oid(spec: WorkloadSpec, table: Table) -> int:
    return KEY_COLUMN_TYPES[spec.entity(table.entity).key_type][1]


def lookup_statement(
    schema: str, spec: WorkloadSpec, table: Table, columns: Sequence[str] | None = None
) -> LookupStatement:
    """The table's lookup: its own `query`, else featbench's (`columns` selected, or `*`)."""
    oid = key_oid(spec, table)
    if table.query is not None:
        extra = tuple(param_text(v) for v in table.param_values)
        return LookupStatement(table.query, (oid, *[0] * len(extra)), extra, True)
    cols = ", ".join(quote_ident(c) for c in columns) if columns else "*"
    key = quote_ident(spec.key_column_of(table))
    return LookupStatement(
        f"SELECT {cols} FROM {relation(schema, table)} WHERE {key} = $1", (oid,), (), False
    )


def param_text(value: Any) -> bytes:
    """A named parameter as PostgreSQL text input: a list becomes an array literal."""
    if isinstance(value, list | tuple):
        return ("{" + ",".join(_array_item(v) for v in value) + "}").encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode()


def _array_item(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    text = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def key_param(key: str | int) -> bytes:
    """A key as the text of its parameter (see the module docstring)."""
    return key.encode() if key.__class__ is str else str(key).encode()


class LookupFailed(FeatbenchError):
    """A lookup the server refused; `sqlstate` says why (22P02: the key does not bind…)."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


# -- one lookup, untimed (probe, fetch, checks) ------------------------------------------
def run_lookup(
    conn: psycopg.Connection[Any],
    st: LookupStatement,
    key_type: str,
    key: Key,
    *,
    before: bytes | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one lookup in a read-only transaction (a table's own query cannot write), typed
    as the sessions bind it; (column names, decoded rows). A refused lookup raises
    `LookupFailed` (with the server's SQLSTATE). `before`: a statement run first in the
    same transaction (a `SET LOCAL`)."""
    pg = conn.pgconn
    param = key_param(typed_key(key, key_type))
    _exec_ok(pg, b"BEGIN READ ONLY")
    try:
        if before:
            _exec_ok(pg, before)
        res = pg.exec_params(st.sql.encode(), st.params(param), list(st.oids))
        if res.status != pq.ExecStatus.TUPLES_OK:
            state = (res.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
            primary = res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY)
            raise LookupFailed(
                primary.decode(errors="replace")
                if primary
                else (res.error_message or b"").decode(errors="replace").strip(),
                state,
            )
        tx = Transformer(conn)
        tx.set_pgresult(res)
        names = [(res.fname(i) or b"").decode() for i in range(res.nfields)]
        rows = tx.load_rows(0, res.ntuples, tuple)
        res.clear()
        return names, rows
    finally:
        _exec_ok(pg, b"ROLLBACK")


def _exec_ok(pg: pq.abc.PGconn, q: bytes) -> None:
    res = pg.exec_(q)
    res.clear()


# -- declared against actual key types ----------------------------------------------------
def check_key_types(conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec) -> None:
    """Refuse a spec whose entity key type does not match a key column's type: one line
    naming the table, the column, the declared and the actual type."""
    tables = spec.tables
    rows = conn.execute(
        """SELECT w.i, format_type(a.atttypid, NULL)
             FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS w(sch, rel, col, i)
             JOIN pg_namespace n ON n.nspname = w.sch
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = w.col
                              AND a.attnum > 0 AND NOT a.attisdropped""",
        (
            [t.schema_name or schema for t in tables],
            [t.table_name for t in tables],
            [spec.key_column_of(t) for t in tables],
        ),
    ).fetchall()
    actual = {int(i) - 1: typ for i, typ in rows}
    for i, t in enumerate(tables):
        have = actual.get(i)
        if have is None:
            continue  # a missing table or column is check_tables' finding
        declared = spec.entity(t.entity).key_type
        if have not in KEY_COLUMN_TYPES[declared][0]:
            hint = (
                f'set key_type = "{_DECLARE[have]}" for entity {t.entity}'
                if have in _DECLARE
                else "featbench reads keys of type text, bigint, integer, uuid or bytea"
            )
            raise FeatbenchError(
                f"table {t.schema_name or schema}.{t.table_name} key column "
                f"{spec.key_column_of(t)} is {have} in the store, but entity {t.entity} "
                f"declares key_type {declared}: {hint}"
            )


def refuse_own_queries(spec: WorkloadSpec, strategy: str) -> None:
    """The union and function strategies build one statement from the spec's columns: a
    table with its own query cannot be part of it."""
    own = spec.tables_with_query
    if own and strategy in ("union", "function"):
        raise FeatbenchError(
            f"strategy {strategy} builds one statement from the spec's columns, but table "
            f"{own[0]} has its own query: use serial, pipeline or parallel for this spec"
        )
