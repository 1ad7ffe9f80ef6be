"""The single closed-loop client, run in featbench's own process (the default run).

One session, one request at a time, as the original benchmark did. The client loop
(`runner.client`) times requests; this driver runs a section's phases around it —
hot-set touch, then per level: the `before_level` hook (e.g. evicting the OS page
cache), warm-up, cache counters, the measured requests, counters again — and turns
what the client hands over at its pauses into run events. Listeners therefore run
only at pauses, in this thread, never while a request is in flight; the process has
no other thread of featbench's.
"""

from __future__ import annotations

import time

from featbench.events import LevelStarted, RunEvents, SectionFinished, SectionInfo
from featbench.pausepoint import pause_point
from featbench.runner.client import Chunk, Client
from featbench.runner.client_report import level_entry
from featbench.runner.context import DriverContext
from featbench.runner.deliver import fire_chunk, fire_level_end, read_counters
from featbench.workload.plan import LevelPlan, SectionPlan


class InlineDriver:
    def __init__(self, info: SectionInfo, events: RunEvents, ctx: DriverContext) -> None:
        self.info = info
        self.events = events
        self.ctx = ctx
        self.stop_requested = False
        self._lp: LevelPlan | None = None

    def _sink(self, chunk: Chunk) -> None:
        assert self._lp is not None
        fire_chunk(
            self.events,
            chunk,
            section=self.info.index,
            lp=self._lp,
            keys=self.ctx.keys,
            key_str=self.ctx.key_str,
            entities=self.info.entities,
            origin_ns=self.ctx.clock_origin_ns,
        )

    def _phase(self, client: Client, lp: LevelPlan, phase: str, position: int) -> None:
        if self.ctx.live is not None:
            self.ctx.live.phase(self.info.index, position, phase, len(lp), time.perf_counter_ns())
        client.run(lp.key_idx, lp.io_sample, measured=False, phase=phase, stop=self._stopped)

    def _stopped(self) -> bool:
        return self.stop_requested

    def _counters(self, client: Client) -> dict[str, int] | None:
        return read_counters(self.ctx, self.events.warning.fire, client.flush_stats)

    def run(self, section: SectionPlan) -> None:
        """Run one section; Ctrl-C finishes the current level's bookkeeping first."""
        ev, ctx, info = self.events, self.ctx, self.info
        ev.section_start.fire(info)
        client = Client(
            ctx.open_session,
            info.entities,
            [ctx.keys[e] for e in info.entities],
            sink=self._sink,
            warn=ev.warning.fire,
            pause_every=ctx.pause_every,
            pause_interval_s=ctx.pause_interval_s,
            progress=None if ctx.live is None else ctx.live.array,
            reconnect=ctx.reconnect,
        )
        try:
            if section.touch is not None:
                self._phase(client, section.touch, "touch", -1)
            for pos, (warm, meas) in enumerate(section.levels):
                if ctx.before_level is not None:
                    ctx.before_level(meas.level)
                self._phase(client, warm, "warm-up", pos)
                before = self._counters(client)
                ev.level_start.fire(LevelStarted(info.index, meas.level, meas.timed, pos))
                if ctx.live is not None:
                    ctx.live.phase(info.index, pos, "measure", meas.timed, time.perf_counter_ns())
                self._lp = meas
                pause_point(f"measure-{pos}")  # tests only (featbench/pausepoint.py)
                try:
                    st = client.run(meas.key_idx, meas.io_sample, measured=True, stop=self._stopped)
                except KeyboardInterrupt:
                    self._finish(client, meas.level, before, interrupted=True)
                    raise
                ctx.report.append(
                    level_entry(
                        info,
                        meas.level,
                        {0: st},
                        concurrency=1,
                        workers="featbench process",
                        rate=None,
                        arrival=None,
                        warn=ev.warning.fire,
                    )
                )
                stopped = self.stop_requested
                self._finish(client, meas.level, before, interrupted=stopped)
                if stopped:
                    return
                pause_point(f"level-end-{pos}")
        finally:
            stats = client.backend_stats()
            client.close()
            ev.section_end.fire(SectionFinished(info.index, stats))

    def _finish(
        self, client: Client, level: float, before: dict[str, int] | None, *, interrupted: bool
    ) -> None:
        fire_level_end(
            self.events,
            self.info.index,
            level,
            before,
            self._counters(client),
            client.io_capable,
            interrupted=interrupted,
        )
