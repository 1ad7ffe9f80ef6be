"""The structure that keeps featbench's tail the store's: nothing runs beside a timed request.

A fake store (tests/timed_fakes.py) checks, inside every request, whether another
thread exists or ran, whether the garbage collector is on, and whether a run
listener is running; the counts come back through summary.json's backend_stats.
No timing is asserted here (timing belongs in benchmarks/tail_overhead.py).
"""

from __future__ import annotations

from pathlib import Path

from featbench.report.live import LiveDisplay
from featbench.results.reader import read_run
from featbench.runner.benchmark import RunConfig, run_benchmark
from featbench.runner.client import REWARM
from run_helpers import tiny_spec
from timed_fakes import WatchedBackend, WatchingListener

SPEC = tiny_spec(2)
REQUESTS = 3000
LEVELS = (100, 0)
WARMUP = 50


def _run(
    tmp_path: Path, *, processes: bool, concurrency: int, live: bool
) -> tuple[dict, WatchingListener, int]:
    global _LAST_BACKEND
    backend = _LAST_BACKEND = WatchedBackend(SPEC, processes=processes)
    listener = WatchingListener()
    display = LiveDisplay(len(LEVELS), 1, interactive=live)
    cfg = RunConfig(
        ratios=LEVELS, requests=REQUESTS, warmup=WARMUP, n_keys=8000, io_sample_every=0,
        seed=3, concurrency=concurrency,
    )  # fmt: skip
    try:
        out = run_benchmark(
            [backend], SPEC, cfg, out=tmp_path, run_id="watched", sql_results=False,
            listeners=[listener, display], live=display.counters, pause_every=1000,
        )  # fmt: skip
    finally:
        display.stop()
    assert out.status == "complete"
    pauses = sum(e["pauses"] for e in read_run(out.path).manifest["load"])
    return out.summary, listener, pauses


_LAST_BACKEND: WatchedBackend | None = None


def _threads_seen() -> set[str]:
    """Names of the threads an in-process run's sessions saw (for the failure message)."""
    sessions = _LAST_BACKEND.sessions if _LAST_BACKEND else []
    return set().union(*(s.seen for s in sessions))


def _unmeasured() -> int:
    """Requests run outside measured levels: the hot-set touch and every warm-up."""
    hot = 80  # 1% of 8000 keys: the touch pass covers the hot set once
    return hot + WARMUP * len(LEVELS)


def test_the_single_client_runs_alone_and_hands_records_over_only_at_pauses(
    tmp_path: Path,
) -> None:
    summary, listener, pauses = _run(tmp_path, processes=False, concurrency=1, live=True)
    (sec,) = summary["sections"]
    st = sec["backend_stats"]
    assert pauses == (REQUESTS // 1000 - 1) * len(LEVELS)  # before requests 1001 and 2001
    # after each pause the last request is repeated, unmeasured (client.REWARM)
    assert st["requests"] == REQUESTS * len(LEVELS) + _unmeasured() + REWARM * pauses
    # no other thread in the process while any request was in flight, the live display
    # included (it is a process reading shared counters)
    assert st["other_threads"] == 0, _threads_seen()
    assert st["listener_in_flight"] == 0
    # the collector is off exactly while levels are measured
    assert st["gc_enabled"] == _unmeasured()
    # records reach listeners only at pauses: full blocks of pause_every requests
    assert listener.batches == [1000] * (REQUESTS // 1000) * len(LEVELS)
    assert [r["requests"] for r in sec["ratios"]] == [REQUESTS] * len(LEVELS)


def test_worker_processes_run_alone_too(tmp_path: Path) -> None:
    summary, listener, pauses = _run(tmp_path, processes=True, concurrency=2, live=False)
    (sec,) = summary["sections"]
    st = sec["backend_stats"]  # summed over both clients' sessions
    assert st["requests"] == REQUESTS * len(LEVELS) + _unmeasured() + REWARM * pauses
    assert st["other_threads"] == 0  # each client process has no thread but its loop
    assert st["gc_enabled"] == _unmeasured()
    assert st["listener_in_flight"] == 0  # listeners run in the parent, never in a client
    assert sum(listener.batches) == REQUESTS * len(LEVELS)
    assert max(listener.batches) <= 1000
