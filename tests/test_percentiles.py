"""The one percentile definition and its distribution-free intervals (pure, no server)."""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

import numpy as np
import pytest

from featbench.measure.histogram import LatencyHistogram
from featbench.measure.percentiles import (
    ci_ranks,
    interval,
    mark,
    min_n_closed,
    percent_to_q,
    percentile,
    rank,
    reliability,
)
from test_measure_stats import rank_percentile


# -- the definition -------------------------------------------------------------------------
def test_rank_is_ceil_q_n_in_exact_arithmetic() -> None:
    assert rank(20_000, 0.999) == 19_980  # 0.999 * 20000 is 19980.000000000004 in floats
    assert rank(1000, 0.99) == 990 and rank(155, 0.99) == 154  # ceil(153.45), not round
    assert rank(150, 0.99) == 149 and rank(10, 0.5) == 5 and rank(11, 0.5) == 6
    assert rank(5, 0.001) == 1 and rank(7, 1.0) == 7
    assert percent_to_q(99.9) == Fraction(999, 1000)
    with pytest.raises(ValueError):
        rank(0, 0.5)
    with pytest.raises(ValueError):
        rank(10, 0.0)


def test_percentile_of_raw_values_is_the_kth_smallest() -> None:
    rng = np.random.default_rng(4)
    for n in (1, 2, 7, 150, 368, 1001, 20_000):
        v = rng.lognormal(0, 1, n)
        for q in (0.5, 0.95, 0.99, 0.999):
            assert percentile(v, q) == rank_percentile(v, q * 100)
    assert percentile([], 0.5) is None
    # numpy's inverted CDF is the same definition where floating point does not bite
    v = rng.random(1000)
    assert percentile(v, 0.99) == np.percentile(v, 99, method="inverted_cdf")


# -- the interval: exact binomial ranks -------------------------------------------------------
def _brute_ranks(n: int, q: Fraction) -> tuple[int | None, int | None]:
    """Exact integer arithmetic: T_i = C(n,i) a^i b^(n-i), P(B = i) = T_i / d^n, tails
    compared with 1/40 (= (1 - 0.95) / 2) without any floating point."""
    a, d = q.numerator, q.denominator
    b = d - a
    t = [b**n]
    for i in range(n):
        t.append(t[-1] * (n - i) * a // ((i + 1) * b))
    total = d**n
    cdf = np.cumsum(np.array(t, dtype=object))  # cdf[j] = sum T_0..T_j
    lo = None
    for l_ in range(1, n + 1):  # largest l with P(B <= l-1) <= 1/40
        if cdf[l_ - 1] * 40 <= total:
            lo = l_
    hi = None
    for u in range(n, 0, -1):  # smallest u with P(B >= u) <= 1/40
        if (total - cdf[u - 1]) * 40 <= total:
            hi = u
    k = max(1, math.ceil(q * n))
    return (None if lo is None else min(lo, k)), (None if hi is None else max(hi, k))


@pytest.mark.parametrize(
    ("q", "ns"),
    [
        (Fraction(1, 2), range(1, 121)),
        (Fraction(95, 100), list(range(1, 90)) + [200, 1000]),
        (Fraction(99, 100), list(range(1, 12)) + list(range(360, 380)) + [554, 555, 1000]),
        (Fraction(999, 1000), [1, 2, 50, 3686, 3687, 3688, 3689]),
    ],
)
def test_ci_ranks_equal_a_brute_force_exact_binomial(q: Fraction, ns: range) -> None:
    for n in ns:
        assert ci_ranks(n, float(q)) == _brute_ranks(n, q), n


@pytest.mark.parametrize(("q", "n_min"), [(0.5, 6), (0.95, 72), (0.99, 368), (0.999, 3688)])
def test_interval_is_open_below_the_exact_thresholds(q: float, n_min: int) -> None:
    assert min_n_closed(q) == n_min
    assert None in ci_ranks(n_min - 1, q)
    assert None not in ci_ranks(n_min, q)
    assert None not in ci_ranks(n_min * 3, q)


def test_which_bound_is_open() -> None:
    assert ci_ranks(50, 0.99) == (48, None)  # p99 of 50 values: no upper bound
    assert ci_ranks(1000, 0.999)[1] is None and ci_ranks(1000, 0.999)[0] is not None
    assert ci_ranks(5, 0.5) == (None, None)
    assert ci_ranks(0, 0.5) == (None, None)
    assert ci_ranks(10, 1.0) == (10, None)  # the maximum never has an upper bound
    lo, hi = ci_ranks(1000, 0.99)
    assert lo is not None and hi is not None and lo <= 990 <= hi < 1000
    assert ci_ranks(10**7, 0.5)[0] < 5 * 10**6 < ci_ranks(10**7, 0.5)[1]  # large n stays cheap


def _coverage(draw, true_q: float, q: float, n: int, trials: int = 100) -> int:
    rng = np.random.default_rng(20261126)
    hits = 0
    for _ in range(trials):
        lo, hi = interval(draw(rng, n), q)
        assert lo is not None and hi is not None
        hits += lo <= true_q <= hi
    return hits


@pytest.mark.parametrize(("q", "n"), [(0.5, 200), (0.99, 1000), (0.999, 8000)])
def test_interval_covers_the_true_percentile_of_known_distributions(q: float, n: int) -> None:
    # exponential: quantile -ln(1 - q); lognormal(1, 0.8): exp(1 + 0.8 z_q)
    exp_q = -math.log1p(-q)
    assert _coverage(lambda r, m: r.exponential(1.0, m), exp_q, q, n) >= 93
    logn_q = math.exp(1.0 + 0.8 * NormalDist().inv_cdf(q))
    assert _coverage(lambda r, m: r.lognormal(1.0, 0.8, m), logn_q, q, n) >= 93


def test_histogram_intervals_cover_too() -> None:
    """Through the HDR histogram (µs, 3 significant digits), as summary.json computes them."""
    rng = np.random.default_rng(99)
    true_p99 = -math.log(0.01) * 1000.0  # exponential with mean 1 ms, in µs
    hits = 0
    for _ in range(100):
        h = LatencyHistogram()
        h.record_many(rng.exponential(1000.0, 1000))
        lo, hi = h.interval_us(0.99)
        assert lo is not None and hi is not None
        hits += lo <= true_p99 <= hi
    assert hits >= 93


# -- histograms: same ranks, HDR values -----------------------------------------------------------
def test_histogram_values_are_the_raw_definition_within_hdr_precision() -> None:
    rng = np.random.default_rng(5)
    raw = (rng.lognormal(7.0, 1.2, 5000)).astype(np.int64) + 1
    h = LatencyHistogram()
    h.record_many(raw)
    s = np.sort(raw)

    def within(hdr: float, exact: float) -> bool:  # highest equivalent value: >= raw, +0.1%
        return exact <= hdr <= exact * 1.001 + 1

    for k in (1, 17, 2500, 4950, 4995, 5000):
        assert within(h.value_at_rank(k), s[k - 1])
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)):
        assert within(h.percentile_us(q * 100), percentile(raw, q))
        lo, hi = interval(raw, q)
        hlo, hhi = h.interval_us(q)
        assert within(hlo, lo) and within(hhi, hi), name
        ci = h.intervals_ms()[name]
        assert ci == [round(hlo / 1000, 6), round(hhi / 1000, 6)]
        assert ci[0] <= h.summary_ms()[name] <= ci[1]
    assert h.intervals_ms()["p999"][1] is not None  # 5000 >= 3688
    with pytest.raises(ValueError):
        h.value_at_rank(0)


def test_small_histogram_has_open_bounds_and_empty_has_none() -> None:
    h = LatencyHistogram()
    h.record_many(range(100, 150))  # 50 values
    ci = h.intervals_ms()
    assert ci["p50"][0] is not None and ci["p50"][1] is not None
    assert ci["p99"][0] is not None and ci["p99"][1] is None
    assert ci["p999"][1] is None
    assert LatencyHistogram().intervals_ms() == {k: [None, None] for k in ci}


# -- how far to trust a percentile -------------------------------------------------------------
def test_reliability_marks() -> None:
    assert reliability(10.0, 9.0, 11.0) is None
    assert reliability(10.0, 7.0, 11.0) == "wide" and reliability(10.0, 9.0, 12.6) == "wide"
    assert reliability(10.0, None, 11.0) == "open" and reliability(10.0, 9.0, None) == "open"
    assert mark(10.0, [9.0, None]) == "?" and mark(10.0, [9.0, 20.0]) == "~"
    assert mark(10.0, [9.5, 10.5]) == ""
    assert mark(10.0, None) == "" and mark(None, [None, None]) == ""  # nothing claimed
