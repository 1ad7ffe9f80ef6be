"""`featbench run --engine spark --clients N`: N Spark tasks drive shares of the plan.

A third driver beside `runner.inline` and `runner.pool`, with the same phases (hot-set
touch; per level: `before_level`, warm-up, cache counters, measured requests, counters).
Each phase is one Spark job of N *barrier* tasks: task w opens its session with the
store's picklable factory, waits at the barrier so all shares start together, then runs
rows w, w + N, … of the level with the client loop every local client runs
(`runner.client.Client`: the same timed path, pauses and open-loop schedule, here from
offsets the driver drew, anchored at the barrier on each executor's own clock).

A measured task writes its records as a Parquet part to a shared directory and returns
its encoded HdrHistograms, its share's statistics, its host and its I/O samples. The
driver reads the parts back and fires them as the run's request batches — so
`summary.json`, `requests.parquet` (with its `client` column) and the SQL copy are
written by the run's own writer, as for a local run — and checks that the tasks' merged
histograms hold the same latencies the summary was computed from.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from featbench.backends.base import IOSample, Session
from featbench.errors import FeatbenchError
from featbench.events import RunEvents, SectionInfo
from featbench.measure.histogram import LatencyHistogram, merge
from featbench.runner import schedule
from featbench.runner.client import REWARM, Chunk, Client, ShareStats
from featbench.runner.client_report import level_entry
from featbench.runner.context import DriverContext
from featbench.runner.deliver import fire_chunk, read_counters
from featbench.runner.live import DONE
from featbench.runner.pool import START_LEAD_NS
from featbench.runner.section import SectionDriver, add_stats
from featbench.spark.session import task_error
from featbench.workload.plan import LevelPlan


@dataclass
class SparkRunOptions:
    """How a Spark run drives its shares (the rest comes from the run's config)."""

    session: Any
    clients: int
    rate: float | None = None
    arrival: str = "uniform"
    seed: int = 42
    parts_dir: str | None = None  # shared by driver and executors; default: a local temp dir
    hosts: dict[int, str] = field(default_factory=dict)  # filled in: task -> host


@dataclass(frozen=True)
class ShareJob:
    """What one phase's tasks are told (pickled into each task)."""

    factory: Callable[[], Session]
    entities: tuple[str, ...]
    phase: str
    measured: bool
    key_idx: np.ndarray
    io: np.ndarray
    offsets_ns: np.ndarray | None  # open loop: intended starts after the shared start
    clients: int
    pause_every: int
    pause_interval_s: float
    parts_dir: str
    rewarm: np.ndarray | None  # (clients, E) key rows repeated before a measured share


@dataclass
class ShareResult:
    """What one task returns to the driver."""

    worker: int
    host: str
    stats: ShareStats
    part: str | None
    latency: str  # encoded HdrHistogram of its successful requests' service time
    corrected: str | None  # … and of latency from the intended start (open loop)
    io: list[tuple[int, IOSample | None, str | None]]
    warnings: list[str]
    backend_stats: dict[str, int] | None
    perf0_ns: int  # the executor's perf_counter_ns() at the shared start…
    wall0_ns: int  # … and its wall clock then: maps its times onto the driver's clock


# -- in the Spark task ----------------------------------------------------------------------
def _share_task(job: ShareJob, keys: Any) -> Iterator[ShareResult]:
    from pyspark import BarrierTaskContext

    tc = BarrierTaskContext.get()
    w = tc.partitionId()
    chunks: list[Chunk] = []
    warnings: list[str] = []
    client = Client(
        job.factory, job.entities, keys.value, sink=chunks.append, warn=warnings.append,
        pause_every=job.pause_every, pause_interval_s=job.pause_interval_s,
    )  # fmt: skip
    try:
        if job.rewarm is not None:  # a fresh session's first requests are slow: not measured
            row = job.rewarm[w]
            req = {e: keys.value[j][int(row[j])] for j, e in enumerate(job.entities)}
            for _ in range(REWARM):
                client.session.execute(req)
        tc.barrier()  # every share starts together
        perf0, wall0 = time.perf_counter_ns(), time.time_ns()
        sched = None if job.offsets_ns is None else job.offsets_ns + (perf0 + START_LEAD_NS)
        st = client.run(
            job.key_idx, job.io, measured=job.measured, start=w, step=job.clients,
            phase=job.phase, sched=sched,
        )  # fmt: skip
        if job.measured:
            client.flush_stats()  # the driver reads the server's counters next
        backend_stats = client.backend_stats()
    finally:
        client.close()
    part = None
    lat, cor = LatencyHistogram(), LatencyHistogram()
    if job.measured:
        part = os.path.join(job.parts_dir, f"{job.phase}-{w}-{uuid.uuid4().hex[:8]}.parquet")
        pq.write_table(chunks_table(chunks, len(job.entities)), part)
        for ch in chunks:
            ok = np.ones(len(ch), dtype=bool)
            ok[list(ch.errors)] = False
            lat.record_ns((ch.end_ns - ch.start_ns)[ok])
            if ch.scheduled_ns is not None:
                cor.record_ns((ch.end_ns - ch.scheduled_ns)[ok])
    yield ShareResult(
        w, socket.gethostname(), st, part, lat.encode(),
        cor.encode() if job.offsets_ns is not None else None,
        [x for ch in chunks for x in ch.io], warnings, backend_stats, perf0, wall0,
    )  # fmt: skip


# -- request records as a Parquet part -------------------------------------------------------
def chunks_table(chunks: list[Chunk], n_entities: int) -> pa.Table:
    """A client's chunks as one table (what a task writes to the shared directory)."""

    def cat(get: Callable[[Chunk], np.ndarray | None], dtype: Any, fill: Any) -> np.ndarray:
        parts = [
            get(ch) if get(ch) is not None else np.full(len(ch), fill, dtype=dtype) for ch in chunks
        ]
        return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype=dtype)

    cols: dict[str, Any] = {
        "seq": cat(lambda c: c.seq, np.int64, 0),
        "start_ns": cat(lambda c: c.start_ns, np.int64, 0),
        "end_ns": cat(lambda c: c.end_ns, np.int64, 0),
        "rows_found": cat(lambda c: c.rows_found, np.int64, 0),
        "keys_found": cat(lambda c: c.keys_found, np.int64, 0),
        "lookups": cat(lambda c: c.lookups, np.int64, 0),
        "scheduled_ns": cat(lambda c: c.scheduled_ns, np.int64, -1),
        "consumed_units": cat(lambda c: c.consumed_units, np.float64, np.nan),
    }
    ent = [
        ch.entity_ns if ch.entity_ns is not None else np.full((len(ch), n_entities), -1)
        for ch in chunks
    ]
    ent_all = np.concatenate(ent) if ent else np.empty((0, n_entities), dtype=np.int64)
    for j in range(n_entities):
        cols[f"entity_ns_{j}"] = ent_all[:, j].astype(np.int64)
    cols["error"] = pa.array(
        [ch.errors.get(i) for ch in chunks for i in range(len(ch))], type=pa.string()
    )
    cols["has_sched"] = np.array(
        [ch.scheduled_ns is not None for ch in chunks for _ in range(len(ch))], dtype=bool
    )
    return pa.table(cols)


def table_chunk(t: pa.Table, n_entities: int, shift_ns: int, open_loop: bool) -> Chunk:
    """A part read back as one Chunk, its times moved onto the driver's clock."""

    def col(name: str) -> np.ndarray:
        return t.column(name).to_numpy()

    errors = {i: e for i, e in enumerate(t.column("error").to_pylist()) if e is not None}
    ent = np.stack([col(f"entity_ns_{j}") for j in range(n_entities)], axis=1)
    units = col("consumed_units")
    return Chunk(
        seq=col("seq"),
        start_ns=col("start_ns") + shift_ns,
        end_ns=col("end_ns") + shift_ns,
        rows_found=col("rows_found"),
        keys_found=col("keys_found"),
        lookups=col("lookups"),
        errors=errors,
        scheduled_ns=col("scheduled_ns") + shift_ns if open_loop else None,
        entity_ns=ent if (ent >= 0).any() else None,
        consumed_units=None if np.isnan(units).all() else units,
    )


# -- the driver ------------------------------------------------------------------------------
class SparkDriver(SectionDriver):
    """Runs a section with `options.clients` Spark tasks (see the module docstring)."""

    def __init__(
        self, info: SectionInfo, events: RunEvents, ctx: DriverContext, options: SparkRunOptions
    ) -> None:
        schedule.check_rate(options.rate, options.arrival)
        if ctx.process_factory is None:
            raise FeatbenchError(
                f"{info.backend} sessions cannot be opened in Spark tasks "
                "(no picklable session factory): run it without --engine spark"
            )
        self.info, self.events, self.ctx, self.opt = info, events, ctx, options
        self.io_capable = True
        self._backend_stats: dict[str, int] | None = None
        self._keys_bc: Any = None
        self._tmp: str | None = None
        # the driver's clock pair: executor times are mapped onto perf_counter_ns() here
        self._perf0, self._wall0 = time.perf_counter_ns(), time.time_ns()

    def _parts_dir(self) -> str:
        if self.opt.parts_dir:
            Path(self.opt.parts_dir).mkdir(parents=True, exist_ok=True)
            return self.opt.parts_dir
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="featbench-spark-parts-")
        return self._tmp

    def _job(
        self, lp: LevelPlan, phase: str, phase_no: int, measured: bool, paced: bool,
        rewarm: np.ndarray | None = None,
    ) -> list[ShareResult]:  # fmt: skip
        n = self.opt.clients
        if len(lp) == 0:
            return []
        offsets = None
        if self.opt.rate is not None and paced:  # the same schedule a local pool draws
            seed = self.opt.seed + 100_003 * self.info.index + phase_no
            offsets = schedule.offsets_ns(len(lp), self.opt.rate, self.opt.arrival, seed)
        job = ShareJob(
            self.ctx.process_factory, self.info.entities, phase, measured,  # type: ignore[arg-type]
            np.ascontiguousarray(lp.key_idx), np.ascontiguousarray(lp.io_sample), offsets, n,
            self.ctx.pause_every, self.ctx.pause_interval_s, self._parts_dir(), rewarm,
        )  # fmt: skip
        keys = self._keys_bc
        sc = self.opt.session.sparkContext
        sc.setJobDescription(f"featbench {self.info.label} {phase}")
        rdd = sc.parallelize(range(n), n).barrier()
        try:
            out = rdd.mapPartitions(lambda _: _share_task(job, keys)).collect()
        except Exception as e:  # noqa: BLE001 - a task failed on every attempt
            raise FeatbenchError(f"a Spark client failed: {task_error(e)}") from None
        results = sorted(out, key=lambda r: r.worker)
        for r in results:
            self.opt.hosts[r.worker] = r.host
            for text in r.warnings:
                self.events.warning.fire(f"client {r.worker}: {text}")
            self._backend_stats = add_stats(self._backend_stats, r.backend_stats)
        return results

    def _deliver(self, lp: LevelPlan, results: list[ShareResult]) -> schedule.AdherenceCounter:
        """Fire every task's records as the run's batches; check the merged histograms."""
        ctx, n_e = self.ctx, len(self.info.entities)
        adh = schedule.AdherenceCounter()
        open_loop = self.opt.rate is not None
        fired = LatencyHistogram()
        for r in results:
            # executor perf clock -> wall clock -> the driver's perf clock
            shift = (r.wall0_ns - r.perf0_ns) - (self._wall0 - self._perf0)
            t = pq.read_table(r.part)  # type: ignore[arg-type]
            os.remove(r.part)  # type: ignore[arg-type]
            ch = table_chunk(t, n_e, shift, open_loop)
            ch.io = r.io
            fire_chunk(
                self.events, ch, section=self.info.index, lp=lp, keys=ctx.keys,
                key_str=ctx.key_str, entities=self.info.entities,
                origin_ns=ctx.clock_origin_ns, client=r.worker,
            )  # fmt: skip
            ok = np.ones(len(ch), dtype=bool)
            ok[list(ch.errors)] = False
            fired.record_ns((ch.end_ns - ch.start_ns)[ok])
            if ch.scheduled_ns is not None and len(ch):
                adh.add(ch.scheduled_ns, ch.start_ns)
            if ctx.live is not None:
                ctx.live.array[DONE] += len(ch)
        merged = merge(LatencyHistogram.decode(r.latency) for r in results)
        if merged != fired:
            raise FeatbenchError(
                "the Spark tasks' merged histograms differ from their records "
                f"({merged.count} against {fired.count} requests): a part was lost or damaged"
            )
        return adh

    # -- the section (SectionDriver) -----------------------------------------------------------
    def _begin(self) -> None:
        sc = self.opt.session.sparkContext
        self._keys_bc = sc.broadcast([list(self.ctx.keys[e]) for e in self.info.entities])

    def _end(self) -> dict[str, int] | None:
        if self._keys_bc is not None:
            self._keys_bc.unpersist()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        return self._backend_stats

    def _unmeasured(self, lp: LevelPlan, phase: str, phase_no: int) -> None:
        # the touch is not paced: it only reads the hot set once
        self._job(lp, phase, phase_no, measured=False, paced=phase != "touch")

    def _measure(self, warm: LevelPlan, meas: LevelPlan, phase_no: int) -> dict[str, Any]:
        results = self._job(
            meas, "measure", phase_no, measured=True, paced=True,
            rewarm=_rewarm_rows(warm, meas, self.opt.clients),
        )  # fmt: skip
        adh = self._deliver(meas, results)
        shares = {r.worker: r.stats for r in results}
        entry = level_entry(
            self.info, meas.level, shares, concurrency=self.opt.clients,
            workers="spark tasks", rate=self.opt.rate, arrival=self.opt.arrival,
            adherence=adh, warn=self.events.warning.fire,
        )  # fmt: skip
        entry["hosts"] = {str(r.worker): r.host for r in results}
        return entry

    def _counters(self) -> dict[str, int] | None:
        return read_counters(self.ctx, self.events.warning.fire)


def _rewarm_rows(warm: LevelPlan, meas: LevelPlan, n: int) -> np.ndarray:
    """Per task, a request of the warm-up (already read: no cold key is spent) to repeat on
    its fresh session before timing; the measured plan's first row when there is no warm-up."""
    src = warm if len(warm) else meas
    rows = [src.key_idx[min(w, len(src) - 1)] for w in range(n)]
    return np.array(rows, dtype=np.int64)
