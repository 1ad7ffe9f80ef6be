"""The contract suite against PostgreSQL (FEATBENCH_TEST_PG_DSN, else an embedded pgserver)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from featbench.backends.base import Backend, open_backend

from .conftest import unique_namespace
from .suite import BackendContract


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class TestPostgresContract(BackendContract):
    unreachable_target = "postgresql://postgres@127.0.0.1:1/test"

    @pytest.fixture(scope="class")
    @classmethod
    def backend_factory(cls, pg_dsn: str) -> Iterator[Callable[[], Backend]]:
        # Class-scoped like the other backends' (one load per class); the function-scoped
        # `pg_schema` fixture cannot serve a class, so schemas are named and dropped here
        # the same way.
        opened: list[tuple[Backend, str]] = []

        def make() -> Backend:
            schema = unique_namespace()
            b = open_backend(pg_dsn, schema=schema)
            opened.append((b, schema))
            return b

        yield make
        for b, schema in opened:
            b.close()
            drop_schema(pg_dsn, schema)


def test_drop_leaves_what_is_not_featbench_s(pg_dsn: str, pg_schema: str) -> None:
    """drop(): featbench's tables and bookkeeping go; a user's table in the same schema stays
    (and so does the schema); a schema featbench created and that holds nothing else goes."""
    import psycopg
    from psycopg import sql

    from .suite import CUSTOM_SCALE, SEED, custom_spec

    spec = custom_spec()
    b = open_backend(pg_dsn, schema=pg_schema)
    try:
        b.load(spec, CUSTOM_SCALE, SEED, streams=1)
        mine = sql.Identifier(pg_schema, "mine")
        with psycopg.connect(pg_dsn, autocommit=True) as c:
            c.execute(sql.SQL("CREATE TABLE {} (x int)").format(mine))
            c.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(mine))
        dropped = b.drop()
        assert {t.table_name for t in spec.tables} <= set(dropped) and pg_schema not in dropped
        with psycopg.connect(pg_dsn, autocommit=True) as c:
            assert c.execute(sql.SQL("SELECT x FROM {}").format(mine)).fetchall() == [(1,)]
    finally:
        b.close()
    fresh = unique_namespace()
    b = open_backend(pg_dsn, schema=fresh)
    try:
        b.load(spec, CUSTOM_SCALE, SEED, streams=1)
        assert fresh in b.drop()
        with psycopg.connect(pg_dsn, autocommit=True) as c:
            gone = c.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (fresh,)
            ).fetchone()
        assert gone == (0,)
    finally:
        b.close()
        drop_schema(pg_dsn, fresh)
