"""The live display, driven by a fake run of two sections: the status line names the
target and strategy, says ratio i/n and the phase, shows req/s and the running p99, and
its counters never exceed their totals, even when a counter overshoots."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from featbench.events import LevelFinished, LevelStarted, RequestBatch, SectionInfo
from featbench.measure.percentiles import percentile
from featbench.report.live import DisplayState, LiveDisplay, status_line
from featbench.runner.live import DONE, LiveCounters

LEVELS = (100.0, 50.0, 0.0)
SECTIONS = (
    SectionInfo(0, "postgresql://bench@db.example.com:5432/feat", "postgres", "union", ("a", "b")),
    SectionInfo(1, "redis://cache.example.com:6379/0", "redis", "pipeline", ("a", "b")),
)


class Pipe:
    """Stands for the pipe to the display process: keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    def send(self, msg: tuple[Any, ...]) -> None:
        self.sent.append(msg)

    def close(self) -> None:
        pass


def batch(section: int, level: float, lat_us: np.ndarray) -> RequestBatch:
    n = len(lat_us)
    start = np.arange(n, dtype=np.int64) * 1_000_000
    ones = np.ones(n, dtype=np.int64)
    return RequestBatch(
        section=section,
        level=level,
        seq=np.arange(n, dtype=np.int64),
        start_ns=start,
        end_ns=start + (lat_us * 1000).astype(np.int64),
        rows_found=ones * 2,
        keys_found=ones * 2,
        lookups=ones * 2,
        hot=np.zeros((n, 2), dtype=bool),
        keys=(np.array(["k"] * n, dtype=object), np.array(["k"] * n, dtype=object)),
    )


def ratio_of(line: str) -> tuple[int, int] | None:
    m = re.search(r"ratio (\d+)/(\d+)", line)
    return (int(m.group(1)), int(m.group(2))) if m else None


def progress_of(line: str, word: str) -> tuple[int, int] | None:
    m = re.search(rf"{word} ([\d,]+)/([\d,]+)", line)
    return (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))) if m else None


def test_status_line_over_a_fake_run() -> None:
    display = LiveDisplay(len(LEVELS), len(SECTIONS), interactive=False, level_lines=False)
    counters = LiveCounters()
    display.counters = counters  # as in a terminal, without the display process
    pipe = Pipe()
    display._conn = pipe  # type: ignore[assignment]
    state = DisplayState(len(LEVELS), len(SECTIONS))
    rng = np.random.default_rng(3)
    lines: list[str] = []
    t0 = 10_000_000_000

    def draw(now_ns: int) -> str:
        for msg in pipe.sent:
            state.apply(msg)
        pipe.sent.clear()
        line = state.status(counters.snapshot(), now_ns)
        lines.append(line)
        return line

    for info in SECTIONS:
        display.on_section_start(info)
        for pos, level in enumerate(LEVELS):
            counters.phase(info.index, pos, "warm-up", 50, t0)
            counters.array[DONE] = 53  # a counter that overshoots its total
            line = draw(t0 + 500_000_000)
            assert ratio_of(line) == (pos + 1, len(LEVELS))
            assert progress_of(line, "warm-up") == (50, 50)
            display.on_level_start(LevelStarted(info.index, level, 400, pos))
            counters.phase(info.index, pos, "measure", 400, t0)
            lat = rng.gamma(2.0, 300.0 if info.backend == "postgres" else 80.0, size=250)
            display.on_requests(batch(info.index, level, lat))
            counters.array[DONE] = 250
            line = draw(t0 + 1_000_000_000)
            assert line.startswith(f"[{info.index + 1}/2] {info.target} · {info.strategy}")
            assert f"ratio {pos + 1}/3 hot {level:g}%" in line
            assert progress_of(line, "measured") == (250, 400)
            assert "250 req/s" in line
            p99 = float(re.search(r"running p99 ([\d.]+) ms", line).group(1))
            # featbench's percentile definition; HDR keeps 3 significant digits, the line 2 decimals
            assert abs(p99 - percentile(lat, 0.99) / 1000) <= 0.002 * p99 + 0.006
            counters.array[DONE] = 405
            assert progress_of(draw(t0 + 2_000_000_000), "measured") == (400, 400)
            display.on_level_end(LevelFinished(info.index, level, None, False))
    for line in lines:
        i, n = ratio_of(line) or (0, 3)
        assert 1 <= i <= n == 3, line
        for word in ("warm-up", "measured"):
            got = progress_of(line, word)
            assert got is None or got[0] <= got[1], line


def test_status_line_clamps_bad_positions() -> None:
    snap = {
        "done": 19,
        "planned": 18,
        "phase": "warm-up",
        "section": 5,
        "position": 20,
        "measured": 0,
        "errors": 0,
        "p99_us": None,
        "started_ns": 0,
    }
    line = status_line(snap, {}, levels=9, total_sections=2, now_ns=1)
    assert line.startswith("[2/2]")
    assert "ratio 9/9" in line and "warm-up 18/18" in line


def test_one_compact_table_for_several_sections(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`show` of a run of three sections: one table with the sections side by side (their
    p50 / p99 and hit ratio per level), one summary line per section, not three tables."""
    import pytest

    from featbench.cli import main
    from runfactory import make_run

    d = make_run(
        tmp_path,
        strategies=("union", "pipeline"),
        requests=120,
        extra_targets=(("redis", "redis://127.0.0.1:6379/0", ("pipeline",)),),
    )
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["show", str(d)])
    cap = capsys.readouterr()
    text = cap.out + cap.err
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) <= 30, text
    assert text.count("p50 / p99 ms, same keys") == 1
    assert "requests/ratio, latency in ms" not in text  # no per-section level table
    header = next(i for i, ln in enumerate(lines) if "same keys" in ln)
    rows = [ln for ln in lines[header:] if re.match(r"\s*\d+\s+\d", ln)]
    assert len(rows) == 9 and all(ln.count("/") == 3 for ln in rows)  # 3 sections per row
    for label in ("postgres · union", "postgres · pipeline", "redis · pipeline"):
        assert sum(ln.startswith(label) for ln in lines) == 1, label
