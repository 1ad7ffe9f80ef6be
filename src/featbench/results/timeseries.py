"""Time series: throughput, errors and latency percentiles per interval, saved and shown live.

A run-event listener. Requests are counted in the interval in which they *finished*
(as an HdrHistogram recorder does), intervals aligned on the level's first request.
An interval is complete once requests a few seconds later have arrived (clients
hand records over in batches, at pauses); a complete interval keeps only its row and its encoded
histograms, so memory does not grow with the length of a level.
Per level it writes the standard HdrHistogram interval log
``timeseries/<section>__<level>.hlog`` (one line per interval; untagged = service
time, tag ``corrected`` = latency from the intended start in an open loop), and at
the end of the run ``timeseries.parquet``: one row per (section, level, interval)
with requests, errors, req/s and p50/p90/p99/max — service time and corrected.
With a `show` callback, each interval is reported as soon as it is complete.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from featbench.events import (
    LevelFinished,
    LevelStarted,
    RequestBatch,
    RunFinished,
    SectionInfo,
)
from featbench.measure.histogram import Interval, LatencyHistogram, hlog_text
from featbench.results import rundir

LATE_RECORDS_S = (
    3.0  # how late records of a request may arrive (a client's pause interval + margin)
)
DIR = "timeseries"
FILE = "timeseries.parquet"
SCHEMA = pa.schema(
    [
        ("section", pa.string()),
        ("target", pa.string()),
        ("strategy", pa.string()),
        ("level_key", pa.string()),
        ("level", pa.float64()),
        ("interval", pa.int32()),
        ("start_s", pa.float64()),  # seconds since the run's clock origin
        ("length_s", pa.float64()),
        ("requests", pa.int64()),
        ("errors", pa.int64()),
        ("rps", pa.float64()),
        ("p50_ms", pa.float64()),
        ("p90_ms", pa.float64()),
        ("p99_ms", pa.float64()),
        ("max_ms", pa.float64()),
        ("corrected_p50_ms", pa.float64()),
        ("corrected_p99_ms", pa.float64()),
        ("corrected_max_ms", pa.float64()),
    ]
)


@dataclass
class _Bucket:
    requests: int = 0
    errors: int = 0
    last_end_ns: int = 0
    service: LatencyHistogram = field(default_factory=LatencyHistogram)
    corrected: LatencyHistogram = field(default_factory=LatencyHistogram)


def _ms(us: int | None) -> float | None:
    return None if us is None else round(us / 1000.0, 6)


class TimeSeries:
    """Listener: per-interval statistics of every level, written as the run goes."""

    def __init__(
        self,
        path: Path | None,
        *,
        interval_s: float = 1.0,
        clock_origin_s: float = 0.0,
        run_id: str = "",
        show: Callable[[str], None] | None = None,
    ) -> None:
        if not interval_s > 0:
            from featbench.errors import FeatbenchError

            raise FeatbenchError(f"--interval must be > 0 seconds, got {interval_s:g}")
        self.path = path
        self.interval_ns = int(interval_s * 1e9)
        # intervals this far behind the newest are complete: clients hand records over up
        # to PAUSE_INTERVAL_S late (closed loop), so allow that plus two intervals
        self._lag = 2 + math.ceil(LATE_RECORDS_S / interval_s)
        self.clock_origin_s = clock_origin_s
        self.run_id = run_id
        self.show = show
        self.sections: dict[int, SectionInfo] = {}
        self._t0: dict[tuple[int, float], int] = {}
        self._buckets: dict[tuple[int, float], dict[int, _Bucket]] = {}
        self._shown: dict[tuple[int, float], int] = {}
        self._sealed: dict[tuple[int, float], int] = {}  # the last complete interval
        self._lines: dict[tuple[int, float], list[Interval]] = {}  # of complete intervals
        self._level_rows: dict[tuple[int, float], list[dict[str, Any]]] = {}
        self.rows: list[dict[str, Any]] = []
        if path is not None:
            try:
                (path / DIR).mkdir(exist_ok=True)
            except OSError as e:
                raise rundir.write_failed(path / DIR, e) from None

    # -- listeners --------------------------------------------------------------------------
    def on_section_start(self, info: SectionInfo) -> None:
        self.sections[info.index] = info

    def on_level_start(self, ev: LevelStarted) -> None:
        key = (ev.section, ev.level)
        self._buckets[key] = {}
        self._shown[key] = -1
        self._sealed[key] = -1
        self._lines[key] = []
        self._level_rows[key] = []
        self._t0.pop(key, None)

    def on_requests(self, b: RequestBatch) -> None:
        n = len(b)
        if n == 0:
            return
        key = (b.section, b.level)
        t0 = self._t0.get(key)
        if t0 is None:
            # the level's clock starts at its first intended (or actual) start
            first = b.scheduled_ns if b.scheduled_ns is not None else b.start_ns
            t0 = self._t0[key] = int(first.min())
        ks = np.maximum(0, (b.end_ns - t0) // self.interval_ns)
        ok = b.ok
        buckets = self._buckets.setdefault(key, {})
        for k in np.unique(ks).tolist():
            m = ks == k
            bk = buckets.get(k)
            if bk is None:
                if k <= self._sealed.get(key, -1):  # a straggler of a sealed interval
                    k = self._sealed[key] + 1
                    bk = buckets.get(k)
                if bk is None:
                    bk = buckets[k] = _Bucket()
            bk.requests += int(m.sum())
            bk.last_end_ns = max(bk.last_end_ns, int(b.end_ns[m].max()))
            good = m & ok
            bk.errors += int(m.sum() - good.sum())
            if good.any():
                bk.service.record_ns((b.end_ns - b.start_ns)[good])
                if b.scheduled_ns is not None:
                    sched = b.scheduled_ns[good]
                    bk.corrected.record_ns((b.end_ns[good] - sched)[sched >= 0])
        top = max(buckets)
        for k in sorted(buckets):
            if k >= top - self._lag:
                break
            self._seal(key, k)

    def _seal(self, key: tuple[int, float], k: int, *, final: bool = False) -> None:
        """Interval k is complete: keep its row and encoded histograms, drop the histograms."""
        b = self._buckets[key].pop(k)
        row = self._row(key, k, b, final=final)
        self._level_rows.setdefault(key, []).append(row)
        if self.show is not None and k > self._shown.get(key, -1):
            self._shown[key] = k
            self._emit(key, k, row, final=final)
        start = (self._t0[key] + k * self.interval_ns) / 1e9
        length = self.interval_ns / 1e9
        lines = self._lines.setdefault(key, [])
        lines.append(Interval(b.service, start, length).sealed())
        if b.corrected.count:
            lines.append(Interval(b.corrected, start, length, "corrected").sealed())
        self._sealed[key] = max(self._sealed.get(key, -1), k)

    def on_level_end(self, ev: LevelFinished) -> None:
        key = (ev.section, ev.level)
        buckets = self._buckets.get(key, {})
        last = max(buckets, default=None)
        for k in sorted(buckets):
            self._seal(key, k, final=k == last)
        rows = sorted(self._level_rows.pop(key, []), key=lambda r: r["interval"])
        self.rows.extend(rows)
        lines = self._lines.pop(key, [])
        if self.path is not None and lines:
            self._write_hlog(key, lines)

    def on_run_end(self, ev: RunFinished) -> None:
        if self.path is None:
            return
        rundir.write_parquet(self.path / FILE, pa.Table.from_pylist(self.rows, schema=SCHEMA))

    # -- output -------------------------------------------------------------------------------
    def _row(
        self, key: tuple[int, float], k: int, b: _Bucket, final: bool = False
    ) -> dict[str, Any]:
        info = self.sections[key[0]]
        start_ns = self._t0[key] + k * self.interval_ns
        length = self.interval_ns / 1e9
        if final:  # the level's last interval ends with its last request
            length = max(1e-6, min(length, (b.last_end_ns - start_ns) / 1e9))
        sp = b.service.percentiles_us([50.0, 90.0, 99.0])
        cp = b.corrected.percentiles_us([50.0, 99.0])
        return {
            "section": info.label,
            "target": info.target,
            "strategy": info.strategy,
            "level_key": info.level_key,
            "level": float(key[1]),
            "interval": int(k),
            "start_s": round(start_ns / 1e9, 6),
            "length_s": round(length, 6),
            "requests": b.requests,
            "errors": b.errors,
            "rps": round(b.requests / length, 3),
            "p50_ms": _ms(sp[0]) if sp else None,
            "p90_ms": _ms(sp[1]) if sp else None,
            "p99_ms": _ms(sp[2]) if sp else None,
            "max_ms": _ms(b.service.max_us()),
            "corrected_p50_ms": _ms(cp[0]) if cp else None,
            "corrected_p99_ms": _ms(cp[1]) if cp else None,
            "corrected_max_ms": _ms(b.corrected.max_us()),
        }

    def _emit(self, key: tuple[int, float], k: int, r: dict[str, Any], *, final: bool) -> None:
        assert self.show is not None
        if final and r["length_s"] < 0.2 * self.interval_ns / 1e9:
            return  # a sliver of stragglers after the last full interval: in the file only
        info = self.sections[key[0]]
        lvl = f"{'hot' if info.level_key == 'hot_pct' else info.level_key} {key[1]:g}"

        def f(x: float | None) -> str:
            return "–" if x is None else f"{x:.2f}"

        line = (
            f"{info.strategy} {lvl}  t+{k * self.interval_ns / 1e9 + r['length_s']:>5.1f}s  "
            f"{r['rps']:>7.0f} req/s  p50 {f(r['p50_ms'])} ms  p99 {f(r['p99_ms'])} ms"
        )
        if r["corrected_p99_ms"] is not None:
            line += f"  corrected p99 {f(r['corrected_p99_ms'])} ms"
        if r["errors"]:
            line += f"  errors {r['errors']}"
        self.show(line)

    def _write_hlog(self, key: tuple[int, float], intervals: list[Interval]) -> None:
        assert self.path is not None
        info = self.sections[key[0]]
        length = self.interval_ns / 1e9
        text = hlog_text(
            intervals,
            start_time_s=self.clock_origin_s,
            comment=(
                f"featbench run {self.run_id} section {info.label} {info.level_key}={key[1]:g}; "
                f"{length:g} s intervals by completion time; values in microseconds; untagged = "
                "service time, tag corrected = from the intended start (open loop)"
            ),
        )
        name = rundir.histogram_name(info.label, key[1], info.level_key)
        rundir.atomic_write(self.path / DIR / name, lambda tmp: tmp.write_text(text))
