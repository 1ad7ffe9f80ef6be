"""`featbench load`: the coordinator.

1. Take the schema's load lock (a second concurrent load is refused).
2. Make the schema featbench's and check the data set it holds (`state.prepare_schema`).
3. Plan: every table not yet `done` is cut into chunks of rows; chunks already recorded
   in `_load_chunks` are skipped, so a re-run resumes where the last one stopped. Tables
   to create are created one by one while the workers copy the ones created before.
4. K worker processes pull chunks (COPY) and, as soon as a table's chunks are all in,
   its index task (primary key, ANALYZE) — ahead of further chunks, so indexing one
   table overlaps the copying of the next.
5. Verify, exactly as `featbench verify` does.

Ctrl-C: the coordinator terminates the workers; the server rolls back their open
chunk transactions, and everything committed is recorded — the database stays
consistent and the next run resumes.
"""

from __future__ import annotations

import functools
import json
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from featbench.backends.base import LoadReport
from featbench.backends.pgload import state
from featbench.backends.pgload.progress import LoadProgress
from featbench.backends.pgload.worker import (
    ChunkDone,
    ChunkTask,
    IndexTask,
    Worker,
    WorkerConfig,
    file_task,
    worker_main,
)
from featbench.datafiles import MANIFEST
from featbench.errors import FeatbenchError
from featbench.generate import chunk_ranges
from featbench.pausepoint import pause_point
from featbench.progress import interruptible
from featbench.spec import WorkloadSpec, check_scale, scaled_rows

if TYPE_CHECKING:
    from featbench.backends.postgres import PostgresBackend

DEFAULT_CHUNK_ROWS = 100_000  # rows per COPY transaction: the unit of resuming
# Tasks queued per ready worker: the one it runs and the next, which it takes while the
# server stores the current chunk's last rows and starts generating (worker.py).
PREFETCH = 2
COPY_FORMATS = ("binary", "csv")


@dataclass
class PgLoadReport(LoadReport):
    """LoadReport plus what a PostgreSQL load did (all figures measured, never invented)."""

    schema: str = ""
    streams: int = 0
    copy_format: str = "binary"
    source: str = "generate"
    chunks_loaded: int = 0
    chunks_skipped: int = 0
    rows_skipped: int = 0
    copy_seconds: float | None = None  # first chunk start -> last chunk end
    index_seconds: float | None = None  # sum of primary key + ANALYZE time over tables
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def mb_per_s(self) -> float | None:
        if not self.copy_seconds or not self.bytes:
            return None
        return self.bytes / 1e6 / self.copy_seconds

    @property
    def rows_per_s(self) -> float | None:
        if not self.copy_seconds or not self.rows:
            return None
        return self.rows / self.copy_seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "tables_loaded": self.tables_loaded,
            "tables_skipped": self.tables_skipped,
            "rows": self.rows,
            "rows_skipped": self.rows_skipped,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "copy_seconds": None if self.copy_seconds is None else round(self.copy_seconds, 3),
            "index_seconds": None if self.index_seconds is None else round(self.index_seconds, 3),
            "rows_per_s": None if self.rows_per_s is None else round(self.rows_per_s),
            "mb_per_s": None if self.mb_per_s is None else round(self.mb_per_s, 2),
            "streams": self.streams,
            "copy_format": self.copy_format,
            "source": self.source,
            "chunks_loaded": self.chunks_loaded,
            "chunks_skipped": self.chunks_skipped,
            "notes": self.notes,
            "ok": self.ok,
            "checks": [
                {"table": c.table, "ok": c.ok, "rows": c.rows, "problems": c.problems}
                for c in self.checks
            ],
        }


class ChunkExecutor(Protocol):
    """Runs chunk tasks somewhere other than this machine's worker processes (e.g. Spark
    tasks, `featbench.spark.load`). Each chunk must go through `Worker.run_chunk`, which
    records it in `_load_chunks` in the transaction of its COPY: a chunk run twice (a
    retried or speculative task) is skipped the second time, never loaded twice."""

    streams: int  # how many chunks run at once, as the report shows it

    def run(self, cfg: WorkerConfig, chunks: list[ChunkTask]) -> list[ChunkDone]: ...


def default_streams() -> int:
    return max(1, os.cpu_count() or 1)


# -- data sets on disk ------------------------------------------------------------------
def read_manifest(from_dir: Path) -> dict[str, Any]:
    path = from_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise FeatbenchError(
            f"{path} does not exist: point --from-dir at a directory written by featbench generate"
        ) from None
    except (OSError, ValueError) as e:
        raise FeatbenchError(f"{path} is not a readable featbench manifest: {e}") from None
    for k in ("spec_fingerprint", "scale", "seed", "format", "tables"):
        if k not in manifest:
            raise FeatbenchError(
                f"{path}: field {k!r} is missing; regenerate the data with featbench generate"
            )
    return manifest


def _file_tasks(
    spec: WorkloadSpec, scale: float, seed: int, from_dir: Path
) -> dict[str, ChunkTask]:
    m = read_manifest(from_dir)
    where = from_dir / MANIFEST
    if m["spec_fingerprint"] != spec.fingerprint():
        raise FeatbenchError(
            f"{where} was generated from another spec (fingerprint {m['spec_fingerprint'][:12]}, this spec "
            f"{spec.fingerprint()[:12]}): pass --spec {from_dir / 'spec.toml'}"
        )
    if float(m["scale"]) != float(scale) or int(m["seed"]) != int(seed):
        raise FeatbenchError(
            f"{where} holds scale {m['scale']} seed {m['seed']}, not scale {scale:g} seed {seed}: "
            "pass the manifest's --scale and --seed (or omit them)"
        )
    fmt = m["format"]
    if fmt not in ("parquet", "csv"):
        raise FeatbenchError(f"{where}: unknown format {fmt!r}")
    out: dict[str, ChunkTask] = {}
    for t in spec.tables:
        entry = m["tables"].get(t.table_name)
        if entry is None:
            raise FeatbenchError(f"{where} has no table {t.table_name}; regenerate the data")
        path = from_dir / entry["file"]
        if not path.is_file():
            raise FeatbenchError(f"{path} is missing (listed in {where}); regenerate the data")
        if int(entry["rows"]) != scaled_rows(t, scale):
            raise FeatbenchError(
                f"{where}: {t.table_name} has {entry['rows']} rows, the spec says {scaled_rows(t, scale)}"
            )
        out[t.table_name] = file_task(
            t.table_name, int(entry["rows"]), path, fmt, entry.get("sha256")
        )
    return out


# -- the plan -----------------------------------------------------------------------------
class _Tasks:
    """The load's task queue: tasks put in front (index tasks), then each table's chunk
    tasks, made only when a worker is ready for one — nothing grows with the scale.

    A table's chunks may come with a `prepare` step (creating the table and its state
    row): it runs before the first of them is handed out at the latest, and earlier when
    the coordinator has nothing else to do (`prepare_next`), so that creating 30 tables
    overlaps the copying of the first instead of delaying it."""

    def __init__(self) -> None:
        self._front: deque[ChunkTask | IndexTask] = deque()
        self._chunks: deque[Iterator[ChunkTask]] = deque()
        self._prepare: deque[Callable[[], None]] = deque()  # in table order
        self._n = 0

    def add_chunks(
        self, tasks: Iterator[ChunkTask], n: int, prepare: Callable[[], None] | None = None
    ) -> None:
        if n:
            if prepare is not None:
                step = _Once(prepare)
                self._prepare.append(step)
                tasks = _after(step, tasks)
            self._chunks.append(tasks)
            self._n += n

    def prepare_next(self) -> bool:
        """Run the next pending prepare step; False when none is left."""
        while self._prepare:
            step = self._prepare.popleft()
            if not step.done:
                step()
                return True
        return False

    @property
    def pending(self) -> bool:
        """Whether a prepare step may still be waiting to run."""
        return bool(self._prepare)

    def prepare_all(self) -> None:
        while self.prepare_next():
            pass

    def appendleft(self, task: ChunkTask | IndexTask) -> None:
        self._front.appendleft(task)
        self._n += 1

    def popleft(self) -> ChunkTask | IndexTask:
        self._n -= 1
        if self._front:
            return self._front.popleft()
        while True:
            task = next(self._chunks[0], None)
            if task is not None:
                return task
            self._chunks.popleft()

    def __len__(self) -> int:
        return self._n


class _Once:
    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn, self.done = fn, False

    def __call__(self) -> None:
        if not self.done:
            self.fn()
            self.done = True


def _after(step: _Once, tasks: Iterator[ChunkTask]) -> Iterator[ChunkTask]:
    step()  # runs when the first task is asked for, if it has not run yet
    yield from tasks


def _chunk_tasks(
    name: str, rows: int, chunk_rows: int, done: dict[int, int]
) -> Iterator[ChunkTask]:
    for no, (a, b) in enumerate(chunk_ranges(rows, chunk_rows)):
        if no not in done:
            yield ChunkTask(name, no, a, b)


@dataclass
class _TablePlan:
    name: str
    rows: int
    chunks_total: int
    chunks_done: int
    rows_done: int
    bytes_est: int
    done: bool = False


def _plan(
    conn: Any,
    schema: str,
    spec: WorkloadSpec,
    scale: float,
    chunk_rows: int,
    files: dict[str, ChunkTask] | None,
    notes: list[str],
    build_keys: bool = True,
) -> tuple[list[_TablePlan], _Tasks]:
    """The tables' plans and the task queue. Tables to create (or start over) are created
    by the queue's prepare steps, on `conn`, each in its own transaction."""
    st = state.read_state(conn, schema)
    existing = state.relation_names(conn, schema)
    source = files[next(iter(files))].source if files else "generate"
    plans: list[_TablePlan] = []
    tasks = _Tasks()
    index_first: list[IndexTask] = []
    for t in spec.tables:
        name = t.table_name
        rows = scaled_rows(t, scale)
        this_chunk = rows if files else chunk_rows
        s = st.get(name)
        start: bool | None = None  # create the table (False), start it over (True), or keep it
        if s is not None and name not in existing:
            notes.append(f"{name}: recorded as featbench's but missing, loading it again")
            start = True
        elif s is None:
            start = False
        elif (
            s.status != "done" and s.chunks_done and (files is not None) != (s.source != "generate")
        ):
            # A half-loaded table whose chunks were cut differently: start it over.
            notes.append(f"{name}: half-loaded from another source, loading it again")
            start = True
        create: Callable[[], None] | None = None
        if start is not None:
            create = functools.partial(
                state.ensure_table, conn, schema, spec, t, rows, this_chunk, source, replace=start
            )
            s = state.TableState(name, "loading", rows, this_chunk, source, {})
        plan = _TablePlan(name, rows, 0, 0, 0, rows * spec.row_bytes(t))
        plans.append(plan)
        if s.status == "done":
            plan.done = True
            continue
        chunk = s.chunk_rows if s.chunk_rows > 0 else rows
        plan.chunks_total = -(-rows // chunk)
        done = {no: n for no, n in s.chunks_done.items() if no < plan.chunks_total}
        plan.chunks_done, plan.rows_done = len(done), sum(done.values())
        todo = plan.chunks_total - plan.chunks_done
        if done and todo:
            notes.append(
                f"{name}: resuming, {plan.chunks_done} of {plan.chunks_total} chunks already loaded"
            )
        if not todo:
            if create is not None:  # never: a table has at least one row, hence one chunk
                create()
            index_first.append(IndexTask(name, rows))
        elif files:
            tasks.add_chunks(iter([files[name]]), 1, create)
        else:
            tasks.add_chunks(_chunk_tasks(name, rows, chunk, done), todo, create)
    if build_keys:
        for t in reversed(index_first):
            tasks.appendleft(t)
    return plans, tasks


# -- running ------------------------------------------------------------------------------
def load(
    backend: PostgresBackend,
    spec: WorkloadSpec,
    scale: float,
    seed: int,
    *,
    streams: int,
    force: bool = False,
    from_dir: Path | None = None,
    progress: bool | None = None,
    chunk_rows: int | None = None,
    verify_sample: int = 20,
    copy_format: str = "binary",
    build_keys: bool = True,
    verify: bool = True,
    executor: ChunkExecutor | None = None,
) -> PgLoadReport:
    """Load (or resume loading) a data set; see the module docstring.

    `executor`: run the chunks there instead of in K local worker processes; primary
    keys and ANALYZE are then built here, after every chunk is in.

    `build_keys=False` and `verify=False` exist for benchmarks/load_throughput.py, which
    times the COPY phase alone against psql's COPY; the tables are then left without
    primary keys (status `loading`) and the next normal load finishes them.
    """
    check_scale(scale)
    if streams < 1:
        raise FeatbenchError(f"--streams must be at least 1, got {streams}")
    if copy_format not in COPY_FORMATS:
        raise FeatbenchError(
            f"copy format must be one of {', '.join(COPY_FORMATS)}, not {copy_format!r}"
        )
    chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
    if chunk_rows < 1:
        raise FeatbenchError(f"chunk rows must be at least 1, got {chunk_rows}")
    files = _file_tasks(spec, scale, seed, from_dir) if from_dir is not None else None
    schema = backend.schema
    t_start = time.perf_counter()
    report = PgLoadReport(
        0,
        0,
        0,
        0,
        0.0,
        schema=schema,
        streams=streams,
        copy_format=copy_format,
        source=(next(iter(files.values())).source if files else "generate"),
    )
    # The lock lives on its own connection, held for the whole load.
    lock_conn = backend.connect()
    lock_conn.execute("SET synchronous_commit = off")  # bookkeeping only; a re-run redoes it
    pool: _Pool | None = None
    try:
        state.acquire_load_lock(lock_conn, schema, backend.redacted)
        report.notes += state.prepare_schema(
            lock_conn, schema, spec, scale, seed, force=force, target=backend.redacted
        )
        if executor is not None:
            report.streams = executor.streams
            with lock_conn.transaction():
                plans, tasks = _plan(
                    lock_conn, schema, spec, scale, chunk_rows, files, report.notes, False
                )
            tasks.prepare_all()
            report.tables_skipped = sum(p.done for p in plans)
            cfg = cfg_for(backend, schema, spec, seed, copy_format)
            # Spark needs the chunks as one list (the local pool takes them lazily)
            chunks = [t for t in (tasks.popleft() for _ in range(len(tasks)))]
            _run_elsewhere(executor, cfg, plans, chunks, report, build_keys)  # type: ignore[arg-type]
            report.seconds = time.perf_counter() - t_start
            if verify:
                report.checks = backend.verify(spec, scale, seed, sample=verify_sample)
            return report
        # Start the workers now (when there is work) so that their start-up overlaps
        # the creation of the tables.
        k = min(
            streams, _work_estimate(lock_conn, schema, spec, scale, chunk_rows, files is not None)
        )
        if k > 0:
            pool = _Pool(cfg_for(backend, schema, spec, seed, copy_format), k)
        with lock_conn.transaction():
            plans, tasks = _plan(
                lock_conn, schema, spec, scale, chunk_rows, files, report.notes, build_keys
            )
        report.tables_skipped = sum(p.done for p in plans)
        if tasks and pool is None:  # the estimate is an upper bound: never happens, but be safe
            pool = _Pool(
                cfg_for(backend, schema, spec, seed, copy_format), min(streams, len(tasks))
            )
        if pool is not None:
            if tasks:
                _run(pool, plans, tasks, report, progress, build_keys)
            pool.close()
        report.seconds = time.perf_counter() - t_start
        if verify:
            report.checks = backend.verify(spec, scale, seed, sample=verify_sample)
    finally:
        if pool is not None:
            pool.terminate()  # no-op after a clean close; stops workers on errors and Ctrl-C
        lock_conn.close()  # releases the advisory lock
    return report


def cfg_for(
    backend: PostgresBackend, schema: str, spec: WorkloadSpec, seed: int, copy_format: str
) -> WorkerConfig:
    return WorkerConfig(
        conninfo=backend.conninfo,
        redacted=backend.redacted,
        schema=schema,
        spec_json=spec.model_dump(mode="json"),
        seed=seed,
        copy_format=copy_format,
        parent_pid=os.getpid(),
    )


def _work_estimate(
    conn: Any, schema: str, spec: WorkloadSpec, scale: float, chunk_rows: int, from_files: bool
) -> int:
    """Upper bound of the tasks a load will run (0: nothing to do), from the recorded state."""
    st = state.read_state(conn, schema)
    existing = state.relation_names(conn, schema)
    n = 0
    for t in spec.tables:
        s = st.get(t.table_name)
        if s is not None and s.status == "done" and t.table_name in existing:
            continue
        rows = scaled_rows(t, scale)
        n += (1 if from_files else -(-rows // chunk_rows)) + 1  # chunks + the index task
    return n


def _start_method() -> str:
    """fork when it is safe (no other threads: nothing can hold a lock the child needs),
    which starts workers in milliseconds; spawn otherwise (e.g. inside a test runner or an
    application with threads), which re-imports numpy/pyarrow in each worker (~1 s)."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


class _Pool:
    """K worker processes, a shared task queue and a result queue."""

    def __init__(self, cfg: WorkerConfig, k: int) -> None:
        self.k = k
        ctx = mp.get_context(_start_method())
        self.task_q: Any = ctx.Queue()
        self.result_q: Any = ctx.Queue()
        self.procs = [
            ctx.Process(target=worker_main, args=(i, cfg, self.task_q, self.result_q), daemon=True)
            for i in range(k)
        ]
        _start_workers(self.procs)

    def close(self) -> None:
        for _ in self.procs:
            self.task_q.put(None)
        for p in self.procs:
            p.join(timeout=30)
        self._close_queues()

    def _close_queues(self) -> None:
        # Ends the queues' feeder threads: one left alive would make the next load in
        # this process (a notebook, a benchmark) start its workers with spawn, not fork.
        for q in (self.task_q, self.result_q):
            q.close()
            q.join_thread()

    def terminate(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()  # mid-COPY: the server rolls the chunk's transaction back
        for p in self.procs:
            p.join(timeout=10)
        self.task_q.cancel_join_thread()
        self.result_q.cancel_join_thread()
        self._close_queues()


def _run_elsewhere(
    executor: ChunkExecutor,
    cfg: WorkerConfig,
    plans: list[_TablePlan],
    chunks: list[ChunkTask],
    report: PgLoadReport,
    build_keys: bool,
) -> None:
    """Every chunk through `executor`, then each unfinished table's primary key here."""
    t0 = time.perf_counter()
    loaded_tables: set[str] = set()
    if chunks:
        for d in executor.run(cfg, chunks):
            if d.skipped:
                report.chunks_skipped += 1
                report.rows_skipped += d.rows
            else:
                report.chunks_loaded += 1
                report.rows += d.rows
                report.bytes += d.nbytes
                loaded_tables.add(d.table)
        if report.rows:
            report.copy_seconds = time.perf_counter() - t0
    if build_keys:
        index_secs = 0.0
        worker = Worker(cfg, lambda *_: None)
        try:
            for p in plans:
                if not p.done:
                    index_secs += worker.run_index(IndexTask(p.name, p.rows))
                    loaded_tables.add(p.name)
        finally:
            worker.close()
        report.index_seconds = index_secs if loaded_tables else None
    report.tables_loaded = len(loaded_tables)


def _start_workers(procs: list[Any]) -> None:
    """Start workers without re-running the caller's script in each of them.

    `spawn` re-executes the __main__ *file* in every child (to find pickled functions);
    a script that calls `load` without an `if __name__ == "__main__"` guard would then
    start loads recursively. The workers need nothing from __main__, so hide its file
    while they start.
    """
    main = sys.modules.get("__main__")
    hide = (
        main is not None and getattr(main, "__spec__", None) is None and hasattr(main, "__file__")
    )
    saved = main.__dict__.pop("__file__") if hide else None  # type: ignore[union-attr]
    try:
        for p in procs:
            p.start()
    finally:
        if hide:
            main.__file__ = saved  # type: ignore[union-attr]


def _run(
    pool: _Pool,
    plans: list[_TablePlan],
    tasks: _Tasks,
    report: PgLoadReport,
    progress: bool | None,
    build_keys: bool = True,
) -> None:
    task_q, result_q, procs, k = pool.task_q, pool.result_q, pool.procs, pool.k
    by_name = {p.name: p for p in plans}
    # Tasks go to one shared queue and any idle worker takes the next one, so the
    # coordinator only counts: at most PREFETCH outstanding tasks per ready worker.
    ready = 0
    outstanding = 0
    reported = [0] * k  # rows of the current chunk already shown as progress, per worker
    copy_t0: float | None = None
    copy_t1: float | None = None
    index_secs = 0.0
    loaded_tables: set[str] = set()

    def refill() -> None:
        nonlocal outstanding
        while tasks and outstanding < ready * PREFETCH:
            task_q.put(tasks.popleft())
            outstanding += 1

    prog = LoadProgress(plans, enabled=progress)
    with interruptible() as stop, prog:
        while tasks or outstanding:
            stop.check()  # Ctrl-C: at most half a second later, between two messages
            try:
                # tables still to create: create one between two messages, while the
                # workers copy the tables created already
                msg = result_q.get(timeout=0.5) if not tasks.pending else result_q.get_nowait()
            except queue.Empty:
                if tasks.prepare_next():
                    continue
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise FeatbenchError(
                        f"a load worker died (exit code {dead[0].exitcode}); re-run the load to resume"
                    ) from None
                if not any(p.is_alive() for p in procs):
                    raise FeatbenchError(
                        "all load workers stopped unexpectedly; re-run the load to resume"
                    ) from None
                continue
            kind, wid = msg[0], msg[1]
            if kind == "ready":
                if copy_t0 is None:
                    copy_t0 = time.perf_counter()
                ready += 1
                refill()
            elif kind == "progress":
                _, _, table, rows, nbytes = msg
                reported[wid] += rows
                prog.advance(table, rows, nbytes)
            elif kind == "chunk":
                _, _, table, _no, rows, nbytes, skipped, _secs = msg
                prog.advance(table, rows - reported[wid], 0)
                reported[wid] = 0
                plan = by_name[table]
                plan.chunks_done += 1
                plan.rows_done += rows
                if skipped:
                    report.chunks_skipped += 1
                    report.rows_skipped += rows
                else:
                    report.chunks_loaded += 1
                    report.rows += rows
                    report.bytes += nbytes
                    loaded_tables.add(table)
                copy_t1 = time.perf_counter()
                if plan.chunks_done == plan.chunks_total and build_keys:
                    # index this table before copying more: it overlaps the next COPY
                    tasks.appendleft(IndexTask(table, plan.rows))
                outstanding -= 1
                pause_point(f"load-chunk-{report.chunks_loaded}", lambda: stop.requested)  # tests
                refill()
            elif kind == "indexed":
                _, _, table, secs = msg
                index_secs += secs
                by_name[table].done = True
                loaded_tables.add(table)
                prog.table_done(table)
                outstanding -= 1
                refill()
            elif kind == "error":
                _, _, where, text = msg
                raise FeatbenchError(f"loading {where} failed: {text}")
    report.tables_loaded = len(loaded_tables)
    if copy_t0 is not None and copy_t1 is not None and report.rows:
        report.copy_seconds = copy_t1 - copy_t0
    report.index_seconds = index_secs if loaded_tables else None
