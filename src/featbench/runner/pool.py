"""Concurrent clients and the open loop: N client processes sharing one plan.

Each client is a worker *process* running the same client loop as the single client
(`runner.client`), with the same discipline: nothing else runs in it while a request
is in flight, and it hands its records over only at pauses. The parent — where
statistics, result files and displays run — never shares a GIL with a timed path.
Stores whose sessions cannot be opened from a picklable factory fall back to worker
*threads* in the parent process; the manifest says so (`workers: threads`).

Per phase of a level the parent puts the level's plan rows (key indexes, I/O-sample
flags and, in an open loop, intended start times) in shared memory; client w runs
rows w, w + N, w + 2N… (round-robin, as wrk2 deals requests to connections) and
sends back typed messages. In an open loop (`rate`), every request has an intended
start fixed before the phase (`runner.schedule`); a client hands records over only
in an idle gap before an intended start, so a late start is the load's fault,
never featbench's bookkeeping (a pause it could not avoid is counted as forced).
Records carry the intended start, so statistics report latency from it
(`corrected_latency_ms`) beside service time.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory
from multiprocessing.connection import Connection, wait
from typing import Any, NamedTuple

import numpy as np

from featbench.backends.base import Key, Session
from featbench.errors import FeatbenchError
from featbench.events import RunEvents, SectionInfo
from featbench.runner import schedule
from featbench.runner.client import Chunk, Client, ShareStats, one_line
from featbench.runner.client_report import level_entry
from featbench.runner.context import DriverContext
from featbench.runner.deliver import fire_chunk, read_counters
from featbench.runner.live import DONE
from featbench.runner.reconnect import ReconnectPolicy
from featbench.runner.section import SectionDriver, add_stats
from featbench.workload.plan import LevelPlan

START_LEAD_NS = 30_000_000  # an open-loop schedule starts this long after it is sent
WORKER_START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


# -- messages: commands to a client, reports from it ----------------------------------------
@dataclass(frozen=True)
class RunShare:
    phase: str
    measured: bool
    shm: str  # shared memory holding the level's rows (see SharedLevel)
    rows: int
    entities: int
    has_sched: bool
    start: int  # this client runs rows start, start + step, …
    step: int


# One line each: what a client is told besides RunShare, and everything it reports
# (functional NamedTuples: typed, picklable, and short).
Flush = NamedTuple("Flush", [])  # noqa: UP014 - publish the session's pending server stats
Stop = NamedTuple("Stop", [])  # noqa: UP014
Ready = NamedTuple("Ready", [("worker", int), ("io_capable", bool)])  # noqa: UP014
Recorded = NamedTuple("Recorded", [("worker", int), ("chunk", Chunk)])  # noqa: UP014
Warn = NamedTuple("Warn", [("worker", int), ("text", str)])  # noqa: UP014
ShareDone = NamedTuple("ShareDone", [("worker", int), ("stats", ShareStats)])  # noqa: UP014
Flushed = NamedTuple("Flushed", [("worker", int), ("error", "str | None")])  # noqa: UP014
Closed = NamedTuple("Closed", [("worker", int), ("backend_stats", "dict | None")])  # noqa: UP014
Fatal = NamedTuple("Fatal", [("worker", int), ("text", str)])  # noqa: UP014


# -- a level's rows in shared memory ---------------------------------------------------------
class SharedLevel:
    """key_idx (rows × entities, int32), io flags (bool) and intended starts (int64, optional)."""

    def __init__(self, shm: shared_memory.SharedMemory, rows: int, entities: int, sched: bool):
        self.shm = shm
        self.rows, self.entities, self.has_sched = rows, entities, sched
        off = 0
        buf = shm.buf
        self.sched = None
        if sched:  # int64 first: keeps it aligned
            self.sched = np.ndarray((rows,), dtype=np.int64, buffer=buf, offset=off)
            off += 8 * rows
        self.key_idx = np.ndarray((rows, entities), dtype=np.int32, buffer=buf, offset=off)
        off += 4 * rows * entities
        self.io = np.ndarray((rows,), dtype=bool, buffer=buf, offset=off)

    @staticmethod
    def size(rows: int, entities: int, sched: bool) -> int:
        return max(1, (8 if sched else 0) * rows + 4 * rows * entities + rows)

    @classmethod
    def create(cls, lp: LevelPlan, sched: np.ndarray | None) -> SharedLevel:
        rows, ents = lp.key_idx.shape
        shm = shared_memory.SharedMemory(create=True, size=cls.size(rows, ents, sched is not None))
        lvl = cls(shm, rows, ents, sched is not None)
        lvl.key_idx[:] = lp.key_idx
        lvl.io[:] = lp.io_sample
        if sched is not None:
            assert lvl.sched is not None
            lvl.sched[:] = sched
        return lvl

    @classmethod
    def attach(cls, cmd: RunShare) -> SharedLevel:
        # A spawned client shares its parent's resource tracker (and a thread is in the
        # parent): attaching registers the segment again, a no-op in the tracker's set,
        # and only the parent unlinks it. Unregistering here would drop the parent's
        # registration too, and its unlink would print a KeyError from the tracker.
        shm = shared_memory.SharedMemory(name=cmd.shm)
        return cls(shm, cmd.rows, cmd.entities, cmd.has_sched)

    def close(self, unlink: bool = False) -> None:
        self.key_idx = self.io = self.sched = None  # type: ignore[assignment]
        with contextlib.suppress(Exception):
            self.shm.close()
        if unlink:
            with contextlib.suppress(Exception):
                self.shm.unlink()


# -- the worker ------------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel SIGKILL this process when its parent dies, however it dies (kill -9
    included), so no client is left holding a connection. Linux only (prctl); elsewhere
    the client ends when its pipe to the parent closes."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the request was made


def worker_main(
    index: int,
    factory: Callable[[], Session],
    entities: tuple[str, ...],
    keys: list[list[Key]],
    conn: Connection,
    abort: Any,
    pause_every: int,
    pause_interval_s: float,
    in_process: bool,
    reconnect: ReconnectPolicy | None = None,
    parent_pid: int | None = None,
) -> None:
    """A client: open a session, then run the shares of levels it is sent."""
    if in_process:
        # Ctrl-C, SIGTERM and SIGHUP are the parent's to handle: it tells clients to stop
        # and keeps what they measured; if the parent dies, the kernel kills the client
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        die_with_parent(parent_pid)
    try:
        client = Client(
            factory,
            entities,
            keys,
            sink=lambda ch: conn.send(Recorded(index, ch)),
            warn=lambda text: conn.send(Warn(index, text)),
            pause_every=pause_every,
            pause_interval_s=pause_interval_s,
            reconnect=reconnect,
        )
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which fails the run
        conn.send(Fatal(index, one_line(e)))
        return
    if in_process:
        gc.freeze()  # set-up objects stay out of the collector's way while measuring
    conn.send(Ready(index, client.io_capable))

    def stopped() -> bool:
        return bool(abort.value)

    try:
        while True:
            try:
                cmd = conn.recv()
            except EOFError:  # the parent is gone
                break
            if isinstance(cmd, Stop):
                conn.send(Closed(index, client.backend_stats()))
                break
            if isinstance(cmd, Flush):
                err = None
                try:
                    client.flush_stats()
                except Exception as e:  # noqa: BLE001
                    err = one_line(e)
                conn.send(Flushed(index, err))
                continue
            assert isinstance(cmd, RunShare)
            lvl = SharedLevel.attach(cmd)
            try:
                st = client.run(
                    lvl.key_idx,
                    lvl.io,
                    measured=cmd.measured,
                    start=cmd.start,
                    step=cmd.step,
                    phase=cmd.phase,
                    sched=lvl.sched,
                    stop=stopped,
                )
            finally:
                lvl.close()
            conn.send(ShareDone(index, st))
    except BaseException as e:  # noqa: BLE001 - the parent turns this into a failed run
        with contextlib.suppress(Exception):
            conn.send(Fatal(index, one_line(e)))
    finally:
        client.close()


# -- the parent ------------------------------------------------------------------------------
@dataclass
class PoolOptions:
    concurrency: int = 1
    rate: float | None = None  # requests per second across all clients; None: closed loop
    arrival: str = "uniform"
    seed: int = 42


class PoolDriver(SectionDriver):
    """Runs a section with `concurrency` client processes, closed loop or open loop at `rate`."""

    def __init__(
        self,
        info: SectionInfo,
        events: RunEvents,
        ctx: DriverContext,
        options: PoolOptions,
    ) -> None:
        schedule.check_rate(options.rate, options.arrival)
        if options.concurrency < 1:
            raise FeatbenchError(f"--concurrency must be >= 1, got {options.concurrency}")
        self.info = info
        self.events = events
        self.ctx = ctx
        self.opt = options
        self.in_process = ctx.process_factory is not None
        self.stop_requested = False
        self._workers: list[Any] = []
        self._conns: list[Connection] = []
        self._abort: Any = None
        self.io_capable = True
        self._backend_stats: dict[str, int] | None = None

    # -- the pool ------------------------------------------------------------------------------
    def _start(self) -> None:
        n = self.opt.concurrency
        ctx = self.ctx
        keys = [list(ctx.keys[e]) for e in self.info.entities]
        mpc = mp.get_context("spawn")  # never fork a process holding connections
        self._abort = mpc.RawValue("b", 0)
        for i in range(n):
            parent_end, child_end = mpc.Pipe(duplex=True)
            factory = ctx.process_factory if self.in_process else ctx.open_session
            args = (
                i,
                factory,
                self.info.entities,
                keys,
                child_end,
                self._abort,
                ctx.pause_every,
                ctx.pause_interval_s,
                self.in_process,
                ctx.reconnect,
                os.getpid(),
            )
            if self.in_process:
                w: Any = mpc.Process(
                    target=worker_main, args=args, name=f"featbench-client-{i}", daemon=True
                )
            else:
                w = threading.Thread(
                    target=worker_main, args=args, name=f"featbench-client-{i}", daemon=True
                )
            w.start()
            if self.in_process:
                child_end.close()  # the child holds its own copy
            self._workers.append(w)
            self._conns.append(parent_end)
        ready = 0
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while ready < n:
            for _i, msg in self._receive(deadline):
                if isinstance(msg, Ready):
                    ready += 1
                    self.io_capable = self.io_capable and msg.io_capable
                elif isinstance(msg, Fatal):
                    raise FeatbenchError(
                        f"client {msg.worker} could not open a session: {msg.text}"
                    )

    def _receive(self, deadline: float | None = None) -> list[tuple[int, Any]]:
        """Messages that arrived within half a second; fails if a client died or time ran out."""
        ready = wait(self._conns, timeout=0.5)
        out: list[tuple[int, Any]] = []
        for c in ready:
            i = self._conns.index(c)  # type: ignore[arg-type]
            try:
                out.append((i, c.recv()))  # type: ignore[union-attr]
                while c.poll():  # type: ignore[union-attr]
                    out.append((i, c.recv()))  # type: ignore[union-attr]
            except (EOFError, OSError):
                code = getattr(self._workers[i], "exitcode", None)
                raise FeatbenchError(
                    f"client {i} stopped unexpectedly (exit code {code})"
                ) from None
        if not out:
            for i, w in enumerate(self._workers):
                if not w.is_alive():
                    code = getattr(w, "exitcode", None)
                    raise FeatbenchError(f"client {i} stopped unexpectedly (exit code {code})")
            if deadline is not None and time.monotonic() > deadline:
                raise FeatbenchError("the clients did not start in time")
        return out

    def _stop(self) -> None:
        if self._abort is not None:
            self._abort.value = 1  # a client still working on a share stops at its next request
        for c in self._conns:
            with contextlib.suppress(Exception):
                c.send(Stop())
        deadline = time.monotonic() + STOP_TIMEOUT_S
        pending = set(range(len(self._conns)))
        while pending and time.monotonic() < deadline:
            ready = wait([self._conns[i] for i in pending], timeout=0.5)
            for c in ready:
                i = self._conns.index(c)  # type: ignore[arg-type]
                try:
                    msg = c.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):
                    pending.discard(i)
                    continue
                if isinstance(msg, (Closed, Fatal)):
                    pending.discard(i)
                    if isinstance(msg, Closed):
                        self._backend_stats = add_stats(self._backend_stats, msg.backend_stats)
        for w in self._workers:
            w.join(timeout=STOP_TIMEOUT_S)
            if self.in_process and w.is_alive():
                w.terminate()
                w.join(timeout=STOP_TIMEOUT_S)
        for c in self._conns:
            with contextlib.suppress(Exception):
                c.close()
        self._workers, self._conns = [], []

    # -- one phase of a level --------------------------------------------------------------------
    def _phase(
        self, lp: LevelPlan, phase: str, phase_no: int, measured: bool, paced: bool = True
    ) -> tuple[dict[int, ShareStats], schedule.AdherenceCounter]:
        n = self.opt.concurrency
        rows = len(lp)
        adh = schedule.AdherenceCounter()
        shares: dict[int, ShareStats] = {}
        if rows == 0:
            return shares, adh
        sched = None
        if self.opt.rate is not None and paced:
            seed = self.opt.seed + 100_003 * self.info.index + phase_no
            off = schedule.offsets_ns(rows, self.opt.rate, self.opt.arrival, seed)
            sched = off + (time.perf_counter_ns() + START_LEAD_NS)
        lvl = SharedLevel.create(lp, sched)
        live = self.ctx.live
        try:
            for w in range(n):
                self._conns[w].send(
                    RunShare(phase, measured, lvl.shm.name, rows, lp.key_idx.shape[1],
                             sched is not None, w, n)
                )  # fmt: skip
            interrupted: BaseException | None = None
            while len(shares) < n:
                try:
                    msgs = self._receive()
                except KeyboardInterrupt as e:  # stop the clients, keep what they measured
                    interrupted = e
                    self._abort.value = 1
                    continue
                for w, msg in msgs:
                    if isinstance(msg, Recorded):
                        ch = msg.chunk
                        fire_chunk(
                            self.events, ch, section=self.info.index, lp=lp, keys=self.ctx.keys,
                            key_str=self.ctx.key_str, entities=self.info.entities,
                            origin_ns=self.ctx.clock_origin_ns, client=w,
                        )  # fmt: skip
                        if ch.scheduled_ns is not None and len(ch):
                            adh.add(ch.scheduled_ns, ch.start_ns)
                        if live is not None:
                            live.array[DONE] += len(ch)
                    elif isinstance(msg, ShareDone):
                        shares[w] = msg.stats
                        if live is not None and not measured:
                            live.array[DONE] += msg.stats.requests
                    elif isinstance(msg, Warn):
                        self.events.warning.fire(f"client {w}: {msg.text}")
                    elif isinstance(msg, Fatal):
                        self._abort.value = 1
                        raise FeatbenchError(f"client {w} failed: {msg.text}")
                if self.stop_requested:
                    self._abort.value = 1
            if interrupted is not None:
                raise interrupted
        finally:
            lvl.close(unlink=True)
        return shares, adh

    def _flush_and_count(self) -> dict[str, int] | None:
        if self.ctx.read_counters is None:
            return None
        for c in self._conns:
            c.send(Flush())
        got = 0
        # a client may be reconnecting first (within the run's budget)
        deadline = time.monotonic() + 60 + self.ctx.reconnect.budget_s
        while got < len(self._conns):
            for w, msg in self._receive(deadline):
                if isinstance(msg, Flushed):
                    got += 1
                    if msg.error:
                        self.events.warning.fire(
                            f"client {w} could not flush its stats: {msg.error}"
                        )
                elif isinstance(msg, Fatal):
                    raise FeatbenchError(f"client {w} failed: {msg.text}")
        return read_counters(self.ctx, self.events.warning.fire)

    # -- the section (SectionDriver) -----------------------------------------------------------
    def _begin(self) -> None:
        self._start()

    def _end(self) -> dict[str, int] | None:
        self._stop()
        return self._backend_stats

    def _unmeasured(self, lp: LevelPlan, phase: str, phase_no: int) -> None:
        # the touch is not paced: it only reads the hot set once
        self._phase(lp, phase, phase_no, measured=False, paced=phase != "touch")

    def _measure(self, warm: LevelPlan, meas: LevelPlan, phase_no: int) -> dict[str, Any]:
        shares, adh = self._phase(meas, "measure", phase_no, measured=True)
        return level_entry(
            self.info, meas.level, shares, concurrency=self.opt.concurrency,
            workers="processes" if self.in_process else "threads",
            rate=self.opt.rate, arrival=self.opt.arrival, adherence=adh,
            warn=self.events.warning.fire,
        )  # fmt: skip

    def _counters(self) -> dict[str, int] | None:
        return self._flush_and_count()


def workers_for(concurrency: int, rate: float | None) -> str:
    """Which driver runs a section: the single client in-process, or a pool of clients."""
    return "inline" if concurrency == 1 and rate is None else "pool"


__all__: Sequence[str] = ["PoolDriver", "PoolOptions", "SharedLevel", "worker_main"]
