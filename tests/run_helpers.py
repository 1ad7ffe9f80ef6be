"""Helpers for the run tests: small specs and filling tables on a real server.

`fill_tables` loads a spec's tables into a schema with featbench's own loader
(`PostgresBackend.load`); `create_tables` is a minimal CREATE + COPY of generated rows
for tables that live outside featbench's schema.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from featbench.generate import csv_bytes, iter_batches
from featbench.spec import SQL_TYPES, WorkloadSpec, scaled_rows, spec_from_dict


def tiny_spec(
    entities: int = 3,
    tables_per_entity: tuple[int, ...] | None = None,
    rows: int = 400,
    bigint_entities: tuple[int, ...] = (),
    name: str = "tiny",
    prefix: str = "ent",
) -> WorkloadSpec:
    """A small spec: `entities` entities, tables_per_entity[i] tables each, nested windows."""
    tpe = tables_per_entity or (2,) * entities
    wins = ["30d", "90d", "365d", "730d"]
    ents = [
        {"name": f"{prefix}{i}", "key_type": "bigint" if i in bigint_entities else "hex64"}
        for i in range(entities)
    ]
    tables: list[dict[str, Any]] = []
    for i in range(entities):
        for j in range(tpe[i]):
            tables.append(
                {
                    "entity": f"{prefix}{i}",
                    "family": "fam",
                    "window": wins[j],
                    "rows": rows * (j + 1),
                    "columns": [
                        {"name": "txn_count", "type": "bigint", "gen": "count", "mean": 10},
                        {"name": "rate", "type": "double"},
                        {"name": "seen", "type": "timestamptz"},
                        {"name": "label", "type": "text", "gen": "category", "choices": ["a", "b"]},
                    ],
                }
            )
    return spec_from_dict({"name": name, "entities": ents, "tables": tables})


def fill_tables(
    dsn: str, schema: str, spec: WorkloadSpec, *, scale: float = 1.0, seed: int = 42
) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for t in spec.tables:
            key_t = "TEXT" if spec.entity(t.entity).key_type == "hex64" else "BIGINT"
            cols = [
                sql.SQL("{} {} PRIMARY KEY").format(
                    sql.Identifier(spec.key_column_of(t)), sql.SQL(key_t)
                )
            ]
            cols += [
                sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(SQL_TYPES[c.type]))
                for c in t.columns
            ]
            ident = sql.SQL("{}.{}").format(
                sql.Identifier(t.schema_name or schema), sql.Identifier(t.table_name)
            )
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(", ").join(cols)))
            with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(ident)) as cp:
                for batch in iter_batches(spec, t, seed, scale):
                    cp.write(csv_bytes(batch))
            conn.execute(sql.SQL("ANALYZE {}").format(ident))
        assert all(scaled_rows(t, scale) > 0 for t in spec.tables)


def server_dir(prefix: str) -> Path:
    """A directory for a server's data outside pytest's own temporary root.

    As root, pgserver runs PostgreSQL as another user; any other pytest session that
    starts meanwhile makes /tmp/pytest-of-root private again (0700), and a server whose
    data sit under it loses its own files mid-test. Removed by `remove_server_dir`.
    """
    return Path(tempfile.mkdtemp(prefix=f"featbench-{prefix}-"))


def remove_server_dir(d: Path) -> None:
    shutil.rmtree(d, ignore_errors=True)


def schema_checksum(dsn: str, schema: str) -> dict[str, str]:
    """md5 of every row of each table and view in a schema: equal before and after a run
    proves the run only read it."""
    q = "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {}.{} t"
    with psycopg.connect(dsn, autocommit=True) as conn:
        rels = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND relkind IN ('r', 'v', 'm') ORDER BY 1",
            (schema,),
        ).fetchall()
        return {
            rel: conn.execute(
                sql.SQL(q).format(sql.Identifier(schema), sql.Identifier(rel))
            ).fetchone()[0]  # type: ignore[index]
            for (rel,) in rels
        }


def run_cli(args: list[str], capsys: Any) -> tuple[int, str, str]:
    """featbench's main() in this process: (exit code, stdout, stderr)."""
    import pytest

    from featbench.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as ei:
        main(args)
    out = capsys.readouterr()
    return int(ei.value.code or 0), out.out, out.err


def drop_schema(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def filled_schema(dsn: str, prefix: str, spec: WorkloadSpec) -> Iterator[str]:
    """A fresh schema `<prefix>_<random>` holding the spec's tables; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    fill_tables(dsn, name, spec)
    try:
        yield name
    finally:
        drop_schema(dsn, name)
