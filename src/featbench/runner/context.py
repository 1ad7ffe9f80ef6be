"""What a driver needs besides the plan: sessions, keys, counters, clock, where to report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featbench.backends.base import Key, Session
from featbench.runner.client import PAUSE_EVERY, PAUSE_INTERVAL_S
from featbench.runner.live import LiveCounters
from featbench.runner.reconnect import ReconnectPolicy


@dataclass
class DriverContext:
    open_session: Callable[[], Session]  # in this process
    keys: dict[str, list[Key]]  # the run's keys per entity, in rank order (plans index them)
    key_str: list[np.ndarray]  # the same keys as str, per entity in spec order (for batches)
    read_counters: Callable[[], dict[str, int] | None] | None = None
    clock_origin_ns: int = 0  # perf_counter_ns() at the run's clock origin
    report: list[dict[str, Any]] = field(default_factory=list)  # the manifest's `load`
    live: LiveCounters | None = None
    pause_every: int = PAUSE_EVERY
    pause_interval_s: float = PAUSE_INTERVAL_S
    before_level: Callable[[float], None] | None = None  # e.g. evict the OS page cache
    # picklable: opens a session in a worker process (None: workers are threads)
    process_factory: Callable[[], Session] | None = None
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)  # every connection's
