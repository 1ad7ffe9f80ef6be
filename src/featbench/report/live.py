"""The live display of a run, drawn by its own process so it never delays a timed request.

The measuring process only writes counters into shared memory (`runner.live`) — one
store per request — and, at pauses, sends lines to print (a level's result, a
warning) through a pipe. A separate display process reads the counters four times a
second and draws them with rich: its work, and the GIL it takes to do it, are never
in the measuring process. Without a terminal there is no display process: the
level lines are printed as levels end.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from multiprocessing.connection import Connection
from typing import Any

from featbench.events import LevelFinished, LevelStarted, RequestBatch, SectionInfo
from featbench.measure.histogram import LatencyHistogram
from featbench.measure.stats import StatsCollector
from featbench.runner.live import ERRORS, MEASURED, P99_US, LiveCounters

REFRESH_S = 0.25


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if x is None else fmt.format(x)


PHASE_WORDS = {"touch": "touching the hot set", "warm-up": "warm-up", "measure": "measured"}


def level_name(level: float, level_key: str) -> str:
    return f"θ {level:g}" if level_key == "theta" else f"hot {level:g}%"


def status_line(
    snap: dict[str, Any],
    sections: dict[int, str],
    *,
    levels: int,
    total_sections: int,
    now_ns: int,
    level_names: dict[tuple[int, int], str] | None = None,
) -> str:
    """The one status line: target · strategy, ratio i/n, phase and progress, req/s,
    running p99, e.g. `[2/3] redis://h:6379/0 · pipeline  ratio 3/9 hot 30%  measured
    120/400  2,345 req/s  running p99 1.23 ms`.

    Counters are clamped to their totals: a display must never say "ratio 19/18"."""
    sec = snap["section"]
    name = sections.get(sec, "")
    parts = []
    if total_sections > 1:
        parts.append(f"[{min(max(sec, 0) + 1, total_sections)}/{total_sections}] {name}".rstrip())
    elif name:
        parts.append(name)
    phase = snap["phase"]
    pos = snap["position"]
    if phase in ("warm-up", "measure") and pos >= 0 and levels:
        i = min(pos + 1, levels)
        which = (level_names or {}).get((sec, pos))
        parts.append(f"ratio {i}/{levels}" + (f" {which}" if which else ""))
    planned = max(0, snap["planned"])
    done = min(max(0, snap["done"]), planned) if planned else max(0, snap["done"])
    if phase in PHASE_WORDS:
        parts.append(f"{PHASE_WORDS[phase]} {done:,}/{planned:,}")
        el = (now_ns - snap["started_ns"]) / 1e9 if snap["started_ns"] else 0.0
        if el > 0.2 and done:
            parts.append(f"{done / el:,.0f} req/s")
        if phase == "measure":
            p99 = snap["p99_us"]
            parts.append(f"running p99 {_f(None if p99 is None else p99 / 1000)} ms")
            if snap["errors"]:
                parts.append(f"errors {snap['errors']:,}")
    else:
        parts.append(phase)
    return "  ".join(parts)


def section_name(info: SectionInfo) -> str:
    """What the status line calls a section: the target (no credentials) and strategy."""
    target = info.target if len(info.target) <= 48 else info.target[:47] + "…"
    return f"{target} · {info.strategy}"


def level_line(stats: StatsCollector, ev: LevelFinished) -> str | None:
    st = stats.levels.get((ev.section, ev.level))
    if st is None:
        return None
    s = st.to_summary()
    lvl = f"θ {ev.level:>5g} " if st.level_key == "theta" else f"hot {ev.level:>5g}%"
    if len(stats.sections) > 1 and ev.section in stats.sections:
        lvl = f"{section_name(stats.sections[ev.section])}  {lvl}"
    p99, ci99 = s["latency_ms"]["p99"], s["latency_ci_ms"]["p99"]
    return (
        f"{lvl}  p50 {_f(s['latency_ms']['p50'])} ms  p99 {_f(p99)} ms "
        f"[{_f(ci99[0])}, {_f(ci99[1])}]  hit ratio {_f(s['io']['hit_ratio'], '{:.4f}')}"
    )


class DisplayState:
    """What the display process knows besides the counters: section names and the level
    each (section, position) measures, from the measuring process's messages."""

    def __init__(self, levels: int, total_sections: int) -> None:
        self.levels = levels
        self.total_sections = total_sections
        self.sections: dict[int, str] = {}
        self.level_names: dict[tuple[int, int], str] = {}

    def apply(self, msg: tuple[Any, ...]) -> str | None:
        """Take one message; returns a line to print above the status, if it is one."""
        kind = msg[0]
        if kind == "section":
            self.sections[msg[1]] = msg[2]
        elif kind == "level":
            self.level_names[(msg[1], msg[2])] = msg[3]
        elif kind == "line":
            return str(msg[1])
        return None

    def status(self, snap: dict[str, Any], now_ns: int) -> str:
        return status_line(
            snap,
            self.sections,
            levels=self.levels,
            total_sections=self.total_sections,
            now_ns=now_ns,
            level_names=self.level_names,
        )


def display_main(array: Any, conn: Connection, levels: int, total_sections: int) -> None:
    """The display process: draw the counters until told to stop or the parent is gone."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # the measuring process ends the run
        signal.signal(sig, signal.SIG_IGN)
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from featbench.runner.live import snapshot

    console = Console(stderr=True)
    state = DisplayState(levels, total_sections)
    parent = os.getppid()

    def render() -> Text:
        return Text(state.status(snapshot(array), time.perf_counter_ns()), style="bold")

    with Live(console=console, get_renderable=render, refresh_per_second=4, transient=True) as lv:
        while os.getppid() == parent:
            try:
                if not conn.poll(REFRESH_S):
                    continue
                msg = conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "stop":
                break
            line = state.apply(msg)
            if line is not None:
                lv.console.print(line, highlight=False, markup=False)


class LiveDisplay:
    """Measuring-process side: starts the display process and feeds it; a run-event listener."""

    def __init__(
        self, levels: int, total_sections: int, *, interactive: bool, level_lines: bool = True
    ) -> None:
        from featbench.progress import console

        self.console = console
        self.levels = levels
        self.total_sections = total_sections
        self.level_lines = level_lines
        self.counters: LiveCounters | None = None
        self.stats = StatsCollector()  # for the level lines; the run's own collector is separate
        self._p99 = LatencyHistogram()
        self._conn: Connection | None = None
        self._proc: Any = None
        if interactive:
            self.counters = LiveCounters()
            mpc = mp.get_context("spawn")
            reader, writer = mpc.Pipe(duplex=False)
            self._proc = mpc.Process(
                target=display_main,
                args=(self.counters.array, reader, levels, total_sections),
                name="featbench-display",
                daemon=True,
            )
            self._proc.start()
            reader.close()
            self._conn = writer

    def line(self, text: str) -> None:
        """Print a line above the status (through the display process when there is one)."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("line", text))
        else:
            self.console.print(text, highlight=False, markup=False)

    # -- listener (called outside timed requests) ------------------------------------------
    def on_section_start(self, info: SectionInfo) -> None:
        self.stats.on_section_start(info)
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("section", info.index, section_name(info)))

    def on_level_start(self, ev: LevelStarted) -> None:
        self.stats.on_level_start(ev)
        self._p99 = LatencyHistogram()
        info = self.stats.sections.get(ev.section)
        if self._conn is not None and info is not None:
            with contextlib.suppress(OSError):
                self._conn.send(
                    ("level", ev.section, ev.position, level_name(ev.level, info.level_key))
                )

    def on_requests(self, b: RequestBatch) -> None:
        self.stats.on_requests(b)
        if self.counters is not None:
            ok = b.ok
            self._p99.record_ns((b.end_ns - b.start_ns)[ok])
            p = self._p99.percentile_us(99.0)
            a = self.counters.array
            a[P99_US] = -1 if p is None else p
            a[MEASURED] += len(b)
            a[ERRORS] += len(b.errors)

    def on_io_sample(self, s: Any) -> None:
        self.stats.on_io_sample(s)

    def on_level_end(self, ev: LevelFinished) -> None:
        self.stats.on_level_end(ev)
        text = level_line(self.stats, ev) if self.level_lines else None
        if text:
            self.line(text)

    def on_warning(self, text: str) -> None:
        self.line(f"note: {text}")  # as it comes: e.g. "the data fits in shared_buffers"

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(timeout=3)
            if self._proc.is_alive():
                self._proc.terminate()
            self._proc = None
