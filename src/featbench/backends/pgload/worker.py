"""Load workers: separate processes (generation is CPU-bound; the GIL would serialise
threads), each with its own connection, pulling tasks from the coordinator.

A *chunk* task generates rows [start, stop) of a table and streams them into COPY with
no intermediate file; the chunk's row in ``_load_chunks`` is inserted first, in the
same transaction, which both records the chunk atomically with its data and *claims*
it: a second writer of the same chunk (e.g. a worker orphaned by a killed load) waits
on that row and then skips the chunk, so a chunk can never be loaded twice.

Inside a chunk, a producer thread generates and encodes sub-batches while the worker's
main thread sends the previous one, so the server never waits for the generator
(numpy, the C loops and libpq's socket waits release the GIL). The thread lives as long
as the worker, and the worker takes its next task as soon as the current chunk's rows
are all sent: the next chunk's first batches are generated while the server is still
storing the current one's last, so they are ready when the next COPY opens (measured:
starting a thread per chunk and generating its first rows after the claim cost ~5 ms
per chunk, ~0.15 s of a 3.5 s load, the server idle all the while).

An *index* task builds the primary key after all chunks of a table are in, then runs
ANALYZE. Every step is idempotent, so an interrupted index task is simply redone.
"""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from featbench.backends.pgconn import Conninfo
from featbench.backends.pgload import state
from featbench.backends.pgload.encode import (
    HEADER,
    TRAILER,
    column_order,
    encode_batch,
    variable_text_columns,
)
from featbench.errors import FeatbenchError
from featbench.generate import csv_bytes, generate_batch
from featbench.spec import WorkloadSpec

# Rows generated, encoded and sent at a time inside a chunk. Measured (CPU time, fraud-30):
# 5k-row batches 1.5 M rows/CPU-s, 10k 1.9 M, 20k 2.1 M, 50k 2.1 M — numpy's per-call
# overhead dominates small batches. The first batch of a chunk is small so the server
# starts receiving rows at once instead of idling while 20k rows are generated, and the
# next ones grow by RAMP: generating a batch takes less time than the server takes to
# store the one before (generation is ~2.5x as fast), so it never waits in between.
SUB_BATCH_ROWS = 20_000
FIRST_BATCH_ROWS = 2_000
RAMP = 2.5


def sub_batches(start: int, stop: int) -> Iterator[tuple[int, int]]:
    """Row ranges of one chunk: FIRST_BATCH_ROWS, then RAMP times more each time up to
    SUB_BATCH_ROWS."""
    size = FIRST_BATCH_ROWS
    while start < stop:
        end = min(stop, start + size)
        yield start, end
        start, size = end, min(SUB_BATCH_ROWS, int(size * RAMP))


FILE_BLOCK = 1 << 20


@dataclass(frozen=True)
class ChunkTask:
    table: str
    chunk_no: int
    start: int
    stop: int
    source: str = "generate"  # "generate" | "parquet" | "csv"
    path: str | None = None  # data file (source parquet/csv)
    sha256: str | None = None  # expected checksum of the whole file's canonical CSV

    @property
    def rows(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ChunkDone:
    """What running one chunk did: `skipped` when it was already recorded as loaded."""

    table: str
    chunk_no: int
    rows: int
    nbytes: int
    skipped: bool
    seconds: float


@dataclass(frozen=True)
class IndexTask:
    table: str
    rows_expected: int


@dataclass(frozen=True)
class WorkerConfig:
    conninfo: Conninfo
    redacted: str
    schema: str
    spec_json: dict[str, Any]
    seed: int
    copy_format: str  # "binary" | "csv"
    parent_pid: int


class ChecksumMismatch(FeatbenchError):
    pass


# -- producing COPY data --------------------------------------------------------------
class _Job:
    """The items of one job of a `_Producer`, read in the order jobs were submitted."""

    def __init__(self, producer: _Producer, items: Iterator[Any]) -> None:
        self._producer, self.items = producer, items
        self.cancelled = False
        self._ended = False

    def __iter__(self) -> Iterator[Any]:
        while not self._ended:
            job, it = self._producer.get()
            assert job is self, "jobs are read in the order they were submitted"
            if it is _Producer.END:
                self._ended = True
                return
            if isinstance(it, BaseException):
                raise it
            yield it

    def close(self) -> None:
        """Stop producing this job and discard what is left of it, so that the next job's
        items come next (a chunk found loaded already, or given up on an error)."""
        self.cancelled = True
        while not self._ended:
            job, it = self._producer.get()
            assert job is self
            self._ended = it is _Producer.END


class _Producer:
    """One thread that produces the items of jobs one job after the other, in the order
    they were submitted, a bounded number of items ahead of the reader. It lives as long as
    its worker: a job submitted while the one before is still being read starts as soon as
    that one's items are all produced."""

    END = object()

    def __init__(self, maxsize: int = 2) -> None:
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._out: queue.Queue[tuple[_Job, Any]] = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, name="featbench-generate", daemon=True)
        self._th.start()

    def submit(self, items: Iterator[Any]) -> _Job:
        job = _Job(self, items)
        self._jobs.put(job)
        return job

    def get(self) -> tuple[_Job, Any]:
        return self._out.get()

    def _put(self, item: tuple[_Job, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                for it in job.items:
                    if job.cancelled or not self._put((job, it)):
                        break
            except BaseException as e:  # handed to the reader, which re-raises it
                if not self._put((job, e)):
                    return
            if not self._put((job, self.END)):
                return

    def close(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        while True:  # unblock the thread if it waits on a full queue
            try:
                self._out.get_nowait()
            except queue.Empty:
                break
        self._th.join(timeout=5)


class Worker:
    def __init__(self, cfg: WorkerConfig, report: Callable[..., None]) -> None:
        from featbench.backends import pgconn
        from featbench.spec import spec_from_dict

        self.cfg = cfg
        self.report = report
        self.spec: WorkloadSpec = spec_from_dict(cfg.spec_json)
        self.conn = pgconn.connect(cfg.conninfo, redacted=cfg.redacted)
        # COPY into a table no other session reads yet: no need to wait for the WAL flush
        # of every chunk (a crash loses at most the last chunks, which a re-run reloads).
        self.conn.execute("SET synchronous_commit = off")
        self._producer: _Producer | None = None  # started with the first generated chunk
        self._next: tuple[ChunkTask, _Job] | None = None  # a chunk generated ahead

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
        self.conn.close()

    def prefetch(self, task: ChunkTask | IndexTask) -> None:
        """Start generating `task`'s rows now, when it is the chunk this worker runs next."""
        if isinstance(task, ChunkTask) and task.source == "generate" and self._next is None:
            self._next = (task, self._submit(task))

    def _producer_started(self) -> _Producer:
        if self._producer is None:
            self._producer = _Producer()
        return self._producer

    def _submit(self, task: ChunkTask) -> _Job:
        return self._producer_started().submit(self._generated(task))

    def _job(self, task: ChunkTask) -> _Job:
        """The job generating `task`: the one started by `prefetch`, or a new one."""
        nxt, self._next = self._next, None
        if nxt is not None:
            if nxt[0] == task:
                return nxt[1]
            nxt[1].close()
        return self._submit(task)

    # -- chunks -----------------------------------------------------------------------
    def _claim(self, task: ChunkTask) -> bool:
        row = self.conn.execute(
            sql.SQL(
                "INSERT INTO {} (table_name, chunk_no, first_row, rows) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING 1"
            ).format(state.q(self.cfg.schema, state.LOAD_CHUNKS)),
            (task.table, task.chunk_no, task.start, task.rows),
        ).fetchone()
        return row is not None

    def _copy_stmt(self, table: str, columns: tuple[str, ...] | None, fmt: str) -> sql.Composed:
        cols = sql.SQL("")
        if columns is not None:
            cols = sql.SQL(" ({})").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
        return sql.SQL("COPY {}{} FROM STDIN (FORMAT {})").format(
            state.q(self.cfg.schema, table), cols, sql.SQL(fmt)
        )

    def run_chunk(
        self, task: ChunkTask, rows_sent: Callable[[], None] | None = None
    ) -> tuple[int, int, bool]:
        """Load one chunk; return (rows, bytes sent, skipped). `rows_sent` is called once
        the chunk's rows are all sent, while the server still stores the last of them: the
        moment to `prefetch` the next chunk."""
        # Generation starts before the round trips of the transaction, the claim and the
        # COPY statement (or earlier, by `prefetch`), so that the server is sent rows as
        # soon as its COPY is open.
        job = self._job(task) if task.source == "generate" else None
        try:
            with self.conn.transaction():
                if not self._claim(task):
                    return task.rows, 0, True
                if job is not None:
                    sent = self._copy_generated(task, job, rows_sent)
                elif task.source == "parquet":
                    sent = self._copy_parquet(task)
                else:
                    sent = self._copy_csv_file(task)
        finally:
            if job is not None:
                job.close()
        return task.rows, sent, False

    def _generated(self, task: ChunkTask) -> Iterator[tuple[int, Any]]:
        """(rows, COPY data) of a chunk's sub-batches, in the configured COPY format."""
        table = self.spec.table(task.table)
        seed = self.cfg.seed
        variable = variable_text_columns(self.spec, table)
        for a, b in sub_batches(task.start, task.stop):
            batch = generate_batch(self.spec, table, seed, a, b)
            if self.cfg.copy_format == "csv":
                yield b - a, csv_bytes(batch)
            else:
                yield b - a, encode_batch(batch, variable).data

    def _copy_generated(
        self,
        task: ChunkTask,
        batches: Iterable[tuple[int, Any]],
        rows_sent: Callable[[], None] | None = None,
    ) -> int:
        table = self.spec.table(task.table)
        names = [self.spec.key_column_of(table)] + [c.name for c in table.columns]
        binary = self.cfg.copy_format != "csv"
        if binary:
            stmt = self._copy_stmt(
                task.table, column_order(names, variable_text_columns(self.spec, table)), "binary"
            )
        else:
            stmt = self._copy_stmt(task.table, tuple(names), "csv")
        sent = 0
        with self.conn.cursor() as cur, cur.copy(stmt) as cp:
            if binary:
                cp.write(HEADER)
                sent += len(HEADER) + len(TRAILER)
            for rows, data in batches:
                cp.write(data)
                sent += len(data)
                self.report("progress", task.table, rows, len(data))
            if binary:
                cp.write(TRAILER)
            if rows_sent is not None:
                rows_sent()
        return sent

    def _copy_parquet(self, task: ChunkTask) -> int:
        import pyarrow.parquet as pq

        table = self.spec.table(task.table)
        names = [self.spec.key_column_of(table)] + [c.name for c in table.columns]
        variable = variable_text_columns(self.spec, table)
        h = hashlib.sha256()
        sent = rows = 0
        pf = pq.ParquetFile(task.path)  # type: ignore[arg-type]
        if pf.schema_arrow.names != names:
            raise FeatbenchError(
                f"{task.path}: columns {pf.schema_arrow.names} do not match the spec's {names}"
            )

        def batches() -> Iterator[tuple[Any, bytes]]:
            for b in pf.iter_batches(batch_size=SUB_BATCH_ROWS):
                yield encode_batch(b, variable), csv_bytes(b)

        stmt = self._copy_stmt(task.table, column_order(names, variable), "binary")
        job = self._producer_started().submit(batches())  # read and encode while sending
        try:
            with self.conn.cursor() as cur, cur.copy(stmt) as cp:
                cp.write(HEADER)
                for enc, text in job:
                    h.update(text)
                    cp.write(enc.data)
                    sent += enc.nbytes
                    rows += enc.rows
                    self.report("progress", task.table, enc.rows, enc.nbytes)
                self._check_file(task, h.hexdigest(), rows)
                cp.write(TRAILER)
        finally:
            job.close()
        return sent

    def _copy_csv_file(self, task: ChunkTask) -> int:
        h = hashlib.sha256()
        sent = 0
        lines = 0
        with open(task.path, "rb") as fh, self.conn.cursor() as cur:  # type: ignore[arg-type]
            with cur.copy(self._copy_stmt(task.table, None, "csv")) as cp:
                while block := fh.read(FILE_BLOCK):
                    h.update(block)
                    cp.write(block)
                    sent += len(block)
                    n = block.count(b"\n")
                    lines += n
                    self.report("progress", task.table, n, len(block))
                self._check_file(task, h.hexdigest(), lines)
        return sent

    def _check_file(self, task: ChunkTask, digest: str, rows: int) -> None:
        # Raised inside the COPY: the transaction rolls back, nothing of the file is kept.
        if task.sha256 and digest != task.sha256:
            raise ChecksumMismatch(
                f"{task.path} does not match the checksum in its manifest (file changed or damaged): "
                "regenerate it with featbench generate"
            )
        if rows != task.rows:
            raise ChecksumMismatch(
                f"{task.path} has {rows:,} rows, its manifest says {task.rows:,}"
            )

    # -- index ----------------------------------------------------------------------
    def run_index(self, task: IndexTask) -> float:
        t0 = time.perf_counter()
        schema = self.cfg.schema
        table = self.spec.table(task.table)
        key = self.spec.key_column_of(table)
        with self.conn.transaction():
            loaded = self.conn.execute(
                sql.SQL("SELECT coalesce(sum(rows), 0) FROM {} WHERE table_name = %s").format(
                    state.q(schema, state.LOAD_CHUNKS)
                ),
                (task.table,),
            ).fetchone()[0]  # type: ignore[index]
            if loaded != task.rows_expected:
                raise FeatbenchError(
                    f"table {schema}.{task.table}: {loaded:,} rows recorded as loaded, expected "
                    f"{task.rows_expected:,}; re-run the load"
                )
            state.set_status(self.conn, schema, task.table, "copied")
        if not state.has_primary_key(self.conn, schema, task.table, key):
            with self.conn.transaction():
                self.conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
                self.conn.execute(
                    sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                        state.q(schema, task.table), sql.Identifier(key)
                    )
                )
        self.conn.execute(sql.SQL("ANALYZE {}").format(state.q(schema, task.table)))
        state.set_status(self.conn, schema, task.table, "done")
        return time.perf_counter() - t0


def _describe_error(e: BaseException) -> str:
    if isinstance(e, FeatbenchError):
        return str(e)
    if isinstance(e, psycopg.Error):
        diag = getattr(e, "diag", None)
        primary = diag.message_primary if diag is not None and diag.message_primary else str(e)
        return f"{type(e).__name__}: {primary.splitlines()[0] if primary else ''}"
    return f"{type(e).__name__}: {e}"


_NO_TASK = object()


def worker_main(wid: int, cfg: WorkerConfig, tasks: Any, results: Any) -> None:
    """Process entry point: pull tasks until a None sentinel, report every event."""
    # Ctrl-C is handled by the coordinator, which stops workers; a worker killed mid-COPY
    # loses only its open transaction (rolled back by the server).
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def report(kind: str, *args: Any) -> None:
        results.put((kind, wid, *args))

    try:
        w = Worker(cfg, report)
    except BaseException as e:  # noqa: BLE001 - reported to the coordinator as one line
        report("error", "connect", _describe_error(e))
        return
    report("ready")
    nxt: Any = _NO_TASK  # a task taken early, while the server stored a chunk's last rows

    def take_next() -> None:
        nonlocal nxt
        try:
            nxt = tasks.get_nowait()
        except queue.Empty:
            return
        if nxt is not None:
            w.prefetch(nxt)

    try:
        while True:
            if nxt is not _NO_TASK:
                task, nxt = nxt, _NO_TASK
            else:
                try:
                    task = tasks.get(timeout=1.0)
                except queue.Empty:
                    if os.getppid() != cfg.parent_pid:  # the coordinator died: stop
                        return
                    continue
            if task is None:
                return
            try:
                if isinstance(task, ChunkTask):
                    t0 = time.perf_counter()
                    rows, nbytes, skipped = w.run_chunk(task, take_next)
                    report(
                        "chunk",
                        task.table,
                        task.chunk_no,
                        rows,
                        nbytes,
                        skipped,
                        time.perf_counter() - t0,
                    )
                else:
                    secs = w.run_index(task)
                    report("indexed", task.table, secs)
            except BaseException as e:  # noqa: BLE001
                where = (
                    f"{task.table} chunk {task.chunk_no}"
                    if isinstance(task, ChunkTask)
                    else f"{task.table} (primary key)"
                )
                report("error", where, _describe_error(e))
                return
    finally:
        w.close()


def file_task(table: str, rows: int, path: Path, fmt: str, sha256: str | None) -> ChunkTask:
    return ChunkTask(table, 0, 0, rows, source=fmt, path=str(path), sha256=sha256)
