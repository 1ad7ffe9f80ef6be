"""`featbench load --engine spark`: the chunks of a load as Spark tasks.

PostgreSQL. The driver does what a local load does — lock, schema, tables, plan, primary
keys, ANALYZE, verify (`backends.pgload.loader.load`) — and hands the chunk tasks to
`SparkChunks.run`. Each Spark task opens one connection and runs its chunks with the
loader's own `Worker`: rows generated from (seed, table, row index) and streamed with
binary COPY, each chunk recorded in `_load_chunks` in the transaction of its data. A
retried or speculative task finds the chunks its earlier attempt committed already
recorded and skips them; a chunk it was in the middle of was rolled back by the server
with its connection, and is loaded again.

Redis and DynamoDB. The driver does what a local load does (`kvstore.KeyValueBackend.load`:
meta records "incomplete", tables, then "complete", memory and item sizes, verify) and
hands the chunks to `SparkChunks.run_rows`. Each task opens one client and writes its
chunks with the store's own chunk-loading function (`RedisRows`, `DynamoDBRows`). These
stores have no transaction spanning a chunk, and need none: every write puts a whole item
under its row's key, so a retried or speculative task that writes a chunk again (all of it,
or the part its dead attempt did not reach) stores the same items, neither duplicating
nor losing a row. The load state is the table's meta record, completed by the driver once
the job has written every chunk; a failed job leaves it incomplete and the next load
writes the table again.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featbench.backends.kvstore import RowWriter, Written, load_chunk
from featbench.backends.pgload.worker import ChunkDone, ChunkTask, Worker, WorkerConfig
from featbench.errors import FeatbenchError
from featbench.spark.session import task_error
from featbench.spec import WorkloadSpec


@dataclass(frozen=True)
class KillMidChunk:
    """A fault for tests: the first attempt of the task loading `table`'s chunk `chunk_no`
    dies (the process exits, as a lost executor would) once the server has received rows
    of that chunk, after writing `marker` with how many it had received (a key-value
    store: once the first half of the chunk is written)."""

    table: str
    chunk_no: int
    marker: str


@dataclass
class SparkChunks:
    """Runs a load's chunks as Spark tasks: a `ChunkExecutor` (backends.pgload.loader) for
    PostgreSQL, a `RowExecutor` (backends.kvstore) for Redis and DynamoDB."""

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
            raise _failed(e) from None

    def run_rows(
        self,
        spec: WorkloadSpec,
        seed: int,
        tables: list[tuple[str, int]],
        chunk_rows: int,
        writer: RowWriter,
    ) -> list[tuple[str, Written]]:
        """A key-value load's chunks (`kvstore.RowExecutor`), one client per Spark task.

        The tasks get ranges of chunk numbers (`range`, made on the executors), not a list
        of chunks built here: a billion-row load has millions of them. Each task returns
        one `Written` per table it wrote."""
        counts = [-(-rows // chunk_rows) for _, rows in tables]
        starts = list(itertools.accumulate(counts, initial=0))
        total = starts.pop()
        n = max(1, min(self.streams, total))
        job = _RowJob(spec.model_dump(mode="json"), seed, tables, starts, chunk_rows, writer)
        fault = self.fault
        rdd = self.session.sparkContext.range(0, total, numSlices=n)
        try:
            return rdd.mapPartitions(lambda part: _write_partition(job, part, fault)).collect()
        except Exception as e:  # a task failed on every attempt
            raise _failed(e) from None


@dataclass(frozen=True)
class _RowJob:
    """What every task of a key-value load needs: chunk i of the job is chunk
    i - (chunks of the tables before it) of its table."""

    spec_json: dict[str, Any]
    seed: int
    tables: list[tuple[str, int]]  # (name, rows)
    starts: list[int]  # the job's number of each table's first chunk
    chunk_rows: int
    writer: RowWriter

    def locate(self, i: int) -> tuple[int, int]:
        """(table position, chunk number in the table) of the job's chunk i."""
        ti = bisect.bisect_right(self.starts, i) - 1
        return ti, i - self.starts[ti]


def _failed(e: BaseException) -> FeatbenchError:
    return FeatbenchError(f"the Spark load failed: {task_error(e)}; re-run the load to resume")


def _write_partition(
    job: _RowJob, chunks: Iterator[int], fault: KillMidChunk | None
) -> Iterator[tuple[str, Written]]:
    """One Spark task: its chunks through the store's writer on one client, in order."""
    from featbench.spark.session import task_attempt

    spec = WorkloadSpec.model_validate(job.spec_json)
    tables = [spec.table(name) for name, _ in job.tables]
    if fault is not None and task_attempt() != 0:
        fault = None
    done: dict[str, Written] = {}
    client = job.writer.open()
    try:
        for i in chunks:
            ti, chunk_no = job.locate(i)
            t, rows = tables[ti], job.tables[ti][1]
            a, b = chunk_no * job.chunk_rows, min(rows, (chunk_no + 1) * job.chunk_rows)
            if fault is not None and (t.table_name, chunk_no) == (fault.table, fault.chunk_no):
                half = a + (b - a) // 2
                load_chunk(job.writer, client, spec, t, job.seed, a, half)
                Path(fault.marker).write_text(f"{half - a}\n")
                os._exit(17)
            w = load_chunk(job.writer, client, spec, t, job.seed, a, b)
            done.setdefault(t.table_name, Written(0)).add(w)
    finally:
        job.writer.close(client)
    return iter(done.items())


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
        task = next(chunks, None)
        while task is not None:
            nxt = next(chunks, None)
            current[:] = [task]
            t0 = time.perf_counter()
            # the next chunk's first rows are generated while the server stores this one's
            ahead = None if nxt is None else functools.partial(worker.prefetch, nxt)
            rows, nbytes, skipped = worker.run_chunk(task, ahead)
            yield ChunkDone(
                task.table, task.chunk_no, rows, nbytes, skipped, time.perf_counter() - t0
            )
            task = nxt
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
