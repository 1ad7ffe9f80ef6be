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
