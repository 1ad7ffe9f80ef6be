"""What the key-value backends (Redis, DynamoDB) share: load bookkeeping, threaded chunked
loading, reproducible key sampling, and checking stored rows against the generator.

Neither store has a catalogue saying which feature tables exist, from which spec, scale
and seed, or whether a load finished. So each backend keeps one small *meta record* per
feature table (JSON, in the store itself, inside featbench's namespace). It is written
(``complete: false``) before the first row and completed after the last one, so an
interrupted load is visible as such, and it carries the measurements the cost model
needs (item bytes, memory per row) to later processes that did not do the load.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import numpy as np

from featbench import __version__
from featbench.backends.base import Key, RequestKeys, Row, TableCheck
from featbench.errors import FeatbenchError
from featbench.generate import chunk_ranges, generate_batch, keys_for
from featbench.progress import interruptible, make_progress
from featbench.spec import Table, WorkloadSpec, scaled_rows

NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
DEFAULT_NAMESPACE = "featbench"


def check_namespace(ns: str, store: str) -> str:
    if not NAMESPACE_RE.match(ns):
        raise FeatbenchError(
            f"namespace {ns!r} for {store} is not valid: use 1-100 letters, digits, '_', '.' or '-'"
        )
    return ns


def table_fingerprint(spec: WorkloadSpec, table: Table) -> str:
    """sha256 of everything that decides a table's generated rows (except scale and seed).

    Per table rather than per spec, so adding a table to a spec does not make the tables
    already loaded look foreign.
    """
    doc = {
        "table": table.model_dump(mode="json"),
        "key_column": spec.key_column_of(table),
        "key_type": spec.entity(table.entity).key_type,
        "key_universe": spec.key_universe,
    }
    canon = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


@dataclass
class TableMeta:
    """The store's record of one loaded feature table."""

    table: str
    layout: str
    fingerprint: str
    spec_name: str
    scale: float
    seed: int
    rows: int
    complete: bool
    loaded_at: str
    featbench_version: str = __version__
    stats: dict[str, Any] = field(default_factory=dict)  # store-specific measurements

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> TableMeta:
        return cls(**json.loads(text))

    def same_data(self, fingerprint: str, scale: float, seed: int) -> bool:
        return self.fingerprint == fingerprint and self.scale == scale and self.seed == seed

    def differences(self, fingerprint: str, scale: float, seed: int) -> str:
        out = []
        if self.fingerprint != fingerprint:
            out.append(f"another definition of the table (spec {self.spec_name!r})")
        if self.scale != scale:
            out.append(f"scale {self.scale:g}")
        if self.seed != seed:
            out.append(f"seed {self.seed}")
        return ", ".join(out)


def new_meta(spec: WorkloadSpec, table: Table, layout: str, scale: float, seed: int) -> TableMeta:
    return TableMeta(
        table=table.table_name,
        layout=layout,
        fingerprint=table_fingerprint(spec, table),
        spec_name=spec.name,
        scale=scale,
        seed=seed,
        rows=scaled_rows(table, scale),
        complete=False,
        loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


# -- deciding what to load -------------------------------------------------------------
@dataclass
class LoadPlan:
    load: list[Table]
    skip: list[Table]
    clear: list[Table]  # tables whose old rows must go first (force / different data)


def plan_load(
    spec: WorkloadSpec,
    scale: float,
    seed: int,
    metas: dict[str, TableMeta | None],
    *,
    force: bool,
    where: str,
) -> LoadPlan:
    """Skip tables already loaded with the same data; refuse to overwrite other data unless forced.

    An unfinished load of the same data is simply redone (writes are idempotent puts).
    """
    plan = LoadPlan([], [], [])
    for t in spec.tables:
        m = metas.get(t.table_name)
        fp = table_fingerprint(spec, t)
        if m is None:
            plan.load.append(t)
            if force:
                plan.clear.append(t)
        elif force:
            plan.load.append(t)
            plan.clear.append(t)
        elif m.same_data(fp, scale, seed):
            (plan.skip if m.complete else plan.load).append(t)
        else:
            raise FeatbenchError(
                f"table {t.table_name} in {where} holds {m.differences(fp, scale, seed)}; "
                "load with --force to replace it, or use another namespace"
            )
    return plan


def check_loaded(
    spec: WorkloadSpec, metas: dict[str, TableMeta | None], where: str, target: str
) -> None:
    """Raise naming the first table of the spec that is missing, unfinished or foreign."""
    for t in spec.tables:
        m = metas.get(t.table_name)
        hint = f"run: featbench load --target {target}"
        if m is None:
            raise FeatbenchError(f"table {t.table_name} is missing from {where}; {hint}")
        if m.fingerprint != table_fingerprint(spec, t):
            raise FeatbenchError(
                f"table {t.table_name} in {where} was loaded from a different definition "
                f"(spec {m.spec_name!r}); load again with --force"
            )
        if not m.complete:
            raise FeatbenchError(f"table {t.table_name} in {where} was only partly loaded; {hint}")


def loaded_dataset(
    spec: WorkloadSpec, metas: dict[str, TableMeta | None]
) -> tuple[float, int] | None:
    """(scale, seed) when every table of the spec has a complete meta record of its own
    definition and they all agree; None otherwise (not loaded by featbench, or mixed)."""
    found = set()
    for t in spec.tables:
        m = metas.get(t.table_name)
        if m is None or not m.complete or m.fingerprint != table_fingerprint(spec, t):
            return None
        found.add((float(m.scale), int(m.seed)))
    return next(iter(found)) if len(found) == 1 else None


# -- threaded chunked loading ----------------------------------------------------------
ChunkWriter = Callable[[Table, Any], int]  # (table, pyarrow.RecordBatch) -> rows written


@dataclass
class Written:
    """What writing chunks did: rows, and what the store measured on the way."""

    rows: int
    sizes: list[int] = field(default_factory=list)  # bytes of some of the items (DynamoDB)
    stats: dict[str, int] = field(default_factory=dict)  # retries, throttles… (DynamoDB)

    # item sizes a Spark task sends back per table, at most: the sample of its first
    # chunks (a billion-row load must not ship 200 sizes per chunk to the driver)
    SIZES_KEPT = 20_000

    def add(self, other: Written) -> None:
        self.rows += other.rows
        self.sizes.extend(other.sizes[: max(0, self.SIZES_KEPT - len(self.sizes))])
        for k, n in other.stats.items():
            self.stats[k] = self.stats.get(k, 0) + n


class RowWriter(Protocol):
    """A store's chunk-loading function, picklable: the local load runs it on threads with
    the backend's client, a Spark task (`featbench.spark.load`) as it is with `open()`'s.

    Writes are puts of whole items keyed by the row's key, so writing a chunk twice (a
    retried or speculative Spark task, a resumed load) stores exactly what writing it
    once does: no row is duplicated, and none is lost."""

    def open(self) -> Any: ...

    def write(self, client: Any, spec: WorkloadSpec, t: Table, batch: Any) -> Written: ...

    def close(self, client: Any) -> None: ...


class RowExecutor(Protocol):
    """Runs the chunks of a key-value load somewhere other than this process's threads
    (Spark tasks: `featbench.spark.load.SparkChunks`): every chunk of `chunk_rows` rows of
    each (table name, rows) in `tables`, through `writer`. Returns what was written per
    table (one or more entries each), every chunk written, or raises."""

    @property
    def streams(self) -> int: ...

    def run_rows(
        self,
        spec: WorkloadSpec,
        seed: int,
        tables: list[tuple[str, int]],
        chunk_rows: int,
        writer: RowWriter,
    ) -> list[tuple[str, Written]]: ...


def load_chunk(
    writer: RowWriter, client: Any, spec: WorkloadSpec, t: Table, seed: int, start: int, stop: int
) -> Written:
    """Generate rows [start, stop) of a table and write them: one chunk, on any machine."""
    return writer.write(client, spec, t, generate_batch(spec, t, seed, start, stop))


def run_load(
    spec: WorkloadSpec,
    tables: Sequence[Table],
    scale: float,
    seed: int,
    *,
    streams: int,
    chunk_rows: int,
    write_chunk: ChunkWriter,
    on_table_done: Callable[[Table], None],
    label: str,
    progress: bool | None = None,
) -> tuple[int, float]:
    """Generate and write every chunk of `tables` on `streams` threads; return (rows, seconds).

    Each task generates its own chunk (generation is a pure function of the row range),
    so workers never wait on one producer. At most 2 x streams chunks are in flight, so
    memory stays bounded at any scale. `on_table_done` runs on the calling thread once
    all of a table's chunks are written. The first failure stops new work and is raised
    after in-flight chunks finish: rows already written stay, and the table's meta
    record stays "incomplete".
    """
    if streams < 1:
        raise FeatbenchError(f"--streams must be >= 1, got {streams}")
    # chunks made one at a time as workers take them: nothing grows with the scale
    tasks = ((t, a, b) for t in tables for a, b in chunk_ranges(scaled_rows(t, scale), chunk_rows))
    remaining = {t.table_name: -(-scaled_rows(t, scale) // chunk_rows) for t in tables}
    total_rows = sum(scaled_rows(t, scale) for t in tables)
    written = 0
    t0 = time.perf_counter()

    def work(t: Table, a: int, b: int) -> int:
        return write_chunk(t, generate_batch(spec, t, seed, a, b))

    disable = None if progress is None else not progress
    with (
        interruptible() as stop,
        make_progress(disable=disable) as prog,
        ThreadPoolExecutor(max_workers=streams) as pool,
    ):
        bar = prog.add_task(label, total=total_rows)
        it = tasks
        inflight: dict[Future[int], Table] = {}
        error: BaseException | None = None
        try:
            while True:
                while error is None and len(inflight) < 2 * streams:
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    inflight[pool.submit(work, *nxt)] = nxt[0]
                if not inflight:
                    break
                stop.check()  # Ctrl-C: within half a second, between chunks
                done, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                for f in done:
                    t = inflight.pop(f)
                    exc = f.exception()
                    if exc is not None:
                        error = error or exc
                        continue
                    n = f.result()
                    written += n
                    prog.advance(bar, n)
                    remaining[t.table_name] -= 1
                    if remaining[t.table_name] == 0 and error is None:
                        on_table_done(t)
        except BaseException:  # Ctrl-C: stop feeding, let running chunks finish
            for f in inflight:
                f.cancel()
            raise
        if error is not None:
            raise error
    return written, time.perf_counter() - t0


# -- requests --------------------------------------------------------------------------
def request_tables(spec: WorkloadSpec, keys: RequestKeys) -> list[tuple[str, Key, list[Table]]]:
    """(entity, key, tables) for each entity of a request, validating entity names."""
    out = []
    names = set(spec.entity_names)
    for ent, key in keys.items():
        if ent not in names:
            raise FeatbenchError(
                f"unknown entity {ent!r} in the request; the spec has {', '.join(spec.entity_names)}"
            )
        out.append((ent, key, spec.tables_for(ent)))
    return out


# -- reproducible key sampling ---------------------------------------------------------
def sample_candidates(
    spec: WorkloadSpec, entity: str, n: int, seed: int, data_seed: int, scale: float
) -> list[tuple[Table, Key]]:
    """n distinct keys of an entity drawn uniformly from the union of its tables' keys.

    The draw is a pure function of (spec, entity, n, seed, data seed, scale): row indexes
    are chosen with numpy's seeded Generator, and the generator turns them into keys.
    With nested key universes the union is the entity's largest table (row i of every
    table holds key i); with independent universes every (table, row) is a candidate.
    Returns (table holding the key, key) so the caller can confirm the store holds it.
    When n exceeds the universe, every key is returned (in seeded order).
    """
    if n < 0:
        raise FeatbenchError(f"number of keys must be >= 0, got {n}")
    tables = spec.tables_for(entity)
    rng = np.random.default_rng([seed, 0x6B657973])  # "keys": a stream separate from plans
    if spec.key_universe == "nested":
        big = max(tables, key=lambda t: scaled_rows(t, scale))
        universe = scaled_rows(big, scale)
        idx = _draw(rng, universe, n)
        return [(big, k) for k in keys_at(spec, big, data_seed, idx)]
    sizes = [scaled_rows(t, scale) for t in tables]
    bounds = np.cumsum(sizes)
    idx = _draw(rng, int(bounds[-1]), n)
    which = np.searchsorted(bounds, idx, side="right")
    starts = bounds - np.asarray(sizes)
    drawn: list[tuple[int, Table, Key]] = []  # (position in the draw, table, key)
    for ti, t in enumerate(tables):
        mine = np.flatnonzero(which == ti)
        for pos, k in zip(
            mine.tolist(), keys_at(spec, t, data_seed, idx[mine] - starts[ti]), strict=True
        ):
            drawn.append((pos, t, k))
    drawn.sort(key=lambda x: x[0])
    seen: set[Key] = set()
    result: list[tuple[Table, Key]] = []
    for _, t, k in drawn:  # a key may sit in several tables: keep its first draw
        if k not in seen:
            seen.add(k)
            result.append((t, k))
    return result


def _draw(rng: np.random.Generator, universe: int, n: int) -> np.ndarray:
    if n >= universe:
        return rng.permutation(universe)
    return rng.choice(universe, size=n, replace=False)


def keys_at(spec: WorkloadSpec, table: Table, data_seed: int, idx: Iterable[int]) -> list[Key]:
    """The keys of the given row indexes of a table (any order)."""
    idx = np.asarray(list(idx) if not isinstance(idx, np.ndarray) else idx, dtype=np.int64)
    if idx.size == 0:
        return []
    n_rows = int(idx.max()) + 1
    if idx.size * 16 >= n_rows:
        # Dense: generating the whole prefix in one vectorised call is cheaper.
        all_keys = keys_for(spec, table, data_seed, 0, n_rows).to_pylist()
        return [all_keys[i] for i in idx]
    return [keys_for(spec, table, data_seed, int(i), int(i) + 1)[0].as_py() for i in idx]


# -- verification ----------------------------------------------------------------------
def sample_rows(n_rows: int, sample: int, seed: int) -> list[int]:
    """Up to `sample` row indexes to check: the first, the last, and seeded ones between."""
    if n_rows <= 0 or sample <= 0:
        return []
    ends = sorted({0, n_rows - 1})
    inner = n_rows - len(ends)
    k = min(max(sample - len(ends), 0), inner)
    rng = np.random.default_rng([seed, 0x76657269])  # "veri"
    mid = (rng.choice(inner, size=k, replace=False) + 1).tolist() if k else []
    return sorted(ends + mid)


def expected_row(spec: WorkloadSpec, table: Table, seed: int, i: int) -> Row:
    return generate_batch(spec, table, seed, i, i + 1).to_pylist()[0]


def compare_row(expected: Row, got: Row | None, where: str) -> list[str]:
    """Problems (empty when equal): every column, value and Python type."""
    if got is None:
        return [f"{where}: row is missing"]
    problems = []
    for col, want in expected.items():
        have = got.get(col, _MISSING)
        if have is _MISSING:
            problems.append(f"{where}: column {col} is missing")
        elif type(have) is not type(want) and not (
            isinstance(have, datetime) and isinstance(want, datetime)
        ):
            problems.append(
                f"{where}: column {col} is {type(have).__name__} {have!r}, expected "
                f"{type(want).__name__} {want!r}"
            )
        elif have != want:
            problems.append(f"{where}: column {col} is {have!r}, expected {want!r}")
    extra = set(got) - set(expected)
    if extra:
        problems.append(f"{where}: unexpected columns {sorted(extra)}")
    return problems


_MISSING = object()


def meta_problems(
    spec: WorkloadSpec, t: Table, m: TableMeta | None, scale: float, seed: int
) -> list[str]:
    if m is None:
        return ["not loaded (no featbench record of this table)"]
    fp = table_fingerprint(spec, t)
    out = []
    if not m.same_data(fp, scale, seed):
        out.append(f"loaded with {m.differences(fp, scale, seed)}")
    if not m.complete:
        out.append("load did not finish")
    return out


def table_check(
    spec: WorkloadSpec,
    t: Table,
    m: TableMeta | None,
    scale: float,
    seed: int,
    counted: int | None,
    fetch_rows: Callable[[list[Key]], list[Row | None]],
    sample: int,
) -> TableCheck:
    """One table's check: meta record, row count (when counted), sampled rows equal the generator's."""
    problems = meta_problems(spec, t, m, scale, seed)
    n = scaled_rows(t, scale)
    if counted is not None and counted != n:
        problems.append(f"holds {counted:,} rows, expected {n:,}")
    idx = sample_rows(n, sample, seed)
    if idx and m is not None:
        keys = keys_at(spec, t, seed, idx)
        got = fetch_rows(keys)
        for i, k, row in zip(idx, keys, got, strict=True):
            problems += compare_row(
                expected_row(spec, t, seed, i), row, f"row {i} (key {str(k)[:12]})"
            )
    return TableCheck(t.table_name, ok=not problems, problems=problems[:20], rows=counted)


def table_checks(
    spec: WorkloadSpec,
    metas: dict[str, TableMeta | None],
    scale: float,
    seed: int,
    counts: dict[str, int],
    rows_of: Callable[[Table, list[Key]], list[Row | None]],
    sample: int,
    missing: Callable[[Table], str | None] = lambda t: None,
) -> list[TableCheck]:
    """`table_check` of every table of the spec; a table the store lacks altogether
    (`missing` says what is missing) fails with that alone."""
    checks = []
    for t in spec.tables:
        gone = missing(t)
        if gone is not None:
            checks.append(TableCheck(t.table_name, False, [gone], None))
            continue
        checks.append(
            table_check(
                spec,
                t,
                metas[t.table_name],
                scale,
                seed,
                counts.get(t.table_name),
                lambda keys, t=t: rows_of(t, keys),
                sample,
            )  # fmt: skip
        )
    return checks


# -- the part of the store protocol Redis and DynamoDB share ----------------------------
class KeyValueSession:
    """What a key-value session answers the same way in every such store."""

    io_sampling = False  # no per-request I/O accounting (no EXPLAIN BUFFERS)
    store_name = "this store"

    def explain(self, keys: RequestKeys) -> Any:
        raise FeatbenchError(f"{self.store_name} has no per-request I/O accounting (EXPLAIN)")

    def flush_stats(self) -> None:
        return None  # no server statistics to publish

    def recover(self) -> None:
        return None  # the client reconnects by itself on the next request

    def native_plan(self, entities: Sequence[str]) -> None:
        return None  # the timed path is the store's Python client (`execute`)


class KeyValueBackend:
    """The load skeleton and the capabilities Redis and DynamoDB share.

    A subclass provides the store's side of loading (`_begin_load`, `_clear_table`,
    `_create_table_for`, `_row_writer`, `_open_writer`, `_absorb`, `_table_loaded`,
    `_load_error`, `_loaded_bytes`) and its meta records (`_metas`, `_put_meta`); the
    order of a load — meta records before any table or row, so `drop` always finds what a
    load created — is decided here once, for a load on this machine's threads and one
    whose chunks run as Spark tasks alike.

    Load state is the meta record of each table: "incomplete" from before its first row
    until all its chunks are written, when the driver completes it. A load that stopped
    (or a Spark job that failed) leaves the table incomplete and the next load writes it
    again; rewriting an item stores the same value under the same key, so chunks that
    were already written cost writes, never duplicate rows.
    """

    kind: str
    store_name: str
    strategies: tuple[str, ...]
    target: Any
    namespace: str
    layout: str
    chunk_rows: int
    progress: bool | None
    default_streams = 2

    # -- the store's side (overridden) ----------------------------------------------------
    @property
    def where(self) -> str:
        raise NotImplementedError

    def _metas(self, spec: WorkloadSpec) -> dict[str, TableMeta | None]:
        raise NotImplementedError

    def _put_meta(self, m: TableMeta) -> None:
        raise NotImplementedError

    def _begin_load(self, spec: WorkloadSpec, force: bool) -> None:
        raise NotImplementedError

    def _clear_table(self, spec: WorkloadSpec, t: Table) -> None:
        raise NotImplementedError

    def _create_table_for(self, spec: WorkloadSpec, t: Table) -> None:
        return None  # stores whose rows need no table of their own

    def _row_writer(self) -> RowWriter:
        """The store's chunk-loading function (picklable, for Spark tasks)."""
        raise NotImplementedError

    def _open_writer(self, streams: int) -> Any:
        """The client this process's load threads write with (and baselines taken before)."""
        raise NotImplementedError

    def _absorb(self, t: Table, written: Written) -> None:
        """Keep what a chunk's writer measured (item sizes, retries); called under a lock."""

    def _table_loaded(
        self, spec: WorkloadSpec, t: Table, meta: TableMeta, scale: float, seed: int
    ) -> None:
        """Record the table's measurements (item sizes, memory per row) in its meta record."""

    def _load_error(self, e: Exception, spec: WorkloadSpec, scale: float) -> Exception | None:
        """The one-line error for a store error during the load (None: not the store's)."""
        return None

    def _loaded_bytes(
        self, spec: WorkloadSpec, loaded: list[Table], metas: dict[str, TableMeta], rows: int,
        scale: float,
    ) -> int:  # fmt: skip
        raise NotImplementedError

    def verify(
        self, spec: WorkloadSpec, scale: float, seed: int, *, sample: int = 20, count: bool = True
    ) -> list[TableCheck]:
        raise NotImplementedError

    # -- loading ------------------------------------------------------------------------------
    def load(
        self,
        spec: WorkloadSpec,
        scale: float,
        seed: int,
        *,
        streams: int | None = None,
        force: bool = False,
        executor: RowExecutor | None = None,
    ) -> Any:
        """Load the data set; `executor`: run the chunks there (Spark tasks) instead of on
        `streams` threads of this process."""
        from featbench.backends.base import LoadReport
        from featbench.spec import check_scale

        check_scale(scale)
        streams = self.default_streams if streams is None else streams
        self._begin_load(spec, force)
        plan = plan_load(spec, scale, seed, self._metas(spec), force=force, where=self.where)
        for t in plan.clear:
            self._clear_table(spec, t)
        # Meta records first: a table featbench creates is always named in one, so `drop`
        # finds it even if the load stops right after creating it.
        metas = {t.table_name: new_meta(spec, t, self.layout, scale, seed) for t in plan.load}
        for m in metas.values():
            self._put_meta(m)
        for t in plan.load:
            self._create_table_for(spec, t)
        writer = self._row_writer()
        lock = threading.Lock()

        def absorb(t: Table, w: Written) -> int:
            with lock:  # load threads finish chunks concurrently
                self._absorb(t, w)
            return w.rows

        def table_done(t: Table) -> None:
            m = metas[t.table_name]
            self._table_loaded(spec, t, m, scale, seed)
            m.complete = True
            self._put_meta(m)

        client = self._open_writer(executor.streams if executor is not None else streams)
        try:
            if executor is not None:
                rows, secs = self._run_elsewhere(spec, plan.load, scale, seed, executor, writer)
                for t in plan.load:  # every chunk is in: the job raised otherwise
                    table_done(t)
            else:
                rows, secs = run_load(
                    spec, plan.load, scale, seed, streams=streams, chunk_rows=self.chunk_rows,
                    write_chunk=lambda t, batch: absorb(t, writer.write(client, spec, t, batch)),
                    on_table_done=table_done, label=f"load {self.kind} {self.namespace}",
                    progress=self.progress,
                )  # fmt: skip
        except Exception as e:
            mapped = self._load_error(e, spec, scale)
            if mapped is None:
                raise
            raise mapped from None
        finally:
            writer.close(client)
        size = self._loaded_bytes(spec, plan.load, metas, rows, scale)
        # every table of the data set, the skipped ones too: a re-load that found all of
        # them loaded still says what it checked (never "all 0 tables OK")
        checks = self.verify(spec, scale, seed, sample=5, count=False)
        return LoadReport(len(plan.load), len(plan.skip), rows, size, secs, checks)

    def _run_elsewhere(
        self, spec: WorkloadSpec, tables: list[Table], scale: float, seed: int,
        executor: RowExecutor, writer: RowWriter,
    ) -> tuple[int, float]:  # fmt: skip
        """Every chunk of `tables` through `executor`; (rows, seconds) as `run_load`'s."""
        by_name = {t.table_name: t for t in tables}
        sizes = [(t.table_name, scaled_rows(t, scale)) for t in tables]
        t0 = time.perf_counter()
        done = executor.run_rows(spec, seed, sizes, self.chunk_rows, writer)
        secs = time.perf_counter() - t0
        rows = 0
        for name, w in done:
            self._absorb(by_name[name], w)
            rows += w.rows
        return rows, secs

    # -- capabilities a key-value store answers the same way -----------------------------------
    @property
    def redacted(self) -> str:
        return str(self.target.redacted)

    def _check_strategy(self, strategy: str) -> None:
        if strategy not in self.strategies:
            raise FeatbenchError(
                f"strategy {strategy!r} is not available for {self.store_name}; choose "
                f"{' or '.join(self.strategies)}"
            )

    def fetch(self, spec: WorkloadSpec, keys: RequestKeys) -> dict[str, Row | None]:
        raise NotImplementedError

    def fetch_all(self, spec: WorkloadSpec, keys: RequestKeys) -> dict[str, list[Row]]:
        """A key-value store holds one record per key and table: `fetch`'s, as a list."""
        return {t: [] if r is None else [r] for t, r in self.fetch(spec, keys).items()}

    def counters(self, spec: WorkloadSpec) -> dict[str, int] | None:
        return None  # no buffer cache: nothing to count hits and reads of

    def check_capacity(
        self, spec: WorkloadSpec, strategies: Sequence[str], concurrency: int
    ) -> None:
        return None  # no connection limit featbench can read

    def reset_stats(self) -> str | None:
        return f"--stats-reset: {self.store_name} has no statistics featbench reads; nothing reset"

    def result_tables(self) -> None:
        return None  # results are kept in the run directory only

    def loaded_dataset(self, spec: WorkloadSpec) -> tuple[float, int] | None:
        """The scale and seed in featbench's meta records, when every table of the spec was
        loaded (completely, from the same definition) with the same ones."""
        return loaded_dataset(spec, self._metas(spec))

    def cache_fit(self, spec: WorkloadSpec, **_: Any) -> None:
        return None  # no buffer cache to compare the data with

    def free_space(self) -> None:
        return None  # memory or a service, not a disk featbench can see

    def os_cache_eviction(self, spec: WorkloadSpec, requested: bool | None) -> None:
        return None  # keeps no files featbench can reach
