"""Pure parts of the reliability work: the reconnect budget, dead-run detection, the
options that configure them, pause points. No server, fast."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from featbench.errors import ConnectionLost, FeatbenchError
from featbench.pausepoint import pause_point
from featbench.results.reader import crash_reason, run_status
from featbench.results.rundir import iso, process_info
from featbench.runner.config import RunConfig
from featbench.runner.reconnect import ReconnectPolicy
from featbench.runner.signals import Interrupted, exit_code


def test_policy_retries_until_the_connection_is_back() -> None:
    calls: list[float] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 4:
            raise ConnectionLost("gone")
        return "ok"

    assert ReconnectPolicy(5.0).call(flaky, "reading") == "ok"
    assert len(calls) == 4
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert gaps[1] >= 0.04 and gaps[2] >= gaps[1]  # backoff grows


def test_policy_gives_up_after_its_budget_with_one_line() -> None:
    t0 = time.monotonic()

    def down() -> None:
        raise ConnectionLost("connection refused")

    with pytest.raises(FeatbenchError, match=r"within 0.3 s \(--reconnect-timeout\)"):
        ReconnectPolicy(0.3).call(down, "reading cache counters")
    assert 0.3 <= time.monotonic() - t0 < 3.0


def test_policy_does_not_retry_other_errors() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise FeatbenchError("table missing")

    with pytest.raises(FeatbenchError, match="table missing"):
        ReconnectPolicy(5.0).call(broken, "x")
    assert calls == [1]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_reconnect_timeout_must_be_finite_and_positive(bad: float) -> None:
    with pytest.raises(FeatbenchError, match="--reconnect-timeout"):
        RunConfig.from_options(reconnect_timeout_s=bad)


def _manifest(**proc: object) -> dict:
    return {"status": "running", "process": proc}


def test_a_running_run_of_a_live_process_is_running() -> None:
    m = {"status": "running", "process": process_info(120.0)}  # this very process
    assert crash_reason(m) is None and run_status(m) == "running"


def test_a_running_run_whose_process_is_gone_is_crashed() -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # reaped: the pid is free
    m = _manifest(
        pid=p.pid, host=socket.gethostname(), heartbeat_at=iso(datetime.now(timezone.utc))
    )
    assert run_status(m) == "crashed"
    assert f"pid {p.pid}" in (crash_reason(m) or "")


def test_a_reused_pid_is_not_the_run() -> None:
    m = {"status": "running", "process": process_info(120.0)}
    m["process"]["process_started_at"] = "2001-01-01T00:00:00.000Z"
    assert run_status(m) == "crashed"


def test_elsewhere_a_stale_heartbeat_means_crashed() -> None:
    now = datetime.now(timezone.utc)
    fresh = _manifest(pid=1, host="another-host", heartbeat_at=iso(now), stale_after_s=120)
    stale = _manifest(
        pid=1, host="another-host", heartbeat_at=iso(now - timedelta(seconds=600)),
        stale_after_s=120,
    )  # fmt: skip
    assert run_status(fresh) == "running"
    assert run_status(stale) == "crashed"
    assert "no heartbeat from another-host" in (crash_reason(stale) or "")


def test_finished_and_old_runs_keep_their_status() -> None:
    assert run_status({"status": "complete", "process": {"pid": 999999999}}) == "complete"
    assert run_status({"status": "running"}) == "running"  # no process recorded: cannot tell


def test_exit_codes_of_signals() -> None:
    import signal

    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(Interrupted(signal.SIGTERM)) == 143
    assert exit_code(Interrupted(signal.SIGHUP)) == 129


def test_pause_point_waits_for_its_go_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pause_point("nowhere")  # not asked for: returns at once
    monkeypatch.setenv("FEATBENCH_TEST_PAUSE_AT", "here")
    monkeypatch.setenv("FEATBENCH_TEST_PAUSE_DIR", str(tmp_path))
    (tmp_path / "here.go").touch()
    pause_point("here")
    assert (tmp_path / "here.reached").read_text() == str(os.getpid())
