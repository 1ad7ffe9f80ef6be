"""The phases of one section, once for every driver (inline client, client pool, Spark).

A section is: the hot-set touch, then per level the `before_level` hook (e.g. evicting
the OS page cache), the warm-up, cache counters, the measured requests, counters again.
`SectionDriver.run` is that sequence with its events and test pause points; a driver
says only how it runs a phase's requests (`_unmeasured`, `_measure`), how it reads the
store's counters, and what it opens and closes around the section.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any

from featbench.events import LevelStarted, RunEvents, SectionFinished, SectionInfo
from featbench.pausepoint import pause_point
from featbench.runner.context import DriverContext
from featbench.runner.deliver import fire_level_end
from featbench.workload.plan import LevelPlan, SectionPlan


class SectionDriver(ABC):
    info: SectionInfo
    events: RunEvents
    ctx: DriverContext
    stop_requested: bool = False  # set from outside (`stop()`): end after the current level
    io_capable: bool = True

    # -- what a driver provides ----------------------------------------------------------------
    @abstractmethod
    def _begin(self) -> None:
        """Open what the section needs (clients, sessions); inside the section's `finally`."""

    @abstractmethod
    def _end(self) -> dict[str, int] | None:
        """Close what `_begin` opened (it may have opened part of it); the sessions' stats."""

    @abstractmethod
    def _unmeasured(self, lp: LevelPlan, phase: str, phase_no: int) -> None:
        """Run the touch or a warm-up: requests not measured."""

    @abstractmethod
    def _measure(self, warm: LevelPlan, meas: LevelPlan, phase_no: int) -> dict[str, Any]:
        """Run a level's measured requests, delivering their records; its report entry.
        A KeyboardInterrupt is raised after the clients stopped, what they measured kept."""

    @abstractmethod
    def _counters(self) -> dict[str, int] | None:
        """The store's cache counters now, sessions' pending stats published first."""

    def _counters_after(self, interrupted: bool) -> dict[str, int] | None:
        """Counters at a level's end: none after an interrupt (clients may be mid-request)."""
        return None if interrupted else self._counters()

    # -- the sequence ------------------------------------------------------------------------
    def run(self, section: SectionPlan) -> None:
        """Run one section; Ctrl-C finishes the current level's bookkeeping first."""
        ev, ctx, info = self.events, self.ctx, self.info
        ev.section_start.fire(info)
        try:
            self._begin()
            if section.touch is not None:
                self._live(-1, "touch", len(section.touch))
                self._unmeasured(section.touch, "touch", 1)
            for pos, (warm, meas) in enumerate(section.levels):
                if ctx.before_level is not None:
                    ctx.before_level(meas.level)
                self._live(pos, "warm-up", len(warm))
                self._unmeasured(warm, "warm-up", 2 + 2 * pos)
                before = self._counters()
                ev.level_start.fire(LevelStarted(info.index, meas.level, meas.timed, pos))
                self._live(pos, "measure", meas.timed)
                pause_point(f"measure-{pos}")  # tests only (featbench/pausepoint.py)
                try:
                    entry = self._measure(warm, meas, 3 + 2 * pos)
                except KeyboardInterrupt:
                    self._level_end(meas.level, before, interrupted=True)
                    raise
                ctx.report.append(entry)
                stopped = self.stop_requested
                self._level_end(meas.level, before, interrupted=stopped)
                if stopped:
                    return
                pause_point(f"level-end-{pos}")
        finally:
            ev.section_end.fire(SectionFinished(info.index, self._end()))

    def _level_end(self, level: float, before: dict[str, int] | None, *, interrupted: bool) -> None:
        fire_level_end(
            self.events, self.info.index, level, before, self._counters_after(interrupted),
            self.io_capable, interrupted=interrupted,
        )  # fmt: skip

    def _live(self, position: int, phase: str, planned: int) -> None:
        if self.ctx.live is not None:
            self.ctx.live.phase(self.info.index, position, phase, planned, time.perf_counter_ns())


def add_stats(acc: dict[str, int] | None, more: dict[str, int] | None) -> dict[str, int] | None:
    """Sessions' stats summed over clients (None until one reports some)."""
    if not more:
        return acc
    out = dict(acc or {})
    for k, v in more.items():
        out[k] = out.get(k, 0) + v
    return out
