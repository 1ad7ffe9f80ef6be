"""Checks before measuring an existing store: is each lookup an index lookup on a table?

A benchmark of a store's lookups says nothing useful when a lookup reads a plain view's
query, or scans a table whose key column has no index: the numbers then describe a scan.
Each finding is a warning (the run still measures what the store does), one line naming
the table and what to look at. Everything here only reads: EXPLAIN without ANALYZE, in a
read-only transaction.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from featbench.backends.base import Key
from featbench.backends.pg_lookup import (
    LookupFailed,
    LookupStatement,
    lookup_statement,
    run_lookup,
)
from featbench.spec import Table, WorkloadSpec

_INDEX_NODES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")


def relation_warnings(
    conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec, probed: dict[str, Key]
) -> list[str]:
    """Warnings for the spec's relations: a plain view, a key column that leads no index
    (with the table's size), a lookup (tried with the key in `probed`) whose plan has no
    index scan even with sequential scans discouraged."""
    tables = spec.tables
    rows = conn.execute(
        """SELECT w.i, c.relkind::text, pg_total_relation_size(c.oid),
                  EXISTS (SELECT 1 FROM pg_index x JOIN pg_attribute a
                                 ON a.attrelid = c.oid AND a.attname = w.col
                           WHERE x.indrelid = c.oid AND x.indkey[0] = a.attnum)
             FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS w(sch, rel, col, i)
             JOIN pg_namespace n ON n.nspname = w.sch
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel""",
        (
            [t.schema_name or schema for t in tables],
            [t.table_name for t in tables],
            [spec.key_column_of(t) for t in tables],
        ),
    ).fetchall()
    found = {int(i) - 1: (kind, int(size), bool(indexed)) for i, kind, size, indexed in rows}
    out: list[str] = []
    for i, t in enumerate(tables):
        if i not in found:
            continue
        kind, size, indexed = found[i]
        where = f"{t.schema_name or schema}.{t.table_name}"
        key = spec.key_column_of(t)
        unindexed = False
        if kind == "v":
            out.append(
                f"{where} is a plain view: each lookup runs the view's query, so the figures "
                "measure that query; describe the table it reads (or a materialized view) to "
                "measure the store's lookups"
            )
        elif kind in ("r", "p", "m") and not indexed:
            unindexed = True
            out.append(
                f"table {where} has no index whose leading column is its key column {key}: "
                f"each lookup scans the table ({_size(size)})"
            )
        if t.table_name in probed and not unindexed:
            plan = _plan_without_index(conn, lookup_statement(schema, spec, t), spec, t,
                                       probed[t.table_name])  # fmt: skip
            if plan:
                out.append(
                    f"EXPLAIN of the lookup of {where} shows no index scan ({plan}): "
                    "each lookup reads the whole relation"
                )
    return out


def _plan_without_index(
    conn: psycopg.Connection[Any], st: LookupStatement, spec: WorkloadSpec, t: Table, key: Key
) -> str | None:
    """The plan's scans, as text, when none of them uses an index; None when one does (or
    EXPLAIN fails: the probe lookup has reported that already)."""
    explain = LookupStatement("EXPLAIN (FORMAT JSON) " + st.sql, st.oids, st.extra, st.own_query)
    try:
        _, rows = run_lookup(conn, explain, spec.entity(t.entity).key_type, key,
                             before=b"SET LOCAL enable_seqscan = off")  # fmt: skip
    except LookupFailed:
        return None
    doc = rows[0][0]
    plan = (json.loads(doc) if isinstance(doc, str | bytes) else doc)[0]["Plan"]
    scans: list[str] = []

    def walk(node: dict[str, Any]) -> bool:
        typ = node.get("Node Type", "")
        if typ in _INDEX_NODES:
            return True
        if "Relation Name" in node:
            scans.append(f"{typ} on {node['Relation Name']}")
        return any(walk(child) for child in node.get("Plans", ()))

    if walk(plan):
        return None
    return ", ".join(scans) or plan.get("Node Type", "no scan")


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover
