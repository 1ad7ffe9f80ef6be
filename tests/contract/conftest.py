"""Fixtures of the contract suite: real DynamoDB endpoints (Redis: `redis_url` in
tests/conftest.py, shared with the tests outside this suite).

DynamoDB: FEATBENCH_TEST_DYNAMODB_URL when set (e.g. DynamoDB Local), otherwise
`dynamodb://embedded` (featbench's own moto server, one per test process).
Every test class writes into its own namespace and drops it afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest


def unique_namespace() -> str:
    return f"fbt_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def dynamodb_url() -> str:
    return os.environ.get("FEATBENCH_TEST_DYNAMODB_URL", "dynamodb://embedded")
