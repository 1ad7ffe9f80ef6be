"""THE definition of a percentile in featbench, and its distribution-free confidence interval.

Every output (summary.json, tables, report, compare, benchmarks) takes its percentiles from
here, on raw arrays (`percentile`) or through `LatencyHistogram.value_at_rank` with the same
`rank`. Pure: numpy and the standard library only, no I/O.

Definition (nearest rank): the q-quantile of n values (0 < q <= 1) is the k-th smallest value,
k = max(1, ceil(q·n)). q·n is computed exactly (q is read as the decimal it is written as, so
0.999 · 20000 is 19980, not 19980.000000000004): the result is numpy's
`percentile(..., method="inverted_cdf")` without its floating-point off-by-one.

Interval (`ci_ranks`): for n independent values of a distribution with true q-quantile x_q,
B = #{values <= x_q} is Binomial(n, q) (at least that many for a discrete distribution).
With order statistics X(1) <= … <= X(n):

    P(X(l) > x_q) = P(B <= l - 1)        P(X(u) < x_q) <= P(B >= u)

so [X(l), X(u)] covers x_q with probability >= 1 - P(B <= l-1) - P(B >= u). We take equal
tails a = (1 - confidence) / 2:

    l = the largest rank with P(B <= l - 1) <= a     (None when even (1-q)^n > a)
    u = the smallest rank with P(B >= u) <= a        (None when even q^n > a)

and widen to l <= k <= u if needed (never the case in practice; widening keeps coverage), so
lo <= value <= hi always holds. The binomial tails are exact sums of the probability mass
function (log-gamma at one end of a window of ±(20 sd + 40) around q·n, then the exact
ratio pmf(k+1)/pmf(k)); the mass outside the window is below 1e-26 on each side
(Bernstein's inequality) and cannot move a comparison with a. No resampling, no distribution assumed, only independence: requests
whose latencies are correlated in time (a stall hits several in a row) make the interval
optimistic.

A None bound means n cannot give that bound at this confidence: e.g. the upper bound of p99
needs q^n <= 0.025, i.e. n >= 368 (`min_n_closed`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache

import numpy as np

QUANTILES: dict[str, float] = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "p999": 0.999}
CONFIDENCE = 0.95
# A percentile is shown as uncertain when its interval reaches beyond ±WIDE of its value.
WIDE = 0.25
MARKS = {"open": "?", "wide": "~"}
LEGEND = (
    "? = 95% interval open (too few requests for a bound), "
    "~ = 95% interval wider than ±25% of the value"
)


def _exact(q: float | Fraction) -> Fraction:
    """q as the decimal it was written as (0.999 -> 999/1000), checked to be in (0, 1]."""
    f = q if isinstance(q, Fraction) else Fraction(repr(float(q)))
    if not 0 < f <= 1:
        raise ValueError(f"quantile {q} is outside (0, 1]")
    return f


def rank(n: int, q: float | Fraction) -> int:
    """1-based rank of the q-quantile among n values: max(1, ceil(q·n)), exact arithmetic."""
    if n < 1:
        raise ValueError("no values")
    return max(1, math.ceil(_exact(q) * n))


def percent_to_q(pct: float) -> Fraction:
    """99.9 (percent) -> 999/1000, exactly (99.9 / 100 in floating point is not 0.999)."""
    return _exact(Fraction(repr(float(pct))) / 100)


def _sorted(values: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    return np.sort(a)


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of raw values by the definition above; None when empty."""
    s = _sorted(values)
    return float(s[rank(s.size, q) - 1]) if s.size else None


# -- the interval ----------------------------------------------------------------------------
def _binomial_window(n: int, q: float) -> tuple[int, np.ndarray]:
    """(k0, pmf) with pmf[i] = P(B = k0 + i), B ~ Binomial(n, q), over a window holding all
    but < 1e-26 of the mass on each side (the whole range 0..n when n is small)."""
    mean = n * q
    w = 20.0 * math.sqrt(n * q * (1.0 - q)) + 40.0
    k0 = max(0, math.floor(mean - w))
    k1 = min(n, math.ceil(mean + w))
    lq, lp = math.log(q), math.log1p(-q)
    log0 = math.lgamma(n + 1) - math.lgamma(k0 + 1) - math.lgamma(n - k0 + 1)
    log0 += k0 * lq + (n - k0) * lp
    k = np.arange(k0, k1, dtype=np.float64)
    steps = np.log(n - k) - np.log(k + 1.0) + (lq - lp)  # log pmf(k+1) - log pmf(k)
    logpmf = log0 + np.concatenate(([0.0], np.cumsum(steps)))
    return k0, np.exp(logpmf)


@lru_cache(maxsize=4096)
def _ci_ranks(n: int, q: Fraction, confidence: float) -> tuple[int | None, int | None]:
    a = (1.0 - confidence) / 2.0
    k = rank(n, q)
    if q == 1:  # the maximum: B = n always, no upper bound exists
        return k, None
    qf = float(q)
    k0, pmf = _binomial_window(n, qf)
    cdf = np.cumsum(pmf)  # cdf[i] = P(B <= k0 + i)
    sf = np.cumsum(pmf[::-1])[::-1]  # sf[i] = P(B >= k0 + i), summed from the small end
    # lower: the largest j with P(B <= j) <= a, then l = j + 1 (ranks are 1-based)
    c = int(np.searchsorted(cdf, a, side="right"))  # how many window cdf values are <= a
    j = k0 + c - 1  # when c == 0 and k0 > 0, P(B <= k0 - 1) is ~0: j = k0 - 1 still holds
    lo = j + 1 if j >= 0 else None
    # upper: the smallest u >= 1 with P(B >= u) <= a (sf is non-increasing)
    idx = np.nonzero(sf <= a)[0]
    u = k0 + int(idx[0]) if idx.size else k0 + sf.size  # beyond the window: mass ~0
    u = max(u, 1)
    hi = u if u <= n else None
    # keep lo <= k <= hi (widening never lowers the coverage)
    if lo is not None:
        lo = min(lo, k)
    if hi is not None:
        hi = max(hi, k)
    return lo, hi


def ci_ranks(
    n: int, q: float | Fraction, confidence: float = CONFIDENCE
) -> tuple[int | None, int | None]:
    """1-based ranks (lo, hi) of the order statistics bounding the q-quantile of n values at
    `confidence` (see the module docstring for the construction); a bound is None when n
    cannot give it. n == 0: (None, None)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence} is outside (0, 1)")
    if n < 1:
        return None, None
    return _ci_ranks(int(n), _exact(q), float(confidence))


def interval(
    values: Sequence[float] | np.ndarray, q: float, confidence: float = CONFIDENCE
) -> tuple[float | None, float | None]:
    """[lo, hi] of the q-quantile of raw values, the values at `ci_ranks`."""
    s = _sorted(values)
    lo, hi = ci_ranks(s.size, q, confidence)
    return (
        float(s[lo - 1]) if lo is not None else None,
        float(s[hi - 1]) if hi is not None else None,
    )


def min_n_closed(q: float | Fraction, confidence: float = CONFIDENCE) -> int:
    """The smallest n for which both bounds of the q-quantile exist (q < 1).

    The bounds exist once (1-q)^n <= a and q^n <= a, a = (1 - confidence) / 2; and once
    they exist they exist for every larger n (both powers only shrink).
    """
    qf = float(_exact(q))
    if qf >= 1.0:
        raise ValueError("the maximum (q = 1) never has an upper bound")
    a = (1.0 - confidence) / 2.0
    n = max(math.ceil(math.log(a) / math.log(qf)), math.ceil(math.log(a) / math.log1p(-qf)), 1)
    # guard the floating-point boundary with the exact search
    while n > 1 and None not in ci_ranks(n - 1, q, confidence):
        n -= 1
    while None in ci_ranks(n, q, confidence):
        n += 1
    return n


# -- how far to trust a percentile -------------------------------------------------------------
def reliability(
    value: float | None, lo: float | None, hi: float | None, wide: float = WIDE
) -> str | None:
    """ "open" when a bound is missing, "wide" when the interval reaches beyond ±`wide`·value,
    None when the percentile is pinned down (or there is no value at all)."""
    if value is None:
        return None
    if lo is None or hi is None:
        return "open"
    if lo < value * (1.0 - wide) or hi > value * (1.0 + wide):
        return "wide"
    return None


def mark(value: float | None, ci: Sequence[float | None] | None) -> str:
    """The one-character mark of a percentile's interval for tables ('?', '~' or '')."""
    if value is None or ci is None or len(ci) != 2:
        return ""  # no interval recorded (a run written before intervals were): no claim
    r = reliability(value, ci[0], ci[1])
    return MARKS[r] if r else ""
