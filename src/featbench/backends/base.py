"""The backend Protocol every store implements, and the registry that picks one by URL scheme.

A backend loads a spec's generated data, samples keys, and opens *sessions*: one
client connection executing requests with one strategy. The runner only talks to
these interfaces, so a new store is done when the shared contract suite
(`tests/contract/`) passes against it unchanged.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from featbench.errors import FeatbenchError
from featbench.spec import WorkloadSpec
from featbench.target import Target, parse_target

Key = str | int
RequestKeys = dict[str, Key]  # entity name -> key
Row = dict[str, Any]  # column -> typed value (int, float, str, bool, datetime)


@dataclass(slots=True)  # built once per timed request: slots make it cheaper to build and read
class RequestResult:
    """What one timed request returns. Row values are not decoded on the timed path.

    Sessions build it with positional arguments on the timed path (a third of the cost
    of keyword arguments)."""

    rows_found: int
    rows_looked_up: int
    entity_ns: dict[str, int] | None = None  # time per entity where measured (serial)
    error: str | None = None
    consumed_units: float | None = None  # e.g. DynamoDB read capacity units charged
    # lookups that returned at least one row; None means "same as rows_found" (a store
    # where a key has at most one row per table). Differs from rows_found only on tables
    # holding several rows per key (no primary key on the key column).
    keys_found: int | None = None


@dataclass
class IOSample:
    """Blocks one request touched, from the server's own accounting (EXPLAIN BUFFERS)."""

    shared_hit: int
    shared_read: int
    per_table: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class TableCheck:
    table: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    rows: int | None = None


@dataclass
class LoadReport:
    tables_loaded: int
    tables_skipped: int
    rows: int
    bytes: int
    seconds: float
    checks: list[TableCheck] = field(default_factory=list)


@dataclass
class OsCacheEviction:
    """Whether a backend empties the OS page cache of the spec's files before each ratio.

    `evict()` does it and returns what the manifest records (files, bytes, residency
    before/after, time taken); `reason` says why eviction is on or off.
    """

    enabled: bool
    reason: str
    method: str | None = None
    evict: Callable[[], dict[str, Any]] | None = None


@runtime_checkable
class Session(Protocol):
    """One client connection (or a few) executing requests with one strategy.

    Everything the runner uses is here; a store without a capability says so (a flag or
    a no-op), it is never discovered by probing for attributes.
    """

    strategy: str
    io_sampling: bool  # whether explain() gives per-request block counts (EXPLAIN BUFFERS)
    stats: dict[str, int]  # the store client's own counts (errors, retries…); {} if it keeps none

    def execute(self, keys: RequestKeys) -> RequestResult:
        """The timed request: one lookup per table of each entity in `keys`."""
        ...

    def explain(self, keys: RequestKeys) -> IOSample:
        """The request as EXPLAIN (ANALYZE, BUFFERS); raises FeatbenchError where
        `io_sampling` is False."""
        ...

    def flush_stats(self) -> None:
        """Publish the session's pending server statistics before cache counters are read
        (PostgreSQL 15+ keeps them per backend); a no-op for stores without them."""
        ...

    def recover(self) -> None:
        """After a failed request: reconnect if the connection broke (a no-op otherwise, and
        for clients that reconnect by themselves); raises FeatbenchError if it cannot."""
        ...

    def native_plan(self, entities: Sequence[str]) -> NativePlan | None:
        """The request as a plan for compiled code, for the client loop to run in blocks with
        no Python per request; None where the store has none (the loop then calls
        `execute`). `entities`: the order of the key indices the plan will be given."""
        ...

    def close(self) -> None: ...


class NativePlan(Protocol):
    """A session's timed request without Python per request (PostgreSQL:
    `backends/pg_native.py`). The client encodes its key columns once, gives the plan
    views of its recording arrays, and runs blocks of requests as rows of key indices."""

    timed_entities: bool  # whether it records time per entity

    def encode_keys(self, key_columns: Sequence[Sequence[Key]]) -> Any: ...

    def out(self, *arrays: Any) -> Any:
        """The recording arrays: start, end, rows found, keys found, lookups, entity ns."""
        ...

    def prepare(self, out: Any, keys: Any) -> None:
        """Point the loop at the client's arrays and keys, before anything is timed."""
        ...

    def run(
        self,
        rows: Any,
        k0: int,
        deadline_ns: int,
        out: Any,
        keys: Any,
        write_ent: bool,
        opened: tuple[Any, ...] | None = None,
    ) -> tuple[int, str | None]:
        """Run requests (rows of key indices) into slots k0…; stop after a failure or a
        request ending past `deadline_ns` (an open loop's `opened`: its intended starts
        and pause rule). Returns (requests run, the last one's error)."""
        ...


class ResultTables(Protocol):
    """A copy of a run's results in the target itself (PostgreSQL: featbench.run_results and
    featbench.run_keys), next to the run directory, which stays the record."""

    def write_keys(self, run_id: str, keys: Any) -> None:
        """`keys`: the run's keys as keys.parquet holds them (a pyarrow table)."""
        ...

    def write_level(self, run_id: str, section: Any, ratio: dict[str, Any]) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """A store featbench benchmarks. The runner uses only what is declared here.

    Capabilities a store lacks are answered explicitly: None (no counters, no result
    tables, no buffer cache, no files to evict, no factory for other processes) or a
    sentence (`reset_stats`), never a missing attribute."""

    kind: str  # "postgres" | "redis" | "dynamodb"
    strategies: tuple[str, ...]  # strategies this backend implements

    @property
    def redacted(self) -> str:
        """The target without credentials: safe to print and save."""
        ...

    @property
    def namespace(self) -> str:
        """Where featbench's data lives in the target (PostgreSQL schema, key prefix, table
        prefix): two targets on one server are told apart by it."""
        ...

    def describe(self) -> dict[str, Any]:
        """Server version and settings that matter to the benchmark (no secrets)."""
        ...

    def load(
        self, spec: WorkloadSpec, scale: float, seed: int, *, streams: int, force: bool = False
    ) -> LoadReport: ...

    def verify(
        self, spec: WorkloadSpec, scale: float, seed: int, *, sample: int = 20
    ) -> list[TableCheck]: ...

    def check_tables(self, spec: WorkloadSpec) -> None:
        """Raise FeatbenchError naming the first table of the spec that the target lacks."""
        ...

    def sample_keys(self, spec: WorkloadSpec, entity: str, n: int, seed: int) -> list[Key]: ...

    def fetch(self, spec: WorkloadSpec, keys: RequestKeys) -> dict[str, Row | None]:
        """Typed feature rows of one request, per table (None where the key is absent)."""
        ...

    def fetch_all(self, spec: WorkloadSpec, keys: RequestKeys) -> dict[str, list[Row]]:
        """Every row of each table's lookup of one request, ordered, typed (`featbench get`):
        an existing table may hold several rows per key (one per feature, as Feast's do)."""
        ...

    def session(self, spec: WorkloadSpec, strategy: str) -> Session: ...

    def session_factory(self, spec: WorkloadSpec, strategy: str) -> Callable[[], Session] | None:
        """A picklable callable opening sessions like `session()` in any process (client
        processes of concurrent and open-loop runs); None: this backend's sessions can only
        be opened in this process (its clients are then threads)."""
        ...

    def check_capacity(
        self, spec: WorkloadSpec, strategies: Sequence[str], concurrency: int
    ) -> None:
        """Raise FeatbenchError when the target cannot admit `concurrency` clients of these
        strategies (e.g. PostgreSQL's max_connections); stores without a limit do nothing."""
        ...

    def counters(self, spec: WorkloadSpec) -> dict[str, int] | None:
        """Cumulative server cache counters (e.g. buffer hits/reads), None if the store has none."""
        ...

    def reset_stats(self) -> str | None:
        """Reset the server's statistics (`--stats-reset`); returns a warning when refused
        or when the store has none to reset."""
        ...

    def result_tables(self) -> ResultTables | None:
        """Where a copy of the results goes in the target, None for stores without tables."""
        ...

    def drop(self) -> list[str]:
        """Remove what featbench loaded (only that); returns what went."""
        ...

    def loaded_dataset(self, spec: WorkloadSpec) -> tuple[float, int] | None:
        """(scale, seed) featbench recorded when it loaded the spec's tables into the target;
        None when it did not load them (existing tables) or the record does not cover them."""
        ...

    def probe(self, spec: WorkloadSpec, keys_by_entity: dict[str, list[Key]]) -> list[str]:
        """Before timing, one lookup per table with sampled keys: raise a FeatbenchError
        (table, column, both types) when a key does not bind or a value does not decode as
        the spec says; return warnings for other failures (the run measures those)."""

    def cache_fit(
        self,
        spec: WorkloadSpec,
        *,
        os_cache_evicted: bool = False,
        n_hot: dict[str, int] | None = None,
    ) -> dict[str, Any] | None:
        """The spec's data (and the hot set of `n_hot` keys per entity) against the server's
        buffer cache: bytes, settings, `fits_*` flags, and `warnings` (text when cold keys
        cannot miss the cache, or hot keys may not stay in it); None for a store without
        such a cache (Redis, DynamoDB)."""
        ...

    def free_space(self) -> tuple[int, str] | None:
        """(free bytes, where) of the disk that holds the store's data, when featbench can
        see it (a server on this machine); None otherwise. `load` asks for --yes above it."""
        ...

    def os_cache_eviction(
        self, spec: WorkloadSpec, requested: bool | None
    ) -> OsCacheEviction | None:
        """Set up OS page-cache eviction of the spec's files (`requested` None: the backend's
        default). None for a store that keeps no files in the OS page cache; raises
        FeatbenchError when `requested` is True and eviction is impossible here."""
        ...

    def close(self) -> None: ...


# kind -> (module, class name, pip extra that provides its driver)
_REGISTRY: dict[str, tuple[str, str, str | None]] = {
    "postgres": ("featbench.backends.postgres", "PostgresBackend", None),
    "redis": ("featbench.backends.redis", "RedisBackend", "redis"),
    "dynamodb": ("featbench.backends.dynamodb", "DynamoDBBackend", "dynamodb"),
}


def backend_class(kind: str) -> Callable[..., Backend]:
    try:
        module, cls, extra = _REGISTRY[kind]
    except KeyError:
        raise FeatbenchError(f"no backend for {kind!r}; known: {', '.join(_REGISTRY)}") from None
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        hint = f"pip install 'featbench[{extra}]'" if extra else "reinstall featbench"
        raise FeatbenchError(f"the {kind} backend needs {e.name!r}: {hint}") from None
    return getattr(mod, cls)


def open_backend(target: str | Target, **options: Any) -> Backend:
    """Connect to a target URL (or `embedded`) and return its backend."""
    t = parse_target(target) if isinstance(target, str) else target
    return backend_class(t.kind)(t, **options)
