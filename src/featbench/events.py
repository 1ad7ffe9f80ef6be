"""Run events: runners fire them, statistics, result writers and displays listen (locust style).

A neutral module: runners (`featbench.runner`), statistics (`featbench.measure`) and
result writers (`featbench.results`) all import it and never each other.

Timed requests are delivered as `RequestBatch`es — columns, not one object per
request — and only at pauses outside any timed request (README, "The timed path"):
between two timed requests the client only stores two clock readings and the
store's reply. Every listener therefore works on arrays.

Times are monotonic nanoseconds (`time.perf_counter_ns`, CLOCK_MONOTONIC: one clock
for every process of the machine) relative to the run's clock origin, whose
wall-clock time is the manifest's `clock_origin_utc`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

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
    level_key: str = "hot_pct"  # the name of a level in summary/requests ("theta" for Zipfian)

    @property
    def label(self) -> str:
        """A file-name-safe name of the section: `<index>-<backend>-<strategy>`."""
        return f"{self.index}-{self.backend}-{self.strategy}"


@dataclass(frozen=True)
class RequestBatch:
    """Measured requests of one level of one section, as columns (row i = one request).

    Warm-up and I/O-sampled requests are never part of a batch. Listeners must treat
    the arrays as read-only: the same batch goes to every listener.
    """

    section: int
    level: float  # hot_pct for the hot/cold sweep, θ for a skewed one
    seq: np.ndarray  # int64: position of the request in its level's sequence (I/O samples too)
    start_ns: np.ndarray  # int64, relative to the run's clock origin
    end_ns: np.ndarray  # int64
    rows_found: np.ndarray  # int64: rows the request returned
    keys_found: np.ndarray  # int64: lookups that returned at least one row
    lookups: np.ndarray  # int64: table lookups the request made
    hot: np.ndarray  # (n, E) bool: which entities' keys were hot
    keys: tuple[np.ndarray, ...]  # per entity, object array of the keys (str)
    errors: dict[int, str] = field(default_factory=dict)  # row -> error text (rare)
    scheduled_ns: np.ndarray | None = None  # int64, open loop only: the intended start
    entity_ns: np.ndarray | None = None  # (n, E) int64 time per entity, -1 where not measured
    consumed_units: np.ndarray | None = None  # float64 capacity units charged, NaN: not reported
    client: np.ndarray | None = None  # int16: which client ran the request (concurrent runs)

    def __len__(self) -> int:
        return int(self.seq.shape[0])

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the requests that did not fail."""
        m = np.ones(len(self), dtype=bool)
        if self.errors:
            m[list(self.errors)] = False
        return m

    @classmethod
    def from_rows(
        cls,
        section: int,
        level: float,
        rows: Sequence[dict[str, Any]],
        entities: Sequence[str],
    ) -> RequestBatch:
        """A batch from per-request dicts (tests and small tools; runners build columns).

        Each row: seq, start_ns, end_ns, keys (tuple), hot (tuple); optional rows_found,
        keys_found, lookups, error, scheduled_ns, entity_ns (tuple), consumed_units.
        """
        n_e = len(entities)

        def col(name: str, default: Any, dtype: Any) -> np.ndarray:
            return np.array([r.get(name, default) for r in rows], dtype=dtype)

        sched = [r.get("scheduled_ns") for r in rows]
        ent = [r.get("entity_ns") for r in rows]
        units = [r.get("consumed_units") for r in rows]
        rows_found = col("rows_found", 1, np.int64)
        return cls(
            section=section,
            level=float(level),
            seq=col("seq", 0, np.int64),
            start_ns=col("start_ns", 0, np.int64),
            end_ns=col("end_ns", 0, np.int64),
            rows_found=rows_found,
            keys_found=np.array(
                [r.get("keys_found", r.get("rows_found", 1)) for r in rows], dtype=np.int64
            ),
            lookups=col("lookups", 1, np.int64),
            hot=np.array([tuple(r["hot"]) for r in rows], dtype=bool).reshape(len(rows), n_e),
            keys=tuple(
                np.array([str(r["keys"][j]) for r in rows], dtype=object) for j in range(n_e)
            ),
            errors={i: r["error"] for i, r in enumerate(rows) if r.get("error") is not None},
            scheduled_ns=None
            if all(s is None for s in sched)
            else np.array([s if s is not None else -1 for s in sched], dtype=np.int64),
            entity_ns=None
            if all(x is None for x in ent)
            else np.array(
                [tuple(x) if x is not None else (-1,) * n_e for x in ent], dtype=np.int64
            ).reshape(len(rows), n_e),
            consumed_units=None
            if all(u is None for u in units)
            else np.array([np.nan if u is None else u for u in units], dtype=np.float64),
        )


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
class LevelStarted:
    section: int
    level: float
    planned_requests: int
    position: int  # 0-based index of this level in the run order


@dataclass(frozen=True)
class LevelFinished:
    section: int
    level: float
    # delta of the server's cache counters over the level, None where unavailable
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


HOOKS = (
    "section_start",
    "level_start",
    "requests",
    "io_sample",
    "level_end",
    "section_end",
    "run_end",
    "warning",
)


@dataclass
class RunEvents:
    """All hooks of one run."""

    section_start: Hook[SectionInfo] = field(default_factory=Hook)
    level_start: Hook[LevelStarted] = field(default_factory=Hook)
    requests: Hook[RequestBatch] = field(default_factory=Hook)
    io_sample: Hook[IOSampleRecord] = field(default_factory=Hook)
    level_end: Hook[LevelFinished] = field(default_factory=Hook)
    section_end: Hook[SectionFinished] = field(default_factory=Hook)
    run_end: Hook[RunFinished] = field(default_factory=Hook)
    warning: Hook[str] = field(default_factory=Hook)

    def listen(self, listener: Any) -> None:
        """Subscribe every `on_<hook>` method the listener has. An `on_…` method that
        names no hook is refused: a misspelt (or renamed) hook would never be called."""
        unknown = sorted(
            a for a in dir(listener)
            if a.startswith("on_") and a[3:] not in HOOKS and callable(getattr(listener, a))
        )  # fmt: skip
        if unknown:
            raise TypeError(
                f"{type(listener).__name__} has {', '.join(unknown)}: no such run event "
                f"(the hooks are on_{', on_'.join(HOOKS)})"
            )
        for name in HOOKS:
            fn = getattr(listener, f"on_{name}", None)
            if fn is not None:
                getattr(self, name).add_listener(fn)
