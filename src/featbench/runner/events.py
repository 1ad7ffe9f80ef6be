"""Run events: the runner fires them, statistics and result writers listen (locust style).

The runner never calls statistics or results code and they never call the runner:
both only know these records. A concurrent or open-loop runner fires the same
events (with `scheduled_ns` set) and reuses every listener unchanged.

Times are monotonic nanoseconds (`time.perf_counter_ns`) relative to the run's clock
origin, whose wall-clock time is the manifest's `clock_origin_utc`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from featbench.backends.base import IOSample, Key

E = TypeVar("E")


@dataclass(frozen=True)
class SectionInfo:
    """One (target, strategy) pair of a run; results are grouped by section."""

    index: int
    target: str  # redacted URL, safe to save
    backend: str
    strategy: str
    entities: tuple[str, ...]
    distribution: str = "hotcold"
    level_key: str = (
        "hot_pct"  # the name of a ratio's level in summary/requests ("theta" for Zipfian)
    )

    @property
    def label(self) -> str:
        """A file-name-safe name of the section: `<index>-<backend>-<strategy>`."""
        return f"{self.index}-{self.backend}-{self.strategy}"


@dataclass(slots=True)  # not frozen: a frozen __init__ costs µs, and this is built per request
class RequestRecord:
    """One measured request (warm-up and I/O-sampled requests are never sent as this).

    Listeners must treat it as read-only: the same record goes to every listener."""

    section: int
    level: float  # hot_pct for the hot/cold sweep
    seq: int  # position of the request in its ratio's executed sequence (I/O samples included)
    start_ns: int
    end_ns: int
    keys: tuple[Key, ...]  # one per entity, in spec order
    hot: tuple[bool, ...]
    rows_found: int
    rows_looked_up: int
    entity_ns: tuple[int, ...] | None = None
    error: str | None = None
    scheduled_ns: int | None = None  # open loop only: the intended start
    consumed_units: float | None = None  # capacity units the store charged (DynamoDB), else None
    keys_found: int | None = None  # lookups with >= 1 row; None: same as rows_found

    @property
    def latency_us(self) -> float:
        return (self.end_ns - self.start_ns) / 1000.0

    @property
    def corrected_latency_us(self) -> float | None:
        if self.scheduled_ns is None:
            return None
        return (self.end_ns - self.scheduled_ns) / 1000.0


@dataclass(frozen=True, slots=True)
class IOSampleRecord:
    """A request executed as EXPLAIN (ANALYZE, BUFFERS): block counts, latency not kept."""

    section: int
    level: float
    seq: int
    keys: tuple[Key, ...]
    hot: tuple[bool, ...]
    sample: IOSample | None
    error: str | None = None


@dataclass(frozen=True)
class RatioStarted:
    section: int
    level: float
    planned_requests: int
    position: int  # 0-based index of this ratio in the run order


@dataclass(frozen=True)
class RatioFinished:
    section: int
    level: float
    # delta of the server's cache counters over the ratio, None where unavailable
    counters: dict[str, int] | None
    io_sampling: bool  # whether the session could take EXPLAIN samples at all
    interrupted: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SectionFinished:
    """End of a section: the store client's own counters, summed over its sessions.

    `backend_stats` is what the sessions' `.stats` held (DynamoDB: throttles, retries,
    unprocessed keys, errors; Redis: errors), None when the sessions keep none."""

    section: int
    backend_stats: dict[str, int] | None = None


@dataclass(frozen=True)
class RunFinished:
    status: str  # complete | interrupted | failed
    error: str | None = None


class Hook(Generic[E]):
    """A named event: `add_listener(fn)`, `fire(event)`."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[E], None]] = []

    def add_listener(self, fn: Callable[[E], None]) -> Callable[[E], None]:
        self._listeners.append(fn)
        return fn

    def fire(self, event: E) -> None:
        for fn in self._listeners:
            fn(event)


@dataclass
class RunEvents:
    """All hooks of one run."""

    section_start: Hook[SectionInfo] = field(default_factory=Hook)
    ratio_start: Hook[RatioStarted] = field(default_factory=Hook)
    request: Hook[RequestRecord] = field(default_factory=Hook)
    io_sample: Hook[IOSampleRecord] = field(default_factory=Hook)
    ratio_end: Hook[RatioFinished] = field(default_factory=Hook)
    section_end: Hook[SectionFinished] = field(default_factory=Hook)
    run_end: Hook[RunFinished] = field(default_factory=Hook)
    warning: Hook[str] = field(default_factory=Hook)

    def listen(self, listener: Any) -> None:
        """Subscribe every `on_<hook>` method the listener has."""
        for name in (
            "section_start",
            "ratio_start",
            "request",
            "io_sample",
            "ratio_end",
            "section_end",
            "run_end",
            "warning",
        ):
            fn = getattr(listener, f"on_{name}", None)
            if fn is not None:
                getattr(self, name).add_listener(fn)
