"""Statistics without I/O: HDR histograms, merging, correlation, request mix, bootstrap."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pytest

from featbench.backends.base import IOSample
from featbench.events import IOSampleRecord, LevelFinished, RequestBatch, SectionInfo
from featbench.measure.histogram import Interval, LatencyHistogram, hlog_text, merge, parse_hlog
from featbench.measure.stats import (
    CoMoments,
    LevelStats,
    StatsCollector,
    pearson,
    request_mix,
)

RNG = np.random.default_rng(12345)
VALUES = RNG.lognormal(mean=7.0, sigma=1.2, size=20_000).astype(np.int64) + 1


def rank_percentile(values: np.ndarray, q: float) -> float:
    """Nearest-rank percentile, written independently of featbench: the value at rank
    max(1, ceil(q·n/100)), q·n computed in decimal (0.999 · 20000 is 19980 exactly).

    np.percentile(method="inverted_cdf") is the same definition but can land one rank off
    because q·n/100 is computed in floating point (0.999 * 20000 = 19980.000000000004).
    """
    s = np.sort(np.asarray(values))
    rank = max(1, math.ceil(Decimal(str(q)) * s.size / 100))
    return float(s[rank - 1])


def _within_hdr(hdr_us: float, exact_us: float) -> bool:
    # 3 significant digits: the bucket holding a value is at most 0.1% wide (+1 µs at the bottom)
    return abs(hdr_us - exact_us) <= exact_us * 1e-3 + 1


def test_percentiles_match_numpy_within_hdr_precision() -> None:
    h = LatencyHistogram()
    h.record_many(VALUES)
    s = h.summary_ms()
    for key, q in (("p50", 50), ("p95", 95), ("p99", 99), ("p999", 99.9)):
        exact = rank_percentile(VALUES, q)
        # and numpy's own inverted-CDF percentile is within one rank of it
        assert (
            abs(
                np.searchsorted(np.sort(VALUES), np.percentile(VALUES, q, method="inverted_cdf"))
                - np.searchsorted(np.sort(VALUES), exact)
            )
            <= 1
        )
        assert _within_hdr(s[key] * 1000, exact), (key, s[key], exact)
    assert _within_hdr(s["max"] * 1000, VALUES.max())
    assert abs(s["mean"] * 1000 - VALUES.mean()) <= VALUES.mean() * 1e-3


def test_two_merged_histograms_equal_one_over_all_values() -> None:
    a, b, whole = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    a.record_many(VALUES[:7000])
    b.record_many(VALUES[7000:])
    whole.record_many(VALUES)
    merged = merge([a, b])
    assert merged == whole
    assert merged.summary_ms() == whole.summary_ms()
    assert merged.count == len(VALUES)
    # and through the wire format, as workers would ship them
    again = LatencyHistogram.decode(a.encode()).extend(LatencyHistogram.decode(b.encode()))
    assert again.summary_ms() == whole.summary_ms()


def test_empty_histogram_reports_none_not_zero() -> None:
    s = LatencyHistogram().summary_ms()
    assert s == {k: None for k in ("p50", "p95", "p99", "p999", "max", "mean")}


def test_hlog_roundtrip_keeps_tags_and_counts() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    a.record_many(VALUES[:100])
    b.record_many(VALUES[100:300])
    text = hlog_text(
        [Interval(a, 0.0, 1.5), Interval(b, 0.0, 1.5, "entity.x")], start_time_s=1.7e9, comment="c"
    )
    ivs = parse_hlog(text)
    assert [iv.tag for iv in ivs] == [None, "entity.x"]
    assert ivs[0].histogram == a and ivs[1].histogram == b
    assert "#[Histogram log format version" in text.splitlines()[0]


def test_pearson_is_none_when_undefined_and_matches_numpy() -> None:
    x = RNG.random(200)
    y = 3 * x + RNG.random(200)
    assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert pearson(x, np.full(200, 1 / 3)) is None  # constant: undefined, not NaN
    assert pearson([1.0], [2.0]) is None
    c = CoMoments()
    for v in x:
        c.add(float(v), 1 / 3)
    assert c.correlation() is None


def test_comoments_merge_equals_one_pass() -> None:
    x = RNG.random(500)
    y = x**2 + RNG.random(500)
    one, p1, p2 = CoMoments(), CoMoments(), CoMoments()
    for i, (a, b) in enumerate(zip(x, y, strict=True)):
        one.add(a, b)
        (p1 if i < 180 else p2).add(a, b)
    assert p1.extend(p2).correlation() == pytest.approx(one.correlation(), rel=1e-9)
    assert one.correlation() == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-9)


def test_request_mix() -> None:
    hot = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 1], [1, 1, 1]], dtype=bool)
    m = request_mix(hot)
    assert m == {
        "planned_hot_fraction": 8 / 12,
        "fully_hot_pct": 50.0,
        "fully_cold_pct": 25.0,
        "mixed_pct": 25.0,
    }
    assert request_mix(np.zeros((0, 3), dtype=bool))["fully_hot_pct"] is None


def _rec(
    seq: int, lat_us: int, hot: tuple[bool, ...], error: str | None = None
) -> dict[str, object]:
    return {
        "seq": seq, "start_ns": 1000 * seq, "end_ns": 1000 * seq + lat_us * 1000,
        "keys": ("a",) * len(hot), "hot": hot, "rows_found": 5, "lookups": 6,
        "entity_ns": tuple(lat_us * 300 for _ in hot), "error": error,
    }  # fmt: skip


def test_level_stats_summary_follows_the_contract() -> None:
    info = SectionInfo(0, "postgresql://u@h/db", "postgres", "serial", ("e1", "e2"))
    col = StatsCollector()
    col.on_section_start(info)
    rows = [
        _rec(0, 800, (True, True)),
        _rec(1, 2000, (False, False)),
        _rec(2, 1200, (True, False)),
        _rec(3, 99999, (True, False), error="server closed the connection"),
    ]
    col.on_requests(RequestBatch.from_rows(0, 50, rows[:1], info.entities))  # batches merge
    col.on_requests(RequestBatch.from_rows(0, 50, rows[1:], info.entities))
    col.on_io_sample(IOSampleRecord(0, 50, 4, ("a", "a"), (True, False), IOSample(10, 2)))
    col.on_level_end(
        LevelFinished(
            0,
            50,
            {"heap_blks_hit": 30, "idx_blks_hit": 60, "heap_blks_read": 6, "idx_blks_read": 4},
            True,
        )
    )
    r = col.sections_summary()[0]["ratios"][0]
    assert r["hot_pct"] == 50 and r["requests"] == 4 and r["errors"] == 1
    assert r["latency_ms"]["max"] == pytest.approx(
        2.0, rel=1e-3
    )  # the errored request is not in it
    assert r["corrected_latency_ms"] is None  # closed loop
    assert set(r["entity_latency_ms"]) == {"e1", "e2"}
    assert r["fully_hot_pct"] == 25.0 and r["fully_cold_pct"] == 25.0 and r["mixed_pct"] == 50.0
    assert r["planned_hot_fraction"] == pytest.approx(4 / 8)
    assert r["io"] == {
        "buffer_hits": 90,
        "buffer_reads": 10,
        "hit_ratio": 0.9,
        "blocks_per_request": 12.0,
        "sampled_requests": 1,
    }
    # keys_found not given (None): same as rows found (5 of 6 lookups per successful request)
    assert r["keys_found_pct"] == pytest.approx(100 * 15 / 18, rel=1e-4)
    assert r["rows_per_lookup"] == pytest.approx(15 / 18, rel=1e-4)
    assert (
        r["latency_cache_corr"] is not None and r["latency_cache_corr"] < 0
    )  # hotter = faster here
    json.dumps(r, allow_nan=False)


def test_level_stats_unmeasurable_io_is_null() -> None:
    st = LevelStats(0, ("e",))
    st.finish(LevelFinished(0, 0, None, io_sampling=False))
    assert st.to_summary()["io"] == dict.fromkeys(
        ("buffer_hits", "buffer_reads", "hit_ratio", "blocks_per_request", "sampled_requests")
    )
    assert st.to_summary()["latency_cache_corr"] is None
    assert st.to_summary()["keys_found_pct"] is None
    assert st.to_summary()["rows_per_lookup"] is None


def test_keys_found_and_rows_per_lookup_with_several_rows_per_key() -> None:
    """Six rows per key in one table: keys found stays a share (<= 100 %), rows per lookup > 1."""
    st = LevelStats(0, ("e",))
    rows = [  # 3 lookups: one table has 6 rows for the key, one has 1, one has none
        {"seq": i, "start_ns": 0, "end_ns": 1000, "keys": ("k",), "hot": (False,),
         "rows_found": 7, "lookups": 3, "keys_found": 2}
        for i in range(4)
    ]  # fmt: skip
    st.add_batch(RequestBatch.from_rows(0, 0, rows, ("e",)))
    s = st.to_summary()
    assert s["keys_found_pct"] == pytest.approx(100 * 2 / 3, rel=1e-4)
    assert s["rows_per_lookup"] == pytest.approx(7 / 3, rel=1e-4)
    other = LevelStats(0, ("e",))
    one = {"seq": 9, "start_ns": 0, "end_ns": 1000, "keys": ("k",), "hot": (False,),
           "rows_found": 3, "lookups": 3}  # fmt: skip
    other.add_batch(RequestBatch.from_rows(0, 0, [one], ("e",)))
    st.extend(other)  # merged: keys found 8 + 3 of 15 lookups
    assert st.to_summary()["keys_found_pct"] == pytest.approx(100 * 11 / 15, rel=1e-4)


def test_level_stats_extend_equals_one_collector() -> None:
    a, b, one = (LevelStats(90, ("x", "y")) for _ in range(3))
    rows = [_rec(i, int(VALUES[i]) // 10 + 100, (bool(i % 2), bool(i % 3))) for i in range(300)]
    ents = ("x", "y")
    a.add_batch(RequestBatch.from_rows(0, 90, rows[:120], ents))
    b.add_batch(RequestBatch.from_rows(0, 90, rows[120:], ents))
    for r in rows:  # one at a time: batch sizes must not change a figure
        one.add_batch(RequestBatch.from_rows(0, 90, [r], ents))
    merged = a.extend(b).to_summary()
    whole = one.to_summary()
    assert merged["latency_ms"] == whole["latency_ms"]
    assert merged["latency_cache_corr"] == pytest.approx(whole["latency_cache_corr"], rel=1e-9)
    assert merged["fully_hot_pct"] == whole["fully_hot_pct"]


def test_batched_recording_and_fast_reads_equal_hdrh_own() -> None:
    """Our numpy paths (batched record, percentiles, mean) agree with hdrh's pure Python."""
    from hdrh.histogram import HdrHistogram

    vals = np.concatenate(
        [VALUES[:5000], [0, 1, 2, 1023, 1024, 2047, 2048, 10**6, 10**9, 5 * 10**9]]
    )
    h = LatencyHistogram()
    h.record_many(vals)
    raw = HdrHistogram(1, 3_600_000_000, 3)
    for v in vals:
        raw.record_value(min(max(int(v), 1), 3_600_000_000))
    assert h._sync().equals(raw) and h.count == raw.get_total_count() == vals.size
    assert h.max_us() == raw.get_max_value() and h._sync().get_min_value() == raw.get_min_value()
    clipped = np.clip(vals, 1, 3_600_000_000)
    for q in (1.0, 50.0, 95.0, 99.0, 99.9, 100.0):
        # the value at rank ceil(q·n), in hdrh's own bucket arithmetic
        assert h.percentile_us(q) == raw.get_highest_equivalent_value(
            int(rank_percentile(clipped, q))
        )
    assert h.mean_us() == pytest.approx(raw.get_mean_value(), rel=1e-12)
    # recording after a read keeps working
    h.record(123)
    raw.record_value(123)
    assert h._sync().equals(raw)
