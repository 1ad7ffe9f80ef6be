"""The truth about dead runs (README "Reliability"): kill -9 and SIGTERM of a run with
`--concurrency 4` leave no process behind, and `show`/`report` say crashed or
interrupted, with every level the run finished.

The run waits at a pause point (`level-end-0`: the first level is written) when it is
killed, so what it holds is known exactly.
"""

from __future__ import annotations

import json
import signal
import time

import psutil
import pytest

from .conftest import OwnPostgres, featbench, show_json

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _all_gone(procs: list[psutil.Process], timeout: float = 60.0) -> list[psutil.Process]:
    """The processes of `procs` still alive after `timeout` (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _clients_and_tracker(family: list[psutil.Process]) -> tuple[int, int]:
    cmd = [" ".join(p.cmdline()) for p in family[1:]]
    return (
        sum("spawn_main" in c for c in cmd),
        sum("resource_tracker" in c for c in cmd),
    )


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_killed_run_leaves_no_process_and_says_so(
    loaded_pg: OwnPostgres, start_run, how: str
) -> None:
    run = start_run(loaded_pg.uri, "level-end-0", "-c", "4", run_id=f"kill-{how}")
    run.wait_reached("level-end-0")
    family = run.family()
    spawned, trackers = _clients_and_tracker(family)
    assert spawned >= 4 and trackers == 1, [p.cmdline() for p in family]
    run.proc.send_signal(getattr(signal, how))
    code, _out, err = run.finish()
    left = _all_gone(family)
    assert not left, [(p.pid, p.cmdline()) for p in left]  # no client, no resource tracker
    doc = show_json(run.run_dir)
    levels = doc["ratios"]
    assert [lv["hot_pct"] for lv in levels] == [0.0]  # the level it finished, kept
    assert levels[0]["requests"] == 100
    if how == "SIGKILL":
        assert code == -signal.SIGKILL
        assert doc["status"] == "crashed"
        shown = featbench(["show", str(run.run_dir)])
        assert "CRASHED" in shown.stdout and "is gone" in shown.stdout, shown.stdout
        cmp = featbench(["compare", str(run.run_dir), str(run.run_dir), "--json"])
        assert cmp.returncode == 0, cmp.stderr
        assert json.loads(cmp.stdout)["a"]["status"] == "crashed"
    else:
        assert code == 143, err
        assert "Traceback" not in err, err
        assert doc["status"] == "interrupted"
    # report and cost read it, marked as what it is
    rep = featbench(["report", str(run.run_dir)])
    assert rep.returncode == 0, rep.stderr
    assert (run.run_dir / "report.html").exists()
    cost = featbench(["cost", "--run", str(run.run_dir), "--qps", "100", "--json"])
    assert cost.returncode == 0, cost.stderr


def test_sighup_ends_a_run_like_ctrl_c(loaded_pg: OwnPostgres, start_run) -> None:
    run = start_run(loaded_pg.uri, "level-end-0", run_id="hup")
    run.wait_reached("level-end-0")
    run.proc.send_signal(signal.SIGHUP)
    code, _out, err = run.finish()
    assert code == 129, err
    doc = show_json(run.run_dir)
    assert doc["status"] == "interrupted"
    assert [lv["hot_pct"] for lv in doc["ratios"]] == [0.0]
