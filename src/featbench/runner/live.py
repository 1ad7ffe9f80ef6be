"""Counters a live display reads while clients run: shared memory, written by plain stores.

The single client writes `done` once per request (one store into a shared int64
array); drivers write the phase fields between phases and listeners the running
figures at pauses. A display process (`featbench.report.live`) reads them on its own
schedule, so drawing never delays the timed loop and never holds its GIL.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

PHASES = ("starting", "touch", "warm-up", "measure", "finishing")
# slots of the shared array
DONE, PLANNED, PHASE, SECTION, POSITION, MEASURED, ERRORS, P99_US, STARTED_NS = range(9)
SLOTS = 12


class LiveCounters:
    """A small shared int64 array; `array` goes to the client and to the display process."""

    def __init__(self) -> None:
        self.array: Any = mp.get_context("spawn").RawArray("q", SLOTS)

    def phase(self, section: int, position: int, phase: str, planned: int, now_ns: int) -> None:
        a = self.array
        a[DONE] = 0
        a[MEASURED] = 0
        a[ERRORS] = 0
        a[P99_US] = -1
        a[SECTION] = section
        a[POSITION] = position
        a[PLANNED] = planned
        a[STARTED_NS] = now_ns
        a[PHASE] = PHASES.index(phase)

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.array)


def snapshot(a: Any) -> dict[str, Any]:
    """The counters as a dict (the display process reads them with this)."""
    return {
        "done": int(a[DONE]),
        "planned": int(a[PLANNED]),
        "phase": PHASES[int(a[PHASE])] if 0 <= a[PHASE] < len(PHASES) else "starting",
        "section": int(a[SECTION]),
        "position": int(a[POSITION]),
        "measured": int(a[MEASURED]),
        "errors": int(a[ERRORS]),
        "p99_us": None if a[P99_US] < 0 else int(a[P99_US]),
        "started_ns": int(a[STARTED_NS]),
    }
