"""Latency histograms: HdrHistogram (3 significant digits, values in microseconds), mergeable.

Percentiles follow featbench's one definition (`featbench.measure.percentiles.rank`: the
value at rank max(1, ceil(q·n))), and each comes with its distribution-free 95% interval
(`intervals_ms`). A value read from a histogram is HdrHistogram's *highest equivalent value*
of the bucket holding the value at that rank: at most 0.1% (3 significant digits) above the
value recorded, which is the latency truncated to whole microseconds.

Pure: no files are opened here. `encode`/`decode` give the compressed base64 payload
the HdrHistogram log format uses, and `hlog_text`/`parse_hlog` turn a list of
interval histograms into that log's text and back, so workers (threads, processes,
Spark tasks) can ship histograms and the driver merges them with `extend`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from hdrh.histogram import HdrHistogram

from featbench.measure import percentiles as pctl

SIGNIFICANT_FIGURES = 3
LOWEST_US = 1
HIGHEST_US = (
    3_600_000_000  # one hour: anything slower is clamped (and is a failed benchmark anyway)
)
PERCENTILES: dict[str, float] = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
LATENCY_KEYS = ("p50", "p95", "p99", "p999", "max", "mean")
ENTITY_KEYS = ("p50", "p95", "p99")
LOG_FORMAT_VERSION = "1.3"


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """Σ a·b without BLAS. numpy's `@`/`np.dot` of float vectors this long (10,000+
    values) hands the work to OpenBLAS's thread pool, whose threads then spin on every
    core: 1.6 ms of CPU and 4.8 ms of wall time for one 16,384-value dot on the 2-core
    development machine, against 8 µs here — CPU taken from the clients and the store
    while a run measures them (benchmarks/throughput.py)."""
    return float(np.multiply(a, b, dtype=np.float64).sum())


@lru_cache(maxsize=4)
def _index_values(lowest: int, highest: int, sig: int) -> tuple[np.ndarray, np.ndarray]:
    """Per counts-array index: the highest equivalent value and the median equivalent value.

    hdrh computes percentiles and the mean by iterating in Python over ~45,000 buckets
    (about 0.2 s per call); with these tables both are one numpy pass with the same
    definitions (percentile: highest equivalent value of the bucket reaching the target
    count; mean: count-weighted median equivalent values).
    """
    h = HdrHistogram(lowest, highest, sig)
    hi = np.empty(h.counts_len, dtype=np.int64)
    med = np.empty(h.counts_len, dtype=np.float64)
    for i in range(h.counts_len):
        v = h.get_highest_equivalent_value(h.get_value_from_index(i))
        hi[i] = v
        med[i] = h._hdr_median_equiv_value(v)
    return hi, med


def prepare_tables() -> None:
    """Build the percentile tables now (0.2-0.7 s of CPU, once per process) rather than at
    the first percentile read, which in a run is the time series' first interval: while
    clients are measured on the same machine."""
    _index_values(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


class LatencyHistogram:
    """Microsecond latencies with 3 significant digits; `extend` merges another histogram.

    `record` only appends to a pending list (it runs between every two requests, so it
    must be cheap); pending values are added to the HdrHistogram counters in one numpy
    pass, with hdrh's own bucket arithmetic, whenever the histogram is read.
    """

    __slots__ = ("_h", "_pending")

    def __init__(self, _h: HdrHistogram | None = None) -> None:
        self._h = _h if _h is not None else HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
        self._pending: list[int] = []

    # -- recording -------------------------------------------------------------------
    def record(self, value_us: int | float) -> None:
        self._pending.append(int(value_us))

    def record_many(self, values_us: Iterable[int | float]) -> None:
        self._pending.extend(int(v) for v in values_us)

    def record_ns(self, values_ns: np.ndarray) -> None:
        """Record an array of durations in nanoseconds (truncated to whole microseconds)."""
        v = np.asarray(values_ns, dtype=np.int64)
        if v.size:
            self._sync()
            self._fold(v // 1000)

    def _sync(self) -> HdrHistogram:
        """Fold pending values into the counters (same indexes as hdrh's record_value)."""
        if self._pending:
            pending = np.asarray(self._pending, dtype=np.int64)
            self._pending = []
            self._fold(pending)
        return self._h

    def _fold(self, values_us: np.ndarray) -> None:
        h = self._h
        if values_us.size:
            # 0 µs is below the resolution (an in-process cache hit could be that fast):
            # record it as the lowest trackable value rather than dropping it.
            v = np.clip(values_us, LOWEST_US, HIGHEST_US)
            # bit length of (v | sub_bucket_mask); frexp is exact for integers < 2**53
            _, bitlen = np.frexp((v | h.sub_bucket_mask).astype(np.float64))
            bucket = (
                bitlen.astype(np.int64) - h.unit_magnitude - (h.sub_bucket_half_count_magnitude + 1)
            )
            sub = v >> (bucket + h.unit_magnitude)
            idx = (
                ((bucket + 1) << h.sub_bucket_half_count_magnitude) + sub - h.sub_bucket_half_count
            )
            counts = np.frombuffer(h.counts, dtype=np.int64)
            if idx.size > 256:  # one pass over the counters beats add.at's per-value work
                counts += np.bincount(idx, minlength=counts.size)[: counts.size]
            else:
                np.add.at(counts, idx, 1)
            h.total_count += int(v.size)
            h.min_value = min(h.min_value, int(v.min()))
            h.max_value = max(h.max_value, int(v.max()))

    def extend(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add every value of `other` to this histogram (locust's `extend`); returns self."""
        oh = other._sync()
        if oh.get_total_count():
            self._sync().add(oh)
        return self

    # -- reading ---------------------------------------------------------------------
    @property
    def count(self) -> int:
        return int(self._h.get_total_count()) + len(self._pending)

    def _counts(self) -> np.ndarray:
        # zero-copy view of the ctypes counters (word size 8: int64)
        return np.frombuffer(self._sync().counts, dtype=np.int64)

    def _cumulative(self) -> np.ndarray:
        return np.cumsum(self._counts())

    def value_at_rank(self, k: int, _cum: np.ndarray | None = None) -> int:
        """The k-th smallest value (1-based), as its bucket's highest equivalent value (µs)."""
        n = self.count
        if not 1 <= k <= n:
            raise ValueError(f"rank {k} outside 1..{n}")
        hi, _ = _index_values(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
        cum = self._cumulative() if _cum is None else _cum
        return int(hi[int(np.searchsorted(cum, k, side="left"))])

    def percentiles_us(self, pcts: Iterable[float]) -> list[int] | None:
        """Values at percentiles (in percent, e.g. 99.9): the value at rank ceil(q·n)."""
        total = self.count
        if not total:
            return None
        cum = self._cumulative()
        return [self.value_at_rank(_rank_of_percent(total, p), cum) for p in pcts]

    def percentile_us(self, pct: float) -> int | None:
        v = self.percentiles_us([pct])
        return v[0] if v else None

    def interval_us(
        self, q: float, confidence: float = pctl.CONFIDENCE, _cum: np.ndarray | None = None
    ) -> tuple[int | None, int | None]:
        """Distribution-free interval of the q-quantile (0 < q <= 1): the values at
        `percentiles.ci_ranks`; a bound is None when this many values cannot give it."""
        lo, hi = pctl.ci_ranks(self.count, q, confidence)
        cum = self._cumulative() if _cum is None else _cum
        return (
            self.value_at_rank(lo, cum) if lo is not None else None,
            self.value_at_rank(hi, cum) if hi is not None else None,
        )

    def intervals_ms(self, confidence: float = pctl.CONFIDENCE) -> dict[str, list[float | None]]:
        """summary.json's `latency_ci_ms`: {p50, p95, p99, p999: [lo, hi]} in ms, a bound
        null where n cannot give it (both null when the histogram is empty)."""
        if not self.count:
            return {k: [None, None] for k in pctl.QUANTILES}
        cum = self._cumulative()
        out: dict[str, list[float | None]] = {}
        for k, q in pctl.QUANTILES.items():
            lo, hi = self.interval_us(q, confidence, cum)
            out[k] = [None if lo is None else _ms(lo), None if hi is None else _ms(hi)]
        return out

    def max_us(self) -> int | None:
        return int(self._sync().get_max_value()) if self.count else None

    def mean_us(self) -> float | None:
        if not self.count:
            return None
        _, med = _index_values(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
        c = self._counts()
        return dot(c, med[: c.size]) / self.count

    def summary_ms(self) -> dict[str, float | None]:
        """p50/p95/p99/p999/max/mean in milliseconds; every value None when empty."""
        vals = self.percentiles_us(PERCENTILES.values())
        if vals is None:
            return dict.fromkeys(LATENCY_KEYS)
        out: dict[str, float | None] = {k: _ms(v) for k, v in zip(PERCENTILES, vals, strict=True)}
        out["max"] = _ms(self._sync().get_max_value())
        out["mean"] = _ms(self.mean_us() or 0.0)
        return out

    def entity_summary_ms(self) -> dict[str, float | None]:
        full = self.summary_ms()
        return {k: full[k] for k in ENTITY_KEYS}

    # -- wire format -----------------------------------------------------------------
    def encode(self) -> str:
        return self._sync().encode().decode("ascii")

    @classmethod
    def decode(cls, payload: str) -> LatencyHistogram:
        h = cls()
        h._h.decode_and_add(payload)
        return h

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyHistogram):
            return NotImplemented
        return self.count == other.count and bool(self._sync().equals(other._sync()))

    def __repr__(self) -> str:
        return f"LatencyHistogram(count={self.count})"


def _rank_of_percent(n: int, p: float) -> int:
    """Rank of the p-th percentile (p in percent; <= 0 is the minimum, >= 100 the maximum)."""
    return 1 if p <= 0 else pctl.rank(n, pctl.percent_to_q(min(p, 100.0)))


def _ms(us: float) -> float:
    return round(float(us) / 1000.0, 6)


def merge(histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
    out = LatencyHistogram()
    for h in histograms:
        out.extend(h)
    return out


# -- HdrHistogram log format (the text of histograms/*.hlog) ------------------------------
@dataclass
class Interval:
    """One line of an HdrHistogram log: a histogram over [start_s, start_s + length_s).

    `sealed()` keeps only the line's encoded payload and max, so a long time series does
    not hold one full histogram per interval in memory."""

    histogram: LatencyHistogram | None
    start_s: float = 0.0
    length_s: float = 0.0
    tag: str | None = None
    payload: str | None = None  # the encoded histogram, once sealed
    max_us: int | None = None

    def sealed(self) -> Interval:
        h = self.histogram
        assert h is not None
        return Interval(None, self.start_s, self.length_s, self.tag, h.encode(), h.max_us() or 0)


def hlog_text(intervals: Iterable[Interval], *, start_time_s: float, comment: str = "") -> str:
    """The HdrHistogram interval-log text (format 1.3) for these intervals.

    Values are microseconds; the "Interval_Max" column is written in milliseconds
    (max_value_unit_ratio 1000) as HdrHistogram's tools expect for µs-valued logs.
    """
    lines = [f"#[Histogram log format version {LOG_FORMAT_VERSION}]"]
    if comment:
        lines += [f"#{c}" for c in comment.splitlines()]
    lines.append(f"#[StartTime: {start_time_s:.3f} (seconds since epoch)]")
    lines.append(f"#[BaseTime: {start_time_s:.3f} (seconds since epoch)]")
    lines.append(
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
    )
    for iv in intervals:
        if iv.histogram is None:
            mx, payload = (iv.max_us or 0) / 1000.0, iv.payload
        else:
            mx, payload = (iv.histogram.max_us() or 0) / 1000.0, iv.histogram.encode()
        prefix = f"Tag={iv.tag}," if iv.tag else ""
        lines.append(f"{prefix}{iv.start_s:.3f},{iv.length_s:.3f},{mx:.3f},{payload}")
    return "\n".join(lines) + "\n"


def parse_hlog(text: str) -> list[Interval]:
    """Intervals of an HdrHistogram log text (tags kept); raises ValueError on a bad line."""
    out: list[Interval] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith('"'):
            continue
        tag = None
        if line.startswith("Tag="):
            tag, line = line[4:].split(",", 1)
        parts = line.split(",", 3)
        if len(parts) != 4:
            raise ValueError(f"line {n}: expected start,length,max,payload")
        start, length = float(parts[0]), float(parts[1])
        if not (math.isfinite(start) and math.isfinite(length)):
            raise ValueError(f"line {n}: bad timestamps")
        out.append(Interval(LatencyHistogram.decode(parts[3]), start, length, tag))
    return out
