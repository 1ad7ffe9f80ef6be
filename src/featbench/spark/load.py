"""`featbench load --engine spark`: the chunks of a PostgreSQL load as Spark tasks.

The driver does what a local load does — lock, schema, tables, plan, primary keys, ANALYZE,
verify (`backends.pgload.loader.load`) — and hands the chunk tasks to `SparkChunks`. Each
Spark task opens one connection and runs its chunks with the loader's own `Worker`: rows
generated from (seed, table, row index) and streamed with binary COPY, each chunk recorded
in `_load_chunks` in the transaction of its data. A retried or speculative task finds the
chunks its earlier attempt committed already recorded and skips them; a chunk it was in
the middle of was rolled back by the server with its connection, and is loaded again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featbench.backends.pgload.worker import ChunkDone, ChunkTask, Worker, WorkerConfig
from featbench.errors import FeatbenchError
from featbench.spark.session import task_error


@dataclass(frozen=True)
class KillMidChunk:
    """A fault for tests: the first attempt of the task loading `table`'s chunk `chunk_no`
    dies (the process exits, as a lost executor would) once the server has received rows
    of that chunk, after writing `marker` with how many it had received."""

    table: str
    chunk_no: int
    marker: str


@dataclass
class SparkChunks:
    """A `ChunkExecutor` (backends.pgload.loader) that runs chunks as Spark tasks."""

    session: Any
    partitions: int | None = None  # Spark tasks; default: the session's parallelism
    fault: KillMidChunk | None = None

    @property
    def streams(self) -> int:
        return self.partitions or int(self.session.sparkContext.defaultParallelism)

    def run(self, cfg: WorkerConfig, chunks: list[ChunkTask]) -> list[ChunkDone]:
        n = max(1, min(self.streams, len(chunks)))
        fault = self.fault
        rdd = self.session.sparkContext.parallelize(chunks, n)
        try:
            return rdd.mapPartitions(lambda part: _load_partition(cfg, part, fault)).collect()
        except Exception as e:  # a task failed on every attempt
            raise FeatbenchError(
                f"the Spark load failed: {task_error(e)}; re-run the load to resume"
            ) from None


def _load_partition(
    cfg: WorkerConfig, chunks: Iterator[ChunkTask], fault: KillMidChunk | None
) -> Iterator[ChunkDone]:
    """One Spark task: its chunks through one loader worker, in order."""
    from featbench.spark.session import task_attempt

    current: list[ChunkTask] = []
    report = _noop
    worker: Worker
    if fault is not None and task_attempt() == 0:

        def report(kind: str, *args: Any) -> None:
            t = current[0]
            if kind == "progress" and (t.table, t.chunk_no) == (fault.table, fault.chunk_no):
                _die_mid_chunk(cfg, worker, fault)

    worker = Worker(cfg, report)
    try:
        for task in chunks:
            current[:] = [task]
            t0 = time.perf_counter()
            rows, nbytes, skipped = worker.run_chunk(task)
            yield ChunkDone(
                task.table, task.chunk_no, rows, nbytes, skipped, time.perf_counter() - t0
            )
    finally:
        worker.close()


def _noop(*_: Any) -> None:
    return None


def _die_mid_chunk(cfg: WorkerConfig, worker: Worker, fault: KillMidChunk) -> None:
    """Wait until the server reports rows of the open COPY, record it, exit the process."""
    import psycopg

    pid = worker.conn.info.backend_pid
    received = 0
    with psycopg.connect(cfg.conninfo, autocommit=True) as watch:
        deadline = time.monotonic() + 60
        while received == 0 and time.monotonic() < deadline:
            row = watch.execute(
                "SELECT tuples_processed FROM pg_stat_progress_copy WHERE pid = %s", (pid,)
            ).fetchone()
            received = int(row[0]) if row else 0
            time.sleep(0.05)
    Path(fault.marker).write_text(f"{received}\n")
    os._exit(17)
