"""The contract suite against DynamoDB (moto server, or FEATBENCH_TEST_DYNAMODB_URL), both layouts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from featbench.backends.base import Backend, open_backend

from .conftest import unique_namespace
from .suite import BackendContract


class _DynamoDB(BackendContract):
    unreachable_target = "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:1"
    layout = ""

    @pytest.fixture(scope="class")
    @classmethod
    def backend_factory(cls, dynamodb_url: str) -> Iterator[Callable[[], Backend]]:
        opened: list[Backend] = []

        def make() -> Backend:
            b = open_backend(
                dynamodb_url, namespace=unique_namespace(), layout=cls.layout, progress=False
            )
            opened.append(b)
            return b

        yield make
        for b in opened:
            b.drop()  # type: ignore[attr-defined]
            b.close()


class TestDynamoDBTablePerFeatureTable(_DynamoDB):
    layout = "table-per-feature-table"


class TestDynamoDBSingleTable(_DynamoDB):
    layout = "single-table"
