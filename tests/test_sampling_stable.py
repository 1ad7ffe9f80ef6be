"""Key sampling does not depend on statistics that autovacuum changes behind our back.

Seen as a flaky "same seed, same keys" test: TABLESAMPLE's percentage was sized from
pg_class.reltuples, which ANALYZE (autovacuum's, at any moment) re-estimates; another
percentage picks other pages, so the same seed gave other keys. Here reltuples is
changed by hand between two samplings of a multi-page table: the keys must not change.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from featbench.backends import pg_requests
from run_helpers import fill_tables, tiny_spec

SPEC = tiny_spec(1, rows=20_000, name="sampling-stable")


def test_same_seed_same_keys_when_reltuples_changes(pg_dsn: str, pg_schema: str) -> None:
    fill_tables(pg_dsn, pg_schema, SPEC)
    e = SPEC.entity_names[0]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        pages = [
            conn.execute(
                "SELECT pg_relation_size(%s::regclass) / 8192",
                (f'"{pg_schema}"."{t.table_name}"',),
            ).fetchone()[0]
            for t in SPEC.tables
        ]
        assert min(pages) > 20  # TABLESAMPLE picks among many pages
        first = pg_requests.sample_keys(conn, pg_schema, SPEC, e, 200, seed=5)
        for factor in (0.2, 7.0):  # what a stale or re-estimated statistic looks like
            conn.execute(
                sql.SQL(
                    "UPDATE pg_class SET reltuples = reltuples * {} WHERE relnamespace = "
                    "{}::regnamespace AND relkind = 'r'"
                ).format(sql.Literal(factor), sql.Literal(pg_schema))
            )
            assert pg_requests.sample_keys(conn, pg_schema, SPEC, e, 200, seed=5) == first
        assert pg_requests.sample_keys(conn, pg_schema, SPEC, e, 200, seed=6) != first
        assert len(first) >= 200 and len(set(first)) == len(first)
