"""Open-loop arrival schedules and what to make of how a run kept to them. Pure, no I/O.

In an open loop every request has an intended start time fixed before the run, at
a target rate across all clients; a client that falls behind does not push the
schedule back (that is how a closed loop hides stalls — coordinated omission). The
latency reported "corrected" is measured from the intended start.

- ``uniform``: request i at i / rate;
- ``poisson``: exponential gaps with mean 1 / rate (seeded), i.e. Poisson arrivals.

Requests are dealt to clients round-robin (request i to client i mod N), so each
client keeps its own share of the schedule, as wrk2 does per connection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from featbench.errors import FeatbenchError

ARRIVALS = ("uniform", "poisson")
LATE_THRESHOLD_NS = 1_000_000  # a request that starts > 1 ms after its schedule is "late"
RATE_TOLERANCE = 0.95  # achieved below 95% of the target: the rate was not reached


def check_rate(rate: float | None, arrival: str = "uniform") -> None:
    if rate is not None and (not math.isfinite(rate) or rate <= 0):
        raise FeatbenchError(f"--rate must be a number of requests per second > 0, got {rate:g}")
    if arrival not in ARRIVALS:
        raise FeatbenchError(f"--arrival must be one of {', '.join(ARRIVALS)}, not {arrival!r}")


def offsets_ns(n: int, rate: float, arrival: str, seed: int) -> np.ndarray:
    """Intended start of each of n requests, in ns after the schedule's origin (first at 0)."""
    check_rate(rate, arrival)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    period = 1e9 / rate
    if arrival == "uniform":
        return np.round(np.arange(n) * period).astype(np.int64)
    gaps = np.random.default_rng([seed & 0xFFFFFFFF, 0xA771]).exponential(period, size=n)
    gaps[0] = 0.0
    return np.round(np.cumsum(gaps)).astype(np.int64)


def requests_for(rate: float | None, duration_s: float | None, requests: int) -> int:
    """Requests per level: rate × duration when a duration is given, else `requests`."""
    if duration_s is None:
        return requests
    if rate is None:
        raise FeatbenchError(
            "--duration needs --rate (an open loop); a closed loop counts --requests"
        )
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise FeatbenchError(f"--duration must be > 0 seconds, got {duration_s:g}")
    return max(1, int(math.ceil(rate * duration_s)))


@dataclass(frozen=True)
class Adherence:
    """How well the measured requests of one level kept to their schedule."""

    target_rps: float
    achieved_rps: float | None
    late: int  # started more than LATE_THRESHOLD_NS after their intended start
    requests: int
    max_lag_ms: float | None
    reached: bool | None  # None when too few requests to tell

    def to_dict(self) -> dict[str, float | int | bool | None]:
        return {
            "target_rps": self.target_rps,
            "achieved_rps": None if self.achieved_rps is None else round(self.achieved_rps, 3),
            "requests": self.requests,
            "late_requests": self.late,
            "late_pct": round(100.0 * self.late / self.requests, 4) if self.requests else None,
            "late_threshold_ms": LATE_THRESHOLD_NS / 1e6,
            "max_lag_ms": None if self.max_lag_ms is None else round(self.max_lag_ms, 3),
            "rate_reached": self.reached,
        }


@dataclass
class AdherenceCounter:
    """Accumulates intended and actual starts batch by batch (memory does not grow)."""

    n: int = 0
    late: int = 0
    max_lag_ns: int = 0
    first_scheduled_ns: int | None = None
    last_start_ns: int | None = None

    def add(self, scheduled_ns: np.ndarray, start_ns: np.ndarray) -> None:
        s = np.asarray(scheduled_ns, dtype=np.int64)
        a = np.asarray(start_ns, dtype=np.int64)
        if s.size == 0:
            return
        lag = a - s
        self.n += int(s.size)
        self.late += int((lag > LATE_THRESHOLD_NS).sum())
        self.max_lag_ns = max(self.max_lag_ns, int(lag.max()))
        lo, hi = int(s.min()), int(a.max())
        self.first_scheduled_ns = (
            lo if self.first_scheduled_ns is None else min(lo, self.first_scheduled_ns)
        )
        self.last_start_ns = hi if self.last_start_ns is None else max(hi, self.last_start_ns)

    def result(self, rate: float) -> Adherence:
        """The achieved start rate counts the starts over the span from the first intended
        start to the last actual start: a client that lags stretches that span, so the
        rate falls below the target exactly when the client could not keep up on average."""
        n = self.n
        if n == 0:
            return Adherence(rate, None, 0, 0, None, None)
        max_lag = float(max(0, self.max_lag_ns)) / 1e6
        if n < 2:
            return Adherence(rate, None, self.late, n, max_lag, None)
        assert self.first_scheduled_ns is not None and self.last_start_ns is not None
        span = self.last_start_ns - self.first_scheduled_ns
        # n starts over the span: the span covers n - 1 periods at the target rate
        achieved = (n - 1) / (span / 1e9) if span > 0 else None
        reached = None if achieved is None else achieved >= RATE_TOLERANCE * rate
        return Adherence(rate, achieved, self.late, n, max_lag, reached)


def adherence(scheduled_ns: np.ndarray, start_ns: np.ndarray, rate: float) -> Adherence:
    """Achieved start rate and lateness of requests with these intended and actual starts."""
    c = AdherenceCounter()
    c.add(scheduled_ns, start_ns)
    return c.result(rate)
