"""Per-ratio statistics: pure functions and accumulators, no I/O.

`StatsCollector` listens to run events and keeps one `LevelStats` per
(section, level); `LevelStats.to_summary()` is exactly the ratio object of
summary.json (DESIGN.md "Contracts"). Accumulators merge (`extend`), so numbers
from several workers combine into the same result as one worker's.

Conventions (documented in the README):
- latency statistics cover successful measured requests; errored ones are counted
  in `errors` and kept in requests.parquet but never enter a percentile;
- the request mix (planned hot fraction, fully hot/cold/mixed %) covers every
  measured request, errored or not: it is a property of the plan;
- I/O-sampled requests (EXPLAIN ANALYZE) are not measured requests: they feed only
  `io.blocks_per_request` and `io.sampled_requests`;
- a figure that cannot be computed is None (null in JSON), never 0 and never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featbench.events import (
    IOSampleRecord,
    LevelFinished,
    RequestBatch,
    SectionFinished,
    SectionInfo,
)
from featbench.measure.histogram import LatencyHistogram, dot

# Counter names read from the server (pg_statio_user_tables); sums of these make the
# buffer hits and reads of a ratio.
HIT_COUNTERS = ("heap_blks_hit", "idx_blks_hit")
READ_COUNTERS = ("heap_blks_read", "idx_blks_read")


def finite_or_none(x: float | None, ndigits: int | None = None) -> float | None:
    """x if it is a finite number (rounded), else None: files never hold NaN or inf."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, ndigits) if ndigits is not None else x


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float | None:
    """Pearson correlation, None when undefined (fewer than 2 points or a constant input)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.size < 2:
        return None
    if np.all(a == a[0]) or np.all(b == b[0]):  # constant: exact test, no rounding noise
        return None
    da, db = a - a.mean(), b - b.mean()
    sa, sb = dot(da, da), dot(db, db)
    if sa <= 0.0 or sb <= 0.0:
        return None
    r = dot(da, db) / math.sqrt(sa * sb)
    return finite_or_none(max(-1.0, min(1.0, r)))


@dataclass
class CoMoments:
    """Running means and co-moments of (x, y): Pearson in O(1) memory, mergeable (Chan et al.)."""

    n: int = 0
    mean_x: float = 0.0
    mean_y: float = 0.0
    m2_x: float = 0.0
    m2_y: float = 0.0
    c_xy: float = 0.0

    def add(self, x: float, y: float) -> None:
        self.n += 1
        dx = x - self.mean_x
        self.mean_x += dx / self.n
        dy = y - self.mean_y
        self.mean_y += dy / self.n
        # Welford: uses the updated mean of one variable and the old delta of the other
        self.m2_x += dx * (x - self.mean_x)
        self.m2_y += dy * (y - self.mean_y)
        self.c_xy += dx * (y - self.mean_y)

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> CoMoments:
        """The co-moments of two arrays in one pass (merge with `extend`)."""
        a = np.asarray(x, dtype=np.float64)
        b = np.asarray(y, dtype=np.float64)
        if a.size == 0:
            return cls()
        ma, mb = float(a.mean()), float(b.mean())
        da, db = a - ma, b - mb
        return cls(int(a.size), ma, mb, dot(da, da), dot(db, db), dot(da, db))

    def extend(self, o: CoMoments) -> CoMoments:
        if o.n == 0:
            return self
        if self.n == 0:
            self.n, self.mean_x, self.mean_y = o.n, o.mean_x, o.mean_y
            self.m2_x, self.m2_y, self.c_xy = o.m2_x, o.m2_y, o.c_xy
            return self
        n = self.n + o.n
        dx, dy = o.mean_x - self.mean_x, o.mean_y - self.mean_y
        f = self.n * o.n / n
        self.m2_x += o.m2_x + dx * dx * f
        self.m2_y += o.m2_y + dy * dy * f
        self.c_xy += o.c_xy + dx * dy * f
        self.mean_x += dx * o.n / n
        self.mean_y += dy * o.n / n
        self.n = n
        return self

    def correlation(self) -> float | None:
        # Relative threshold: a variance that is rounding noise of a constant is zero.
        if self.n < 2 or self.m2_x <= 1e-12 * max(1.0, self.mean_x**2) * self.n:
            return None
        if self.m2_y <= 1e-12 * max(1.0, self.mean_y**2) * self.n:
            return None
        r = self.c_xy / math.sqrt(self.m2_x * self.m2_y)
        return finite_or_none(max(-1.0, min(1.0, r)))


def request_mix(hot: np.ndarray) -> dict[str, float | None]:
    """Planned mix of a (requests × entities) boolean hot matrix, percentages 0–100."""
    h = np.asarray(hot, dtype=bool)
    if h.ndim != 2 or h.shape[0] == 0 or h.shape[1] == 0:
        return {
            "planned_hot_fraction": None,
            "fully_hot_pct": None,
            "fully_cold_pct": None,
            "mixed_pct": None,
        }
    n = h.shape[0]
    all_hot = int(h.all(axis=1).sum())
    all_cold = int((~h).all(axis=1).sum())
    return {
        "planned_hot_fraction": float(h.mean()),
        "fully_hot_pct": 100.0 * all_hot / n,
        "fully_cold_pct": 100.0 * all_cold / n,
        "mixed_pct": 100.0 * (n - all_hot - all_cold) / n,
    }


@dataclass
class LevelStats:
    """Everything measured at one level (hot ratio) of one section."""

    level: float
    entities: tuple[str, ...]
    level_key: str = "hot_pct"
    requests: int = 0
    errors: int = 0
    fully_hot: int = 0
    fully_cold: int = 0
    hot_entity_sum: int = 0
    rows_found: int = 0
    rows_looked_up: int = 0
    keys_found: int = 0  # lookups that returned at least one row
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    corrected: LatencyHistogram = field(default_factory=LatencyHistogram)
    entity_latency: dict[str, LatencyHistogram] = field(default_factory=dict)
    corr: CoMoments = field(default_factory=CoMoments)
    io_samples: int = 0
    io_sample_errors: int = 0
    io_blocks_hit: int = 0
    io_blocks_read: int = 0
    io_sampling: bool | None = None  # None until the ratio ends; False: store has no EXPLAIN
    counters: dict[str, int] | None = None
    first_start_ns: int | None = None
    last_end_ns: int | None = None
    # capacity units the store charged (DynamoDB ConsumedCapacity), over the successful
    # requests that reported them; stores that report none leave consumed_n at 0
    consumed_sum: float = 0.0
    consumed_n: int = 0

    def add_batch(self, b: RequestBatch) -> None:
        """Add a batch of measured requests (columns; see `featbench.events.RequestBatch`)."""
        n = len(b)
        if n == 0:
            return
        self.requests += n
        e = b.hot.shape[1]
        n_hot = b.hot.sum(axis=1)
        self.hot_entity_sum += int(n_hot.sum())
        self.fully_hot += int((n_hot == e).sum())
        self.fully_cold += int((n_hot == 0).sum())
        first, last = int(b.start_ns.min()), int(b.end_ns.max())
        self.first_start_ns = (
            first if self.first_start_ns is None else min(first, self.first_start_ns)
        )
        self.last_end_ns = last if self.last_end_ns is None else max(last, self.last_end_ns)
        ok = b.ok
        self.errors += n - int(ok.sum())
        if not ok.any():
            return
        lat_ns = (b.end_ns - b.start_ns)[ok]
        self.latency.record_ns(lat_ns)
        if b.scheduled_ns is not None:
            sched = b.scheduled_ns[ok]
            has = sched >= 0
            self.corrected.record_ns((b.end_ns[ok] - sched)[has])
        if b.entity_ns is not None:
            ent = b.entity_ns[ok]
            for j, name in enumerate(self.entities):
                col = ent[:, j]
                col = col[col >= 0]
                if col.size:
                    h = self.entity_latency.get(name)
                    if h is None:
                        h = self.entity_latency[name] = LatencyHistogram()
                    h.record_ns(col)
        self.rows_found += int(b.rows_found[ok].sum())
        self.rows_looked_up += int(b.lookups[ok].sum())
        self.keys_found += int(b.keys_found[ok].sum())
        if b.consumed_units is not None:
            u = b.consumed_units[ok]
            u = u[~np.isnan(u)]
            self.consumed_sum += float(u.sum())
            self.consumed_n += int(u.size)
        frac = n_hot[ok] / e if e else np.zeros(int(ok.sum()))
        self.corr.extend(CoMoments.of(lat_ns / 1000.0, frac))

    def add_io_sample(self, s: IOSampleRecord) -> None:
        if s.sample is None:
            self.io_sample_errors += 1
            return
        self.io_samples += 1
        self.io_blocks_hit += s.sample.shared_hit
        self.io_blocks_read += s.sample.shared_read

    def finish(self, ev: LevelFinished) -> None:
        self.io_sampling = ev.io_sampling
        self.counters = ev.counters

    def extend(self, o: LevelStats) -> LevelStats:
        """Merge another worker's numbers for the same level (counters are summed)."""
        self.requests += o.requests
        self.errors += o.errors
        self.fully_hot += o.fully_hot
        self.fully_cold += o.fully_cold
        self.hot_entity_sum += o.hot_entity_sum
        self.rows_found += o.rows_found
        self.rows_looked_up += o.rows_looked_up
        self.keys_found += o.keys_found
        self.consumed_sum += o.consumed_sum
        self.consumed_n += o.consumed_n
        self.latency.extend(o.latency)
        self.corrected.extend(o.corrected)
        for k, h in o.entity_latency.items():
            self.entity_latency.setdefault(k, LatencyHistogram()).extend(h)
        self.corr.extend(o.corr)
        self.io_samples += o.io_samples
        self.io_sample_errors += o.io_sample_errors
        self.io_blocks_hit += o.io_blocks_hit
        self.io_blocks_read += o.io_blocks_read
        if o.io_sampling is not None:
            self.io_sampling = bool(self.io_sampling) or o.io_sampling
        if o.counters is not None:
            base = dict(self.counters or {})
            for k, v in o.counters.items():
                base[k] = base.get(k, 0) + v
            self.counters = base
        return self

    # -- the summary.json ratio object -----------------------------------------------------
    def io_summary(self) -> dict[str, Any]:
        hits = reads = hit_ratio = None
        if self.counters is not None:
            hits = sum(int(self.counters.get(k, 0)) for k in HIT_COUNTERS)
            reads = sum(int(self.counters.get(k, 0)) for k in READ_COUNTERS)
            hit_ratio = finite_or_none(hits / (hits + reads), 6) if hits + reads > 0 else None
        if self.io_sampling is False:
            sampled = None
            bpr = None
        else:
            sampled = self.io_samples
            bpr = (
                finite_or_none((self.io_blocks_hit + self.io_blocks_read) / self.io_samples, 3)
                if self.io_samples
                else None
            )
        return {
            "buffer_hits": hits,
            "buffer_reads": reads,
            "hit_ratio": hit_ratio,
            "blocks_per_request": bpr,
            "sampled_requests": sampled,
        }

    def to_summary(self) -> dict[str, Any]:
        n = self.requests
        e = len(self.entities)
        lvl: Any = int(self.level) if float(self.level).is_integer() else self.level
        corrected = self.corrected.summary_ms() if self.corrected.count else None
        return {
            self.level_key: lvl,
            "requests": n,
            "errors": self.errors,
            "latency_ms": self.latency.summary_ms(),
            # distribution-free 95% intervals of p50/p95/p99/p999 ([lo, hi], null bound where
            # n cannot give one): measure/percentiles.py
            "latency_ci_ms": self.latency.intervals_ms(),
            "corrected_latency_ms": corrected,
            "corrected_latency_ci_ms": self.corrected.intervals_ms()
            if self.corrected.count
            else None,
            "entity_latency_ms": {
                name: self.entity_latency[name].entity_summary_ms()
                for name in self.entities
                if name in self.entity_latency
            },
            "planned_hot_fraction": finite_or_none(self.hot_entity_sum / (n * e), 6)
            if n and e
            else None,
            "fully_hot_pct": finite_or_none(100.0 * self.fully_hot / n, 4) if n else None,
            "fully_cold_pct": finite_or_none(100.0 * self.fully_cold / n, 4) if n else None,
            "mixed_pct": finite_or_none(100.0 * (n - self.fully_hot - self.fully_cold) / n, 4)
            if n
            else None,
            "latency_cache_corr": finite_or_none(self.corr.correlation(), 6),
            "io": self.io_summary(),
            # lookups that returned >= 1 row (0–100), and rows returned per lookup (> 1 only
            # on tables holding several rows per key)
            "keys_found_pct": finite_or_none(100.0 * self.keys_found / self.rows_looked_up, 4)
            if self.rows_looked_up
            else None,
            "rows_per_lookup": finite_or_none(self.rows_found / self.rows_looked_up, 4)
            if self.rows_looked_up
            else None,
            # mean read units charged per request, measured by the store (null: not reported)
            "consumed_rcu_per_request": finite_or_none(self.consumed_sum / self.consumed_n, 6)
            if self.consumed_n
            else None,
        }


class StatsCollector:
    """Listens to run events; one LevelStats per (section, level), in the order ratios ran."""

    def __init__(self) -> None:
        self.sections: dict[int, SectionInfo] = {}
        self.levels: dict[tuple[int, float], LevelStats] = {}
        self.backend_stats: dict[int, dict[str, int] | None] = {}

    def on_section_start(self, info: SectionInfo) -> None:
        self.sections[info.index] = info

    def on_section_end(self, ev: SectionFinished) -> None:
        self.backend_stats[ev.section] = dict(ev.backend_stats) if ev.backend_stats else None

    def _get(self, section: int, level: float) -> LevelStats:
        key = (section, level)
        st = self.levels.get(key)
        if st is None:
            info = self.sections[section]
            st = self.levels[key] = LevelStats(level, info.entities, info.level_key)
        return st

    def on_level_start(self, ev: Any) -> None:
        self._get(ev.section, ev.level)

    def on_requests(self, b: RequestBatch) -> None:
        self._get(b.section, b.level).add_batch(b)

    def on_io_sample(self, s: IOSampleRecord) -> None:
        self._get(s.section, s.level).add_io_sample(s)

    def on_level_end(self, ev: LevelFinished) -> None:
        self._get(ev.section, ev.level).finish(ev)

    def section_levels(self, section: int) -> list[LevelStats]:
        return [st for (sec, _), st in self.levels.items() if sec == section]

    def sections_summary(self, level_sort: str = "desc") -> list[dict[str, Any]]:
        """summary.json `sections`: ratios sorted by level (descending hot %, the seed's order)."""
        out = []
        for idx in sorted(self.sections):
            info = self.sections[idx]
            rs = sorted(
                self.section_levels(idx), key=lambda s: s.level, reverse=level_sort == "desc"
            )
            out.append(
                {
                    "target": info.target,
                    "backend": info.backend,
                    "strategy": info.strategy,
                    "distribution": info.distribution,
                    "ratios": [r.to_summary() for r in rs],
                    # the store client's own counts (throttles, retries, unprocessed keys…),
                    # null until the section ends or when its sessions keep none
                    "backend_stats": self.backend_stats.get(idx),
                }
            )
        return out
