"""The closed loop: one session, one request at a time, as the seed did.

It executes a `SectionPlan` (hot-set touch, then per ratio: warm-up, measured
requests with interleaved I/O samples) and fires events; it computes no statistics
and writes no files. What it needs from the store is a `Session` (execute/close)
plus optional hooks:

- `session.explain(keys) -> IOSample` — I/O samples (skipped when absent);
- `session.flush_stats()` — called at the end of each ratio, before the counters are
  read, on the session's own connection (PostgreSQL 15+ keeps pending stats per
  backend, so only the session itself can publish them);
- `session.recover()` — called after an errored request to reconnect if needed; when
  absent, the session is closed and a new one opened.

Cache counters are read through `read_counters()` at the start and end of each ratio
(measured requests and I/O samples only; warm-up is outside). A counter that went
backwards (someone ran pg_stat_reset meanwhile) makes that ratio's delta unknown.

Request events are delivered in batches of `event_batch` (and at the end of every
ratio, and on Ctrl-C): listeners (statistics, file writers, displays) cost several µs
per request, and running them between two timed requests measurably slowed the next
one (its client code found cold CPU caches: +6 µs on a 25 µs lookup). Between two
timed requests the loop now only builds and appends one record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from featbench.backends.base import Session
from featbench.errors import FeatbenchError
from featbench.runner.events import (
    IOSampleRecord,
    RatioFinished,
    RatioStarted,
    RequestRecord,
    RunEvents,
    SectionFinished,
    SectionInfo,
)
from featbench.workload.plan import LevelPlan, Plan, SectionPlan

RECONNECT_DELAYS_S = (0.05, 0.5, 2.0, 5.0)


@dataclass
class LoopContext:
    """What the loop needs besides the plan: how to open sessions and read counters."""

    open_session: Callable[[], Session]
    read_counters: Callable[[], dict[str, int] | None] | None = None
    clock_origin_ns: int = 0  # perf_counter_ns() at the run's clock origin
    progress: Callable[[str, int], None] | None = None  # (phase, n done) for displays
    event_batch: int = 64  # request events delivered to listeners this many at a time
    # called with the level before each level's warm-up (e.g. OS page-cache eviction)
    before_level: Callable[[float], None] | None = None


def add_session_stats(acc: dict[str, int] | None, session: Any) -> dict[str, int] | None:
    """Add a session's own integer counters (`session.stats`, if any) to `acc`.

    Sessions are replaced after a lost connection; their counts must not be lost with
    them, so the loop adds each session's stats when it retires it."""
    st = getattr(session, "stats", None)
    if not isinstance(st, dict):
        return acc
    out = dict(acc or {})
    for k, v in st.items():
        if isinstance(v, int) and not isinstance(v, bool):
            out[k] = out.get(k, 0) + v
    return out


def _delta(a: dict[str, int] | None, b: dict[str, int] | None) -> dict[str, int] | None:
    if a is None or b is None:
        return None
    keys = [k for k in b if k != "tables"]
    d = {k: int(b[k]) - int(a.get(k, 0)) for k in keys}
    if any(v < 0 for v in d.values()):
        return None
    return d


def fire_level_end(
    events: RunEvents,
    index: int,
    level: float,
    before: dict[str, int] | None,
    after: dict[str, int] | None,
    io_capable: bool,
    *,
    interrupted: bool,
    noun: str,
) -> None:
    """Emit the end of one level with its cache-counter delta (shared by every loop)."""
    delta = _delta(before, after)
    notes: tuple[str, ...] = ()
    if before is not None and after is not None and delta is None:
        notes = (f"cache counters went backwards during this {noun} (stats reset?): not reported",)
        events.warning.fire(notes[0])
    events.ratio_end.fire(
        RatioFinished(index, level, delta, io_capable, interrupted=interrupted, notes=notes)
    )


class ClosedLoop:
    def __init__(self, plan: Plan, info: SectionInfo, events: RunEvents, ctx: LoopContext) -> None:
        self.plan = plan
        self.info = info
        self.events = events
        self.ctx = ctx
        self.session: Session | None = None
        self.stop_requested = False
        self._raw: list[tuple[Any, ...]] = []
        self.backend_stats: dict[str, int] | None = None

    # -- session management --------------------------------------------------------
    def _open(self) -> Session:
        last: Exception | None = None
        for delay in (0.0, *RECONNECT_DELAYS_S):
            if delay:
                time.sleep(delay)
            try:
                return self.ctx.open_session()
            except FeatbenchError as e:  # server restarting, connection refused…
                last = e
        raise FeatbenchError(f"lost the connection and could not reconnect: {last}")

    def _recover(self) -> None:
        s = self.session
        assert s is not None
        rec = getattr(s, "recover", None)
        if rec is not None:
            for delay in (0.0, *RECONNECT_DELAYS_S):
                if delay:
                    time.sleep(delay)
                try:
                    rec()
                    return
                except FeatbenchError as e:
                    last = e
            raise FeatbenchError(f"lost the connection and could not reconnect: {last}")
        self.backend_stats = add_session_stats(self.backend_stats, s)
        try:
            s.close()
        except Exception:  # noqa: BLE001 - the old session is gone either way
            pass
        self.session = self._open()

    # -- phases ----------------------------------------------------------------------
    def _unmeasured(self, lp: LevelPlan) -> None:
        """Touch / warm-up requests: executed, never reported."""
        ents = self.info.entities
        done = 0
        for _seq, keys, _hot, _io in self.plan.requests(lp):
            assert self.session is not None
            res = self.session.execute(dict(zip(ents, keys, strict=False)))
            if res.error is not None:
                self.events.warning.fire(f"{lp.phase} request failed: {res.error}")
                self._recover()
            done += 1
            if self.ctx.progress and done % 50 == 0:
                self.ctx.progress(lp.phase, done)

    def _measured(self, lp: LevelPlan) -> bool:
        """Measured requests and I/O samples of one level. Returns True if all ran.

        The level's requests are built before the first one is timed, and each timed
        request leaves only a raw tuple behind; records are built when delivered.
        """
        ents = self.info.entities
        clock = time.perf_counter_ns
        todo = [
            (seq, dict(zip(ents, keys, strict=True)), keys, hot, io)
            for seq, keys, hot, io in self.plan.requests(lp)
        ]
        self._raw: list[tuple[Any, ...]] = []
        raw = self._raw
        batch = max(1, self.ctx.event_batch)
        explain = getattr(self.session, "explain", None)
        progress = self.ctx.progress
        done = 0
        for seq, req, keys, hot, is_io in todo:
            if is_io:
                if explain is None:
                    continue
                self._deliver_raw(lp.level)  # keep events in execution order
                self._io_sample(lp.level, seq, req, keys, hot, explain)
                explain = getattr(self.session, "explain", None)
                continue
            session = self.session
            assert session is not None
            t0 = clock()
            res = session.execute(req)
            t1 = clock()
            raw.append((seq, t0, t1, keys, hot, res))
            if len(raw) >= batch:
                self._deliver_raw(lp.level)
            if res.error is not None:
                self._recover()
                explain = getattr(self.session, "explain", None)
            done += 1
            if progress is not None and done % 25 == 0:
                progress("measure", done)
            if self.stop_requested:
                self._deliver_raw(lp.level)
                return False
        self._deliver_raw(lp.level)
        return True

    def _io_sample(
        self,
        level: float,
        seq: int,
        req: dict[str, Any],
        keys: tuple[Any, ...],
        hot: tuple[bool, ...],
        explain: Callable[..., Any],
    ) -> None:
        sec = self.info.index
        try:
            sample = explain(req)
            self.events.io_sample.fire(IOSampleRecord(sec, level, seq, keys, hot, sample))
        except Exception as e:  # noqa: BLE001 - a failed sample is recorded, not fatal
            self.events.io_sample.fire(IOSampleRecord(sec, level, seq, keys, hot, None, str(e)))
            self._recover()

    def _deliver_raw(self, level: float) -> None:
        """Turn the raw tuples of timed requests into records and fire them, in order."""
        raw = getattr(self, "_raw", None)
        if not raw:
            return
        ents = self.info.entities
        sec = self.info.index
        origin = self.ctx.clock_origin_ns
        fire = self.events.request.fire
        items = list(raw)
        raw.clear()  # the same list object: the loop keeps appending to it
        for seq, t0, t1, keys, hot, res in items:
            ent_ns = tuple(int(res.entity_ns.get(e, 0)) for e in ents) if res.entity_ns else None
            fire(
                RequestRecord(
                    sec, level, seq, t0 - origin, t1 - origin, keys, hot,
                    res.rows_found, res.rows_looked_up, ent_ns, res.error,
                    None, res.consumed_units,
                )
            )  # fmt: skip

    def _counters(self) -> dict[str, int] | None:
        if self.ctx.read_counters is None:
            return None
        flush = getattr(self.session, "flush_stats", None)
        try:
            if flush is not None:
                flush()
            return self.ctx.read_counters()
        except Exception as e:  # noqa: BLE001 - counters missing for a ratio is not fatal
            self.events.warning.fire(f"could not read cache counters: {e}")
            return None

    def run(self, section: SectionPlan) -> None:
        """Run one section; KeyboardInterrupt finishes the current ratio's bookkeeping first."""
        self.events.section_start.fire(self.info)
        self.session = self._open()
        io_capable = hasattr(self.session, "explain")
        try:
            if section.touch is not None:
                self._unmeasured(section.touch)
            for pos, (warm, meas) in enumerate(section.levels):
                if self.ctx.before_level is not None:
                    self.ctx.before_level(meas.level)
                self._unmeasured(warm)
                before = self._counters()
                self.events.ratio_start.fire(
                    RatioStarted(self.info.index, meas.level, meas.timed, pos)
                )
                try:
                    complete = self._measured(meas)
                except KeyboardInterrupt:
                    try:
                        self._deliver_raw(meas.level)  # what was measured before Ctrl-C is kept
                    except KeyboardInterrupt:
                        pass
                    self._finish_ratio(meas.level, before, io_capable, interrupted=True)
                    raise
                self._finish_ratio(meas.level, before, io_capable, interrupted=not complete)
                if not complete:
                    return
        finally:
            if self.session is not None:
                self.backend_stats = add_session_stats(self.backend_stats, self.session)
                try:
                    self.session.close()
                except Exception:  # noqa: BLE001
                    pass
                self.session = None
            self.events.section_end.fire(SectionFinished(self.info.index, self.backend_stats))

    def _finish_ratio(
        self, level: float, before: dict[str, int] | None, io_capable: bool, *, interrupted: bool
    ) -> None:
        fire_level_end(
            self.events,
            self.info.index,
            level,
            before,
            self._counters(),
            io_capable,
            interrupted=interrupted,
            noun="ratio",
        )
