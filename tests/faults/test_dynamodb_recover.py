"""DynamoDB waits for an unreachable endpoint with the run's reconnect policy (README
"Reliability"): through boto3 against a moto server of the test's own on a free port,
first absent, then started."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from featbench.backends.dynamodb import DynamoDBSessionFactory, RetryPolicy
from featbench.errors import FeatbenchError
from featbench.runner.reconnect import ReconnectPolicy
from run_helpers import tiny_spec

from .conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.faults]
pytest.importorskip("moto")


def test_unreachable_endpoint_is_waited_for_then_requests_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    spec = tiny_spec(entities=1, name="ddbfault")
    factory = DynamoDBSessionFactory(
        f"http://127.0.0.1:{port}", "us-east-1", None, False, "fbfault", "per-table",
        False, RetryPolicy(max_attempts=1), spec.model_dump(mode="json"), "serial",
    )  # fmt: skip
    session = factory()
    key = {spec.entity_names[0]: "00" * 32}
    first = session.execute(key)
    assert first.error is not None  # nothing listens there
    with pytest.raises(FeatbenchError, match="cannot reach DynamoDB"):
        session.recover()
    # the policy gives up after its budget, in one line
    with pytest.raises(FeatbenchError, match=r"within 0.5 s \(--reconnect-timeout\)"):
        ReconnectPolicy(0.5).recover(session)
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        ReconnectPolicy(60.0).recover(session)  # waits until the server answers
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        again = session.execute(key)
        # reachable now: the tables do not exist there, an error of another kind
        assert again.error is not None and "ResourceNotFound" in again.error
        t0 = time.monotonic()
        session.recover()  # nothing to wait for
        assert time.monotonic() - t0 < 1.0
    finally:
        session.close()
        server.kill()
        server.wait()
