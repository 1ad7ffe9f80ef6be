"""The loader's task queue and the worker's generate-ahead threads (pure units, no server)."""

from __future__ import annotations

import threading
import time

import pytest

from featbench.backends.pgload.loader import _Tasks
from featbench.backends.pgload.worker import ChunkTask, IndexTask, _Producer


def test_a_table_is_prepared_before_its_first_chunk_and_in_table_order() -> None:
    done: list[str] = []
    tasks = _Tasks()
    for name in ("a", "b", "c"):
        chunks = iter([ChunkTask(name, 0, 0, 5), ChunkTask(name, 1, 5, 9)])
        tasks.add_chunks(chunks, 2, lambda name=name: done.append(name))
    assert len(tasks) == 6 and done == [] and tasks.pending
    assert tasks.popleft() == ChunkTask("a", 0, 0, 5) and done == ["a"]
    assert tasks.prepare_next() and done == ["a", "b"]  # ahead of its chunks
    tasks.appendleft(IndexTask("a", 9))
    got = [tasks.popleft() for _ in range(len(tasks))]
    assert got[0] == IndexTask("a", 9) and [t.table for t in got[1:]] == ["a", "b", "b", "c", "c"]
    assert done == ["a", "b", "c"]  # each once
    assert not tasks.prepare_next() and not tasks.pending


def test_prepare_all_runs_every_step_once() -> None:
    done: list[str] = []
    tasks = _Tasks()
    for name in ("a", "b"):
        tasks.add_chunks(iter([ChunkTask(name, 0, 0, 1)]), 1, lambda name=name: done.append(name))
    tasks.add_chunks(iter([ChunkTask("c", 0, 0, 1)]), 1)  # already created: nothing to prepare
    tasks.prepare_all()
    assert done == ["a", "b"]
    assert [tasks.popleft().table for _ in range(3)] == ["a", "b", "c"] and done == ["a", "b"]


def _alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "featbench-generate"]


def test_producer_runs_jobs_in_order_and_starts_the_next_before_it_is_read() -> None:
    b_started = threading.Event()

    def b_items():  # type: ignore[no-untyped-def]
        b_started.set()
        yield from "xy"

    prod = _Producer()
    try:
        a = prod.submit(iter(range(5)))
        b = prod.submit(b_items())
        assert list(a) == list(range(5))
        # the next job's items are produced while nobody reads them yet (a chunk's first
        # batches, generated while the server stores the previous chunk's last rows)
        assert b_started.wait(5)
        assert list(b) == ["x", "y"]
    finally:
        prod.close()
    assert not _alive()


def test_producer_job_closed_half_read_leaves_the_next_job_intact() -> None:
    produced: list[int] = []

    def counting():  # type: ignore[no-untyped-def]
        for i in range(1000):
            produced.append(i)
            yield i

    prod = _Producer()
    try:
        a = prod.submit(counting())
        b = prod.submit(iter("bc"))
        it = iter(a)
        assert next(it) == 0
        a.close()  # e.g. the chunk was found loaded already
        assert len(produced) < 1000  # it stopped producing, not only discarded
        assert list(b) == ["b", "c"]
    finally:
        prod.close()
    assert not _alive()


def test_producer_hands_over_a_jobs_error_and_goes_on() -> None:
    def failing():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("boom")

    prod = _Producer()
    try:
        a = prod.submit(failing())
        b = prod.submit(iter([2]))
        with pytest.raises(ValueError, match="boom"):
            list(a)
        a.close()
        assert list(b) == [2]
    finally:
        prod.close()
    assert not _alive()


def test_producer_closed_while_blocked_stops_its_thread() -> None:
    def endless():  # type: ignore[no-untyped-def]
        n = 0
        while True:
            yield n
            n += 1

    prod = _Producer()
    prod.submit(endless())
    time.sleep(0.05)  # let it fill its queue and block
    prod.close()
    assert not _alive()


def test_generating_and_encoding_never_import_pandas() -> None:
    """pyarrow's `pa.array`/`to_numpy`/scalar conversions import pandas on first use when it
    is installed (~0.25 CPU-seconds): every load worker process would pay it again."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from featbench.spec import builtin_spec\n"
        "from featbench.generate import generate_batch\n"
        "from featbench.backends.pgload.encode import encode_batch, variable_text_columns\n"
        "s = builtin_spec()\n"
        "for t in s.tables:\n"
        "    encode_batch(generate_batch(s, t, 1, 0, 50), variable_text_columns(s, t))\n"
        "assert 'pandas' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
