"""The one-table lookup that benchmarks compare with pgbench (tail_overhead.py, throughput.py).

A 100,000-row table `<schema>.lookup` (bigint key, four typed columns) in shared
buffers; featbench reads it through a one-entity, one-table spec and pgbench through a
script with the same prepared `SELECT *` by key. Imported by the benchmark scripts
(run as `python benchmarks/NAME.py`, so this directory is on the path).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from pgbench_ref import pgbench_path
from psycopg import sql

ROWS = 100_000


class Lookup(NamedTuple):
    conninfo: str
    schema: str
    work: Path  # a temporary directory
    pgbench: str
    doc: dict[str, Any]  # the report's header: target, server version, machine


@contextlib.contextmanager
def lookup_schema(target: str, prefix: str) -> Iterator[Lookup]:
    """A temporary schema `<prefix>_<random>` holding the lookup table (dropped at the end)
    on `target`, a work directory, and the report's description of the target and this
    machine (server version, the pgbench used, CPUs, load average at start and end)."""
    from featbench.backends.base import open_backend

    b = open_backend(target)
    conninfo = b.conninfo  # type: ignore[attr-defined]
    server = b.describe()
    b.close()
    doc = {
        "target": "embedded" if target == "embedded" else server.get("target"),
        "server_version": server.get("server_version"),
        "pgbench": pgbench_path(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        setup(conninfo, schema)
        with tempfile.TemporaryDirectory() as tmp:
            yield Lookup(conninfo, schema, Path(tmp), doc["pgbench"], doc)
    finally:
        drop(conninfo, schema)
        doc["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]


def header(doc: dict[str, Any], what: str) -> str:
    """The first line of a report on the lookup: server, target, `what` ran, load average."""
    return (
        f"one-key lookup, PostgreSQL {doc['server_version']} at {doc['target']}; {what}; "
        f"load average {doc['load_average_at_start'][0]} -> {doc['load_average_at_end'][0]} "
        f"on {doc['cpus']} CPUs"
    )


def setup(conninfo: str, schema: str) -> None:
    """Create `schema` with the lookup table, its primary key, statistics, all of it cached."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        s = sql.Identifier(schema)
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.lookup AS SELECT g::bigint AS id, md5(g::text) AS payload, "
                "g * 1.5::float8 AS amount, (g %% 97)::bigint AS txn_count, "
                "timestamptz '2026-01-01' - g * interval '1 minute' AS last_seen "
                "FROM generate_series(1, %s) g"
            ).format(s),
            (ROWS,),
        )
        conn.execute(sql.SQL("ALTER TABLE {}.lookup ADD PRIMARY KEY (id)").format(s))
        conn.execute(sql.SQL("VACUUM ANALYZE {}.lookup").format(s))
        conn.execute(sql.SQL("SELECT count(*) FROM {}.lookup").format(s))  # warm the cache


def drop(conninfo: str, schema: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def lookup_spec_dict(schema: str) -> dict[str, Any]:
    """featbench's workload spec for the table: one entity, one table, key `id`."""
    return {
        "name": "tail-overhead",
        "entities": [{"name": "item", "key_type": "bigint"}],
        "tables": [
            {
                "entity": "item", "family": "lookup", "name": "lookup", "rows": ROWS,
                "schema_name": schema, "key_column": "id",
                "columns": [
                    {"name": "payload", "type": "text"},
                    {"name": "amount", "type": "double"},
                    {"name": "txn_count", "type": "bigint"},
                    {"name": "last_seen", "type": "timestamptz"},
                ],
            }
        ],
    }  # fmt: skip


def pgbench_lookup(
    pgbench: str, conninfo: str, schema: str, work: Path, clients: int, per_client: int,
    extra: list[str] | None = None,
) -> str:  # fmt: skip
    """`pgbench -n -M prepared -c N -j N -t T` on the lookup (a random key per transaction);
    its standard output. `extra`: more options (e.g. `-l` and a log prefix)."""
    script = work / "lookup.sql"
    script.write_text(
        f"\\set id random(1, {ROWS})\nSELECT * FROM {schema}.lookup WHERE id = :id;\n"
    )
    cmd = [pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients),
           "-t", str(per_client), "-f", str(script), *(extra or []), conninfo]  # fmt: skip
    env = {**os.environ, "PGAPPNAME": "fb_bench_pgbench"}
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
