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

from typing import Any

from featbench.events import RunEvents, SectionInfo
from featbench.runner.client import Chunk, Client
from featbench.runner.client_report import level_entry
from featbench.runner.context import DriverContext
from featbench.runner.deliver import fire_chunk, read_counters
from featbench.runner.section import SectionDriver
from featbench.workload.plan import LevelPlan


class InlineDriver(SectionDriver):
    def __init__(self, info: SectionInfo, events: RunEvents, ctx: DriverContext) -> None:
        self.info = info
        self.events = events
        self.ctx = ctx
        self.stop_requested = False
        self._lp: LevelPlan | None = None
        self._client: Client | None = None

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

    def _stopped(self) -> bool:
        return self.stop_requested

    @property
    def io_capable(self) -> bool:  # type: ignore[override]
        return self._client is not None and self._client.io_capable

    def _begin(self) -> None:
        ctx = self.ctx
        self._client = Client(
            ctx.open_session,
            self.info.entities,
            [ctx.keys[e] for e in self.info.entities],
            sink=self._sink,
            warn=self.events.warning.fire,
            pause_every=ctx.pause_every,
            pause_interval_s=ctx.pause_interval_s,
            progress=None if ctx.live is None else ctx.live.array,
            reconnect=ctx.reconnect,
        )

    def _end(self) -> dict[str, int] | None:
        if self._client is None:
            return None
        stats = self._client.backend_stats()
        self._client.close()
        return stats

    def _unmeasured(self, lp: LevelPlan, phase: str, phase_no: int) -> None:
        assert self._client is not None
        self._client.run(lp.key_idx, lp.io_sample, measured=False, phase=phase, stop=self._stopped)

    def _measure(self, warm: LevelPlan, meas: LevelPlan, phase_no: int) -> dict[str, Any]:
        assert self._client is not None
        self._lp = meas
        st = self._client.run(meas.key_idx, meas.io_sample, measured=True, stop=self._stopped)
        return level_entry(
            self.info, meas.level, {0: st}, concurrency=1, workers="featbench process",
            rate=None, arrival=None, warn=self.events.warning.fire,
        )  # fmt: skip

    def _counters(self) -> dict[str, int] | None:
        assert self._client is not None
        return read_counters(self.ctx, self.events.warning.fire, self._client.flush_stats)

    def _counters_after(self, interrupted: bool) -> dict[str, int] | None:
        # the one client is in this thread and idle after an interrupt: its counters are safe
        return self._counters()
