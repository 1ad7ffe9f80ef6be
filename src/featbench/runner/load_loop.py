"""Concurrent clients and the open loop: N clients sharing one plan, optionally at a fixed rate.

`LoadLoop` runs a `SectionPlan` like `ClosedLoop` and fires the same events, so
statistics, results and displays are reused unchanged. The differences:

- **clients**: `concurrency` workers, each with its own session (connection[s]).
  Workers are *processes* when the store's sessions can be opened from a picklable
  factory (PostgreSQL: conninfo + schema + spec + strategy), so the GIL never caps
  throughput; otherwise threads. Requests are dealt round-robin: request i of a
  level goes to worker i mod N. Workers time requests themselves
  (`time.perf_counter_ns`, CLOCK_MONOTONIC: one clock for all processes) and ship
  records back in batches; the parent fires the events.
- **open loop** (`rate` set): every request has an intended start, fixed before the
  level starts (`runner.schedule`), and is started then — or as soon as its worker is
  free, if it is late. Records carry `scheduled_ns`, so the statistics report
  latency from the intended start (`corrected_latency_ms`) beside service time.
- **the client as a bottleneck**: each worker's CPU time over each measured level is
  recorded; a worker above `SATURATED` of a core is reported as a warning, because
  then the client, not the store, may set the figures. In the open loop, achieved vs
  target rate and late starts are recorded per level; a rate not reached is a
  warning on screen and in the manifest.

Per-level load figures (rate adherence, client CPU) go to the list `report`, which
the run keeps in its manifest (`load`), because summary.json's ratio objects have
a fixed shape.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featbench.backends.base import Session
from featbench.errors import FeatbenchError
from featbench.runner import schedule
from featbench.runner.closed_loop import LoopContext, fire_level_end
from featbench.runner.events import (
    IOSampleRecord,
    RatioFinished,
    RatioStarted,
    RequestRecord,
    RunEvents,
    SectionInfo,
)
from featbench.spec import WorkloadSpec
from featbench.workload.plan import LevelPlan, Plan, SectionPlan

SATURATED = 0.90  # share of one core a worker may use before the client is suspect
START_LEAD_NS = 30_000_000  # the schedule starts this long after the parent sends it
BATCH_RECORDS = 256
BATCH_SECONDS = 0.2
WORKER_START_TIMEOUT_S = 120.0
RECONNECT_DELAYS_S = (0.0, 0.05, 0.5, 2.0, 5.0)


# -- opening sessions inside workers ----------------------------------------------------
@dataclass(frozen=True)
class PgSessionFactory:
    """Opens a PostgreSQL session in any process. `conninfo` may hold a password: not shown."""

    conninfo: str = field(repr=False)
    schema: str
    spec_json: dict[str, Any] = field(repr=False)
    strategy: str

    def __call__(self) -> Session:
        from featbench.backends import pg_requests

        spec = WorkloadSpec.model_validate(self.spec_json)
        return pg_requests.open_session(self.conninfo, self.schema, spec, self.strategy)


def process_factory(backend: Any, spec: WorkloadSpec, strategy: str) -> PgSessionFactory | None:
    """A picklable session factory for the backend, or None (then workers are threads)."""
    if getattr(backend, "kind", None) == "postgres" and isinstance(
        getattr(backend, "conninfo", None), str
    ):
        return PgSessionFactory(
            backend.conninfo, backend.schema, spec.model_dump(mode="json"), strategy
        )
    return None


def connections_per_session(strategy: str, spec: WorkloadSpec) -> int:
    return len(spec.entity_names) if strategy == "parallel" else 1


def check_capacity(
    backends: Sequence[Any], spec: WorkloadSpec, strategies: Sequence[str], concurrency: int
) -> None:
    """Refuse, before anything runs, a concurrency the PostgreSQL server cannot admit."""
    if concurrency < 1:
        raise FeatbenchError(f"--concurrency must be >= 1, got {concurrency}")
    for b in backends:
        if getattr(b, "kind", None) != "postgres" or not hasattr(b, "conn"):
            continue
        row = b.conn.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int,"
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int"
        ).fetchone()
        max_conn, reserved, in_use = row
        free = max_conn - reserved - in_use
        for s in strategies:
            need = concurrency * connections_per_session(s, spec)
            if need > free:
                per = connections_per_session(s, spec)
                how = f" ({per} per client: one per entity)" if per > 1 else ""
                name = getattr(b, "redacted", None) or "the server"
                raise FeatbenchError(
                    f"--concurrency {concurrency} with strategy {s} needs {need} connections{how}, "
                    f"but {name} admits {max_conn} (max_connections) less {reserved} reserved "
                    f"and {in_use} in use: {max(free, 0)} free; lower --concurrency or raise "
                    "max_connections"
                )


# -- the worker (a process or a thread) -------------------------------------------------
class _Abort(Exception):
    pass


def _open_with_retry(factory: Callable[[], Session]) -> Session:
    last: Exception | None = None
    for d in RECONNECT_DELAYS_S:
        if d:
            time.sleep(d)
        try:
            return factory()
        except FeatbenchError as e:
            last = e
    raise FeatbenchError(f"lost the connection and could not reconnect: {last}")


def _recover(session: Session, factory: Callable[[], Session]) -> Session:
    rec = getattr(session, "recover", None)
    if rec is not None:
        last: Exception | None = None
        for d in RECONNECT_DELAYS_S:
            if d:
                time.sleep(d)
            try:
                rec()
                return session
            except FeatbenchError as e:
                last = e
        raise FeatbenchError(f"lost the connection and could not reconnect: {last}")
    with contextlib.suppress(Exception):
        session.close()
    return _open_with_retry(factory)


def _one_line(e: BaseException) -> str:
    return " ".join((str(e) or type(e).__name__).split())


def worker_main(
    index: int,
    factory: Callable[[], Session],
    entities: tuple[str, ...],
    commands: Any,
    results: Any,
    abort: Any,
    in_process: bool,
) -> None:
    """A client: open a session, then run the shares of levels it is sent."""
    if in_process:
        # Ctrl-C is the parent's to handle: it tells workers to stop (abort) and keeps
        # what they measured.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    cpu = time.process_time if in_process else time.thread_time
    try:
        session = _open_with_retry(factory)
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which fails the run
        results.put(("fatal", index, _one_line(e)))
        return
    results.put(("ready", index, hasattr(session, "explain")))
    clock = time.perf_counter_ns
    try:
        while True:
            cmd = commands.get()
            kind = cmd[0]
            if kind == "stop":
                break
            if kind == "flush":
                flush = getattr(session, "flush_stats", None)
                err = None
                if flush is not None:
                    try:
                        flush()
                    except Exception as e:  # noqa: BLE001
                        err = _one_line(e)
                results.put(("flushed", index, err))
                continue
            _, phase, measured, items, sched = cmd
            recs: list[tuple[Any, ...]] = []
            ios: list[tuple[Any, ...]] = []
            last_send = time.monotonic()
            errors = 0
            c0, w0 = cpu(), clock()
            explain = getattr(session, "explain", None)
            for k, (seq, keys, is_io) in enumerate(items):
                if abort.is_set():
                    break
                target = sched[k] if sched is not None else None
                if target is not None:
                    wait = target - clock()
                    if wait > 0:
                        time.sleep(wait / 1e9)
                req = dict(zip(entities, keys, strict=True))
                if is_io:
                    if explain is None:
                        continue
                    try:
                        ios.append((seq, explain(req), None))
                    except Exception as e:  # noqa: BLE001 - a failed sample is recorded
                        ios.append((seq, None, _one_line(e)))
                        session = _recover(session, factory)
                        explain = getattr(session, "explain", None)
                    continue
                t0 = clock()
                res = session.execute(req)
                t1 = clock()
                if measured:
                    ent = None
                    if res.entity_ns:
                        ent = tuple(int(res.entity_ns.get(e, 0)) for e in entities)
                    recs.append(
                        (
                            seq,
                            t0,
                            t1,
                            target,
                            res.rows_found,
                            res.rows_looked_up,
                            ent,
                            res.error,
                            res.consumed_units,
                        )
                    )
                if res.error is not None:
                    errors += 1
                    if not measured:
                        results.put(("warn", index, f"unmeasured request failed: {res.error}"))
                    session = _recover(session, factory)
                    explain = getattr(session, "explain", None)
                if len(recs) >= BATCH_RECORDS or (
                    recs and time.monotonic() - last_send > BATCH_SECONDS
                ):
                    results.put(("recs", index, phase, recs))
                    recs = []
                    last_send = time.monotonic()
            if recs:
                results.put(("recs", index, phase, recs))
            if ios:
                results.put(("io", index, phase, ios))
            results.put(("done", index, phase, cpu() - c0, (clock() - w0) / 1e9, errors))
    except BaseException as e:  # noqa: BLE001 - the parent turns this into a failed run
        results.put(("fatal", index, _one_line(e)))
    finally:
        with contextlib.suppress(Exception):
            session.close()


# -- the parent --------------------------------------------------------------------------
@dataclass
class LoadOptions:
    concurrency: int = 1
    rate: float | None = None  # requests per second across all clients; None: closed loop
    arrival: str = "uniform"
    seed: int = 42
    workers: str = "auto"  # auto (processes where possible) | process | thread


class LoadLoop:
    """Runs a section with `concurrency` clients, closed loop or open loop at `rate`."""

    def __init__(
        self,
        plan: Plan,
        info: SectionInfo,
        events: RunEvents,
        ctx: LoopContext,
        options: LoadOptions,
        *,
        factory: Callable[[], Session] | None = None,
        report: list[dict[str, Any]] | None = None,
    ) -> None:
        schedule.check_rate(options.rate, options.arrival)
        if options.concurrency < 1:
            raise FeatbenchError(f"--concurrency must be >= 1, got {options.concurrency}")
        self.plan = plan
        self.info = info
        self.events = events
        self.ctx = ctx
        self.opt = options
        self.report = report if report is not None else []
        use_process = factory is not None and options.workers in ("auto", "process")
        if options.workers == "process" and factory is None:
            raise FeatbenchError(
                "process workers need a store whose sessions can be opened by a worker"
            )
        self.in_process = use_process
        self.factory: Callable[[], Session] = factory if use_process else ctx.open_session  # type: ignore[assignment]
        self.stop_requested = False
        self._workers: list[Any] = []
        self._commands: list[Any] = []
        self._results: Any = None
        self._abort: Any = None

    # -- worker pool ------------------------------------------------------------------------
    def _start(self) -> None:
        n = self.opt.concurrency
        if self.in_process:
            mpc = mp.get_context("spawn")  # never fork a process holding connections / threads
            self._results = mpc.Queue()
            self._abort = mpc.Event()
            for i in range(n):
                q = mpc.Queue()
                p = mpc.Process(
                    target=worker_main,
                    args=(i, self.factory, self.info.entities, q, self._results, self._abort, True),
                    name=f"featbench-client-{i}",
                    daemon=True,
                )
                p.start()
                self._workers.append(p)
                self._commands.append(q)
        else:
            self._results = queue.Queue()
            self._abort = threading.Event()
            for i in range(n):
                q: queue.Queue[Any] = queue.Queue()
                t = threading.Thread(
                    target=worker_main,
                    args=(
                        i,
                        self.factory,
                        self.info.entities,
                        q,
                        self._results,
                        self._abort,
                        False,
                    ),
                    name=f"featbench-client-{i}",
                    daemon=True,
                )
                t.start()
                self._workers.append(t)
                self._commands.append(q)
        ready = 0
        self.io_capable = True
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while ready < n:
            msg = self._get(deadline)
            if msg[0] == "ready":
                ready += 1
                self.io_capable = self.io_capable and bool(msg[2])
            elif msg[0] == "fatal":
                raise FeatbenchError(f"client {msg[1]} could not open a session: {msg[2]}")

    def _get(self, deadline: float | None = None) -> tuple[Any, ...]:
        """Next worker message; fails if a worker process died or nothing came in time."""
        while True:
            try:
                return self._results.get(timeout=0.5)
            except queue.Empty:
                for i, w in enumerate(self._workers):
                    if not w.is_alive():
                        code = getattr(w, "exitcode", None)
                        raise FeatbenchError(
                            f"client {i} stopped unexpectedly (exit code {code})"
                        ) from None
                if deadline is not None and time.monotonic() > deadline:
                    raise FeatbenchError("the clients did not start in time") from None

    def _stop(self) -> None:
        if self._abort is not None:
            self._abort.set()  # a client still working on a share stops at its next request
        for q in self._commands:
            with contextlib.suppress(Exception):
                q.put(("stop",))
        for w in self._workers:
            w.join(timeout=10)
            if self.in_process and w.is_alive():
                w.terminate()
        if self.in_process and self._results is not None:
            self._results.close()
            for q in self._commands:
                q.close()
        self._workers, self._commands = [], []

    # -- one phase of a level ------------------------------------------------------------------
    def _phase(
        self, lp: LevelPlan, phase: int, measured: bool, paced: bool = True
    ) -> tuple[list[RequestRecord], dict[int, tuple[float, float]]]:
        items = [(seq, keys, is_io) for seq, keys, _hot, is_io in self.plan.requests(lp)]
        hot_of = lp.hot.tolist()
        n = self.opt.concurrency
        sched_abs: np.ndarray | None = None
        if self.opt.rate is not None and items and paced:
            seed = self.opt.seed + 100_003 * self.info.index + phase
            off = schedule.offsets_ns(len(items), self.opt.rate, self.opt.arrival, seed)
            sched_abs = off + (time.perf_counter_ns() + START_LEAD_NS)
        for w in range(n):
            share = items[w::n]
            sch = sched_abs[w::n].tolist() if sched_abs is not None else None
            self._commands[w].put(("run", phase, measured, share, sch))
        origin = self.ctx.clock_origin_ns
        sec, level = self.info.index, lp.level
        fired: list[RequestRecord] = []
        cpu: dict[int, tuple[float, float]] = {}
        done = 0
        interrupted: BaseException | None = None
        while done < n:
            try:
                msg = self._get()
            except KeyboardInterrupt as e:  # stop the clients, keep what they measured
                interrupted = e
                self._abort.set()
                continue
            kind = msg[0]
            if kind == "recs":
                for seq, t0, t1, sch, found, looked, ent, err, units in msg[3]:
                    keys = items[seq][1]
                    rec = RequestRecord(
                        sec, level, seq, t0 - origin, t1 - origin, keys, tuple(hot_of[seq]),
                        found, looked, ent, err, None if sch is None else sch - origin, units,
                    )  # fmt: skip
                    fired.append(rec)
                    self.events.request.fire(rec)
                if self.ctx.progress is not None:
                    self.ctx.progress("measure" if measured else lp.phase, len(fired))
            elif kind == "io":
                for seq, sample, err in msg[3]:
                    keys = items[seq][1]
                    self.events.io_sample.fire(
                        IOSampleRecord(sec, level, seq, keys, tuple(hot_of[seq]), sample, err)
                    )
            elif kind == "warn":
                self.events.warning.fire(f"client {msg[1]}: {msg[2]}")
            elif kind == "done":
                cpu[msg[1]] = (msg[3], msg[4])
                done += 1
            elif kind == "fatal":
                self._abort.set()
                raise FeatbenchError(f"client {msg[1]} failed: {msg[2]}")
            if self.stop_requested:
                self._abort.set()
        if interrupted is not None:
            raise interrupted
        return fired, cpu

    def _flush_and_count(self) -> dict[str, int] | None:
        if self.ctx.read_counters is None:
            return None
        for q in self._commands:
            q.put(("flush",))
        got = 0
        while got < len(self._commands):
            msg = self._get(time.monotonic() + 60)
            if msg[0] == "flushed":
                got += 1
                if msg[2]:
                    self.events.warning.fire(f"client {msg[1]} could not flush its stats: {msg[2]}")
            elif msg[0] == "fatal":
                raise FeatbenchError(f"client {msg[1]} failed: {msg[2]}")
        try:
            return self.ctx.read_counters()
        except Exception as e:  # noqa: BLE001 - counters missing for a level is not fatal
            self.events.warning.fire(f"could not read cache counters: {e}")
            return None

    def _level_report(
        self, level: float, recs: list[RequestRecord], cpu: dict[int, tuple[float, float]]
    ) -> None:
        key = self.info.level_key
        entry: dict[str, Any] = {
            "section": self.info.label,
            "strategy": self.info.strategy,
            key: level,
            "concurrency": self.opt.concurrency,
            "workers": "processes" if self.in_process else "threads",
            "loop": "open" if self.opt.rate is not None else "closed",
            "arrival": self.opt.arrival if self.opt.rate is not None else None,
            "client_cpu": [
                {
                    "worker": w,
                    "cpu_s": round(c, 4),
                    "wall_s": round(t, 4),
                    "core_pct": round(100.0 * c / t, 2) if t > 0 else None,
                }
                for w, (c, t) in sorted(cpu.items())
            ],
        }
        busiest = max((c / t for c, t in cpu.values() if t > 0), default=None)
        entry["client_saturated"] = None if busiest is None else busiest > SATURATED
        lvl = f"{key.replace('_pct', '')} {level:g}"
        if busiest is not None and busiest > SATURATED:
            self.events.warning.fire(
                f"{self.info.label} {lvl}: a client used {100 * busiest:.0f}% of a core; the client, "
                "not the store, may limit these figures (add --concurrency or lower --rate)"
            )
        if self.opt.rate is not None:
            ok = [r for r in recs if r.scheduled_ns is not None]
            adh = schedule.adherence(
                np.array([r.scheduled_ns for r in ok], dtype=np.int64),
                np.array([r.start_ns for r in ok], dtype=np.int64),
                self.opt.rate,
            )
            entry.update(adh.to_dict())
            if adh.reached is False:
                self.events.warning.fire(
                    f"{self.info.label} {lvl}: target rate {self.opt.rate:g} req/s not reached "
                    f"(achieved {adh.achieved_rps:.1f} req/s, {adh.late} of {adh.requests} requests "
                    f"started late, up to {adh.max_lag_ms:.0f} ms); latency from the intended start "
                    "(corrected) includes that lag — add --concurrency or lower --rate"
                )
        self.report.append(entry)

    # -- the section -------------------------------------------------------------------------
    def run(self, section: SectionPlan) -> None:
        self.events.section_start.fire(self.info)
        self._start()
        try:
            if section.touch is not None:
                self._phase(section.touch, 1, measured=False, paced=False)
            for pos, (warm, meas) in enumerate(section.levels):
                if self.ctx.before_level is not None:
                    self.ctx.before_level(meas.level)
                self._phase(warm, 2 + 2 * pos, measured=False)
                before = self._flush_and_count()
                self.events.ratio_start.fire(
                    RatioStarted(self.info.index, meas.level, meas.timed, pos)
                )
                try:
                    recs, cpu = self._phase(meas, 3 + 2 * pos, measured=True)
                except KeyboardInterrupt:
                    self._finish(meas.level, before, interrupted=True)
                    raise
                self._level_report(meas.level, recs, cpu)
                stopped = self.stop_requested
                self._finish(meas.level, before, interrupted=stopped)
                if stopped:
                    return
        finally:
            self._stop()

    def _finish(self, level: float, before: dict[str, int] | None, *, interrupted: bool) -> None:
        after = self._flush_and_count() if not interrupted else None
        fire_level_end(
            self.events,
            self.info.index,
            level,
            before,
            after,
            self.io_capable,
            interrupted=interrupted,
            noun="level",
        )


# -- run configuration (called by runner/benchmark.py before anything runs) ----------------
def apply_load_config(config: Any) -> None:
    """Check the load options of a RunConfig and resolve what they imply, in place.

    `--duration` sets the requests per level (rate × duration), `--warmup-seconds` the
    warm-up requests (rate × seconds); both need an open loop. θ values are checked
    (> 0) and a Zipfian without θ is refused. Raises FeatbenchError on bad input.
    """
    from featbench.workload.skew_plan import levels_for

    schedule.check_rate(config.rate, config.arrival)
    if not isinstance(config.concurrency, int) or config.concurrency < 1:
        raise FeatbenchError(f"--concurrency must be an integer >= 1, got {config.concurrency}")
    if not config.interval_s > 0:
        raise FeatbenchError(f"--interval must be > 0 seconds, got {config.interval_s:g}")
    config.requests = schedule.requests_for(config.rate, config.duration_s, config.requests)
    if config.warmup_s is not None:
        if config.rate is None:
            raise FeatbenchError(
                "--warmup-seconds needs --rate (an open loop); a closed loop warms up with --warmup N"
            )
        if config.warmup_s < 0:
            raise FeatbenchError(f"--warmup-seconds must be >= 0, got {config.warmup_s:g}")
        config.warmup = int(math.ceil(config.rate * config.warmup_s))
    config.loop = "open" if config.rate is not None else "closed"
    if config.distribution == "hotcold":
        if config.thetas:
            raise FeatbenchError("--theta/--thetas need --distribution zipfian (or latest)")
    else:
        config.thetas = levels_for(config.distribution, config.thetas)


def manifest_extra(config: Any, keyset: Any) -> dict[str, Any]:
    """What the manifest records about a skewed distribution (nothing for hot/cold)."""
    if config.distribution == "hotcold":
        return {}
    from featbench.workload.skew_plan import describe

    return {"key_distribution": describe(config.distribution, config.thetas, keyset, config.seed)}


class ProcessCpu:
    """Listener for the single-client closed loop: the loop thread's CPU per measured level.

    The loop fires its events from its own thread, so `thread_time` here is the CPU of
    the client's loop (statistics listeners included) and not of unrelated threads of
    the process (a live display, servers embedded in tests). Same record shape as LoadLoop's (`report` entries with `client_cpu`), and the same
    warning when the client used more than SATURATED of a core.
    """

    def __init__(self, report: list[dict[str, Any]], warn: Callable[[str], None]) -> None:
        self.report = report
        self.warn = warn
        self.sections: dict[int, SectionInfo] = {}
        self._start: tuple[float, float] | None = None

    def on_section_start(self, info: SectionInfo) -> None:
        self.sections[info.index] = info

    def on_ratio_start(self, ev: RatioStarted) -> None:
        self._start = (time.thread_time(), time.perf_counter())

    def on_ratio_end(self, ev: RatioFinished) -> None:
        if self._start is None:
            return
        c0, w0 = self._start
        cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
        self._start = None
        info = self.sections[ev.section]
        share = cpu / wall if wall > 0 else None
        self.report.append(
            {
                "section": info.label,
                "strategy": info.strategy,
                info.level_key: ev.level,
                "concurrency": 1,
                "workers": "loop thread",
                "loop": "closed",
                "arrival": None,
                "client_cpu": [
                    {
                        "worker": 0,
                        "cpu_s": round(cpu, 4),
                        "wall_s": round(wall, 4),
                        "core_pct": None if share is None else round(100 * share, 2),
                    }
                ],
                "client_saturated": None if share is None else share > SATURATED,
            }
        )
        if share is not None and share > SATURATED:
            lvl = f"{info.level_key.replace('_pct', '')} {ev.level:g}"
            self.warn(
                f"{info.label} {lvl}: the client used {100 * share:.0f}% of a core; the client, "
                "not the store, may limit these figures (try --concurrency)"
            )
