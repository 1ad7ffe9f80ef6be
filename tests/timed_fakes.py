"""A fake store that watches what runs while its requests are "in flight" (pure unit tests).

Its session's `execute` stands for one request on the wire: it releases the GIL for
a moment (as a real driver does while it waits for the server) and checks what else
ran meanwhile — any thread of the process other than the caller and the threads that
were alive before the run began (left by other tests in the same pytest process), the garbage
collector being enabled during a measured level, a run listener (which sets a flag
that the session sees). Violations are counted in `session.stats`, which the runner
sums into summary.json's `backend_stats`, so the same check works in worker
processes. Module-level classes, so a worker process can unpickle the factory.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass
from typing import Any

from featbench.backends.base import RequestKeys, RequestResult
from featbench.spec import WorkloadSpec

IN_LISTENER = threading.Event()  # set by the watching listener while it runs


class WatchedSession:
    strategy = "serial"
    io_sampling = False

    def __init__(
        self,
        spec_entities: tuple[str, ...],
        foreign: frozenset[int] = frozenset(),
        hold_s: float = 0.0002,
    ) -> None:
        self.entities = spec_entities
        self.hold_s = hold_s
        # the caller and threads that predate the run; in a worker process `foreign`
        # names no live thread, so there any second thread counts
        self.allowed = foreign | {threading.get_ident()}
        self.seen: set[str] = set()
        self.stats: dict[str, int] = {
            "requests": 0,
            "other_threads": 0,
            "gc_enabled": 0,
            "listener_in_flight": 0,
        }

    def execute(self, keys: RequestKeys) -> RequestResult:
        st = self.stats
        st["requests"] += 1
        before = self._others()
        gc_on = gc.isenabled()
        time.sleep(self.hold_s)  # the GIL is free: anything else that wants to run, runs now
        others = before | self._others()
        if others:
            st["other_threads"] += 1
            self.seen |= others
        if gc_on:
            st["gc_enabled"] += 1
        if IN_LISTENER.is_set():
            st["listener_in_flight"] += 1
        return RequestResult(len(keys), len(keys))

    def _others(self) -> set[str]:
        return {t.name for t in threading.enumerate() if t.ident not in self.allowed}

    def explain(self, keys: RequestKeys) -> Any:
        raise NotImplementedError

    def flush_stats(self) -> None:
        pass

    def recover(self) -> None:
        pass

    def native_plan(self, entities: Any) -> None:
        return None

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class WatchedFactory:
    entities: tuple[str, ...]
    foreign: frozenset[int]

    def __call__(self) -> WatchedSession:
        return WatchedSession(self.entities, self.foreign)


class WatchedBackend:
    """Just enough of a store for `run_benchmark`: keys, sessions, no counters."""

    kind = "fake"
    strategies = ("serial",)
    redacted = "fake://watched"
    namespace = "watched"

    def __init__(self, spec: WorkloadSpec, *, processes: bool) -> None:
        self.spec = spec
        self.processes = processes
        self.sessions: list[WatchedSession] = []
        # threads alive before the run (other tests' leftovers) are not the run's
        self.foreign = frozenset(t.ident for t in threading.enumerate() if t.ident is not None)

    def describe(self) -> dict[str, Any]:
        return {"backend": "fake"}

    def check_tables(self, spec: WorkloadSpec) -> None:
        pass

    def sample_keys(self, spec: WorkloadSpec, entity: str, n: int, seed: int) -> list[Any]:
        return [f"{entity}-{i:06d}" for i in range(n)]

    def session(self, spec: WorkloadSpec, strategy: str) -> WatchedSession:
        s = WatchedSession(spec.entity_names, self.foreign)
        self.sessions.append(s)
        return s

    def session_factory(self, spec: WorkloadSpec, strategy: str) -> WatchedFactory | None:
        return WatchedFactory(spec.entity_names, self.foreign) if self.processes else None

    def counters(self, spec: WorkloadSpec) -> None:
        return None

    def check_capacity(self, spec: WorkloadSpec, strategies: Any, concurrency: int) -> None:
        return None

    def probe(self, spec: WorkloadSpec, keys_by_entity: Any) -> list[str]:
        return []

    def cache_fit(self, spec: WorkloadSpec, **_: Any) -> None:
        return None

    def os_cache_eviction(self, spec: WorkloadSpec, requested: bool | None) -> None:
        return None

    def reset_stats(self) -> str | None:
        return None

    def result_tables(self) -> None:
        return None

    def close(self) -> None:
        pass


class WatchingListener:
    """Listens to every event; raises the flag the sessions check while it runs."""

    def __init__(self) -> None:
        self.calls = 0
        self.batches: list[int] = []

    def _hold(self) -> None:
        IN_LISTENER.set()
        try:
            self.calls += 1
            time.sleep(0.0005)  # long enough that an overlapping request would see the flag
        finally:
            IN_LISTENER.clear()

    def on_requests(self, b: Any) -> None:
        self.batches.append(len(b))
        self._hold()

    def on_io_sample(self, s: Any) -> None:
        self._hold()

    def on_level_start(self, ev: Any) -> None:
        self._hold()

    def on_level_end(self, ev: Any) -> None:
        self._hold()
