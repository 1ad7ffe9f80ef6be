"""keys_found_pct and rows_per_lookup on tables holding several rows per key (real server).

A hand-made table without a primary key on its key column holds six rows for every key:
the share of lookups that found a row stays <= 100 % while rows per lookup exceeds 1,
for every PostgreSQL strategy (before, `rows_found_pct` read 600).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from featbench.backends.base import open_backend
from featbench.backends.pg_requests import open_session
from featbench.results.validate import validate_run
from featbench.runner.benchmark import RunConfig, run_benchmark
from run_helpers import fill_tables, tiny_spec

SPEC = tiny_spec(2, tables_per_entity=(2, 1), rows=300, name="multirow")
COPIES = 6  # rows per key in the first table
STRATEGIES = ("serial", "pipeline", "union", "function", "parallel")


@pytest.fixture(scope="module")
def multirow(pg_dsn: str) -> Iterator[str]:
    schema = f"fbt_mr_{uuid.uuid4().hex[:8]}"
    fill_tables(pg_dsn, schema, SPEC)
    first = SPEC.tables[0].table_name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        ident = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(first))
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                ident, sql.Identifier(f"{first}_pkey")
            )
        )
        base = sql.SQL("SELECT * FROM {}").format(ident)
        for _ in range(COPIES - 1):
            conn.execute(sql.SQL("INSERT INTO {} ").format(ident) + base + sql.SQL(" LIMIT 300"))
        conn.execute(sql.SQL("ANALYZE {}").format(ident))
    yield schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _key(pg_dsn: str, schema: str, table: str) -> str:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        q = sql.SQL("SELECT hash_key FROM {}.{} LIMIT 1").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        return conn.execute(q).fetchone()[0]  # type: ignore[index]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_session_counts_keys_and_rows(pg_dsn: str, multirow: str, strategy: str) -> None:
    # a key of entity 0 present in both of its tables (nested: row i is in every window),
    # and one of entity 1
    k0 = _key(pg_dsn, multirow, SPEC.tables[0].table_name)
    k1 = _key(pg_dsn, multirow, SPEC.tables[2].table_name)
    s = open_session(pg_dsn, multirow, SPEC, strategy)
    try:
        r = s.execute({"ent0": k0, "ent1": k1})
    finally:
        s.close()
    assert r.error is None
    assert r.rows_looked_up == 3
    assert r.keys_found == 3  # every lookup found its key
    assert r.rows_found == COPIES + 2  # six rows from the first table, one from each other


def test_run_summary_keys_found_within_100_rows_per_lookup_above_1(
    pg_dsn: str, multirow: str, tmp_path: Path
) -> None:
    b = open_backend(pg_dsn, schema=multirow)
    try:
        out = run_benchmark(
            [b],
            SPEC,
            RunConfig(
                ratios=(100, 0),
                requests=20,
                warmup=0,
                n_keys=600,
                io_sample_every=0,
                strategies=STRATEGIES,
            ),
            out=tmp_path,
            run_id="multirow",
            sql_results=False,
        )
    finally:
        b.close()
    assert out.status == "complete"
    secs = out.summary["sections"]
    assert [s["strategy"] for s in secs] == list(STRATEGIES)
    for sec in secs:
        for r in sec["ratios"]:
            assert r["errors"] == 0
            assert 0 < r["keys_found_pct"] <= 100, (sec["strategy"], r)
            assert r["rows_per_lookup"] > 1, (sec["strategy"], r)
    # exactly what the requests' keys hold in the tables (requests.parquet x the data)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        rows_of = {
            t.table_name: dict(
                conn.execute(
                    sql.SQL("SELECT hash_key, count(*) FROM {}.{} GROUP BY 1").format(
                        sql.Identifier(multirow), sql.Identifier(t.table_name)
                    )
                ).fetchall()
            )
            for t in SPEC.tables
        }
    req = pq.read_table(tmp_path / "multirow" / "requests.parquet").to_pylist()
    for sec in secs:
        for r in sec["ratios"]:
            mine = [
                x for x in req if x["strategy"] == sec["strategy"] and x["hot_pct"] == r["hot_pct"]
            ]
            counts = [
                rows_of[t.table_name].get(x[f"{t.entity}_key"], 0)
                for x in mine
                for t in SPEC.tables
            ]
            assert r["keys_found_pct"] == pytest.approx(
                100 * sum(c > 0 for c in counts) / len(counts), abs=1e-3
            )
            assert r["rows_per_lookup"] == pytest.approx(sum(counts) / len(counts), abs=1e-3)
    assert validate_run(tmp_path / "multirow") == []
