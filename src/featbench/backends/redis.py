"""Redis backend: one hash per feature row, `<namespace>:<table>:<key>`.

Layout. Each row is a hash whose fields are the table's columns (values as described in
`typing_codec`); the key column lives only in the Redis key. Next to the rows, featbench
keeps `<namespace>:@owner` (marks the namespace as its own), one JSON meta record per
table, `<namespace>:@meta:<table>`, and the set of those tables, `<namespace>:@tables`
('@' cannot occur in a table name). `drop()` removes exactly these and the rows of the
tables they name.

Strategies. `pipeline`: every HGETALL of a request sent in one pipeline
(transaction=False, one round trip). `serial`: one HGETALL per table, one round trip
each, timed per entity.

Memory. Redis holds everything in RAM, so memory per row is what a Redis (ElastiCache)
deployment costs. Two figures are recorded by `load` and shown by `describe()`:
`memory_per_row_bytes` per table, the mean of `MEMORY USAGE <key> SAMPLES 0` over
sampled rows (the key, its hash and the dictionary entry; not disturbed by other
clients of the server), and `used_memory_delta_per_row_bytes`, the change of
`INFO memory` used_memory over the whole load divided by the rows loaded (includes
allocator overhead and hash-table growth; noisy when other clients write meanwhile).

Full server. Loading into a Redis that reaches `maxmemory` stops with a one-line error
(rows already written stay, the table's meta record says "incomplete"). A server that
*evicts* keys instead (an `allkeys-*`/`volatile-*` policy) would silently lose rows, so
evictions during a load are an error too.

Cache counters: none. Redis has no buffer cache to hit or miss (every row is in memory),
so `counters()` is None and the report says so (`counters_note`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.exceptions as rexc

from featbench.backends.base import Key, RequestKeys, RequestResult, Row, TableCheck
from featbench.backends.kvstore import (
    DEFAULT_NAMESPACE,
    KeyValueBackend,
    KeyValueSession,
    TableMeta,
    Written,
    check_loaded,
    check_namespace,
    keys_at,
    request_tables,
    sample_candidates,
    sample_rows,
    table_checks,
)
from featbench.backends.typing_codec import REDIS_DECODERS, redis_column, typed_key
from featbench.errors import FeatbenchError, TargetError
from featbench.spec import Table, WorkloadSpec, scaled_rows
from featbench.target import Target

LAYOUT = "hash-per-row"
_OUR_PARAMS = {"namespace"}
MEMORY_SAMPLES = 20
PIPELINE_ROWS = 1000


class RedisBackend(KeyValueBackend):
    kind = "redis"
    store_name = "Redis"
    layout = LAYOUT
    default_streams = 2
    strategies: tuple[str, ...] = ("pipeline", "serial")
    counters_note = (
        "Redis keeps every row in memory and has no buffer cache, so there are no "
        "hit/read counters to report"
    )

    def __init__(
        self,
        target: Target,
        *,
        namespace: str | None = None,
        schema: str | None = None,
        chunk_rows: int = 5000,
        progress: bool | None = None,
        **_other: Any,  # options meant for other backends (e.g. PostgreSQL's) are ignored
    ) -> None:
        self.target = target
        parts = urlsplit(target.url)
        params = dict(parse_qsl(parts.query))  # also for redis://embedded?namespace=…
        ns = namespace or params.get("namespace") or schema or DEFAULT_NAMESPACE
        self.namespace = check_namespace(ns, "Redis")
        self.chunk_rows = chunk_rows
        self.progress = progress
        self._embedded = None
        if target.embedded:
            from featbench.backends.embedded_redis import embedded_redis

            self._embedded = embedded_redis()
            self._url = None
        else:
            rest = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in _OUR_PARAMS])
            self._url = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
        self.r = self._client()
        self._call(self.r.ping)
        self._last_load: dict[str, Any] = {}

    # -- connections -------------------------------------------------------------------
    def _client(self) -> redis.Redis:
        opts = _CLIENT_OPTIONS
        if self._embedded is not None:
            client = redis.Redis(unix_socket_path=self._embedded.socket_file, **opts)
            self._embedded.track(client.connection_pool)
            return client
        assert self._url is not None
        try:
            return redis.Redis.from_url(self._url, **opts)
        except (ValueError, TypeError) as e:
            raise TargetError(f"bad Redis target {self.target.redacted!r}: {e}") from None

    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        """Run one command, turning driver errors into one-line errors that say what to fix."""
        try:
            return fn(*args, **kw)
        except rexc.AuthenticationError as e:
            raise TargetError(
                f"Redis at {self.target.redacted} rejected the credentials: {e}"
            ) from None
        except (rexc.ConnectionError, rexc.TimeoutError) as e:
            raise TargetError(
                f"cannot reach Redis at {self.target.redacted}: {e}; is the server running "
                "and the URL right (redis://host:port/db)?"
            ) from None
        except rexc.OutOfMemoryError as e:
            raise FeatbenchError(
                f"Redis at {self.target.redacted} is full ({e}); raise maxmemory or free memory"
            ) from None
        except rexc.ResponseError as e:
            raise TargetError(f"Redis at {self.target.redacted} refused a command: {e}") from None

    def _prefix(self, table: Table | str) -> str:
        name = table if isinstance(table, str) else table.table_name
        return f"{self.namespace}:{name}:"

    def _meta_key(self, table: str) -> str:
        return f"{self.namespace}:@meta:{table}"

    @property
    def _owner_key(self) -> str:
        return f"{self.namespace}:@owner"

    @property
    def where(self) -> str:
        return f"Redis namespace {self.namespace!r}"

    # -- meta records ------------------------------------------------------------------
    def _metas(self, spec: WorkloadSpec) -> dict[str, TableMeta | None]:
        names = [t.table_name for t in spec.tables]
        raw = self._call(self.r.mget, [self._meta_key(n) for n in names])
        return {n: (TableMeta.from_json(v) if v else None) for n, v in zip(names, raw, strict=True)}

    @property
    def _tables_key(self) -> str:
        """A set of the table names that have a meta record (no SCAN of the keyspace to list them)."""
        return f"{self.namespace}:@tables"

    def _put_meta(self, m: TableMeta) -> None:
        pipe = self.r.pipeline(transaction=False)  # an OOM reply must surface as itself
        pipe.set(self._meta_key(m.table), m.to_json())
        pipe.sadd(self._tables_key, m.table)
        self._call(pipe.execute)

    def _del_meta(self, table: str) -> int:
        pipe = self.r.pipeline(transaction=False)  # an OOM reply must surface as itself
        pipe.delete(self._meta_key(table))
        pipe.srem(self._tables_key, table)
        return int(self._call(pipe.execute)[0])

    def _all_metas(self) -> list[TableMeta]:
        names = sorted(n.decode() for n in self._call(self.r.smembers, self._tables_key))
        raw = self._call(self.r.mget, [self._meta_key(n) for n in names]) if names else []
        return [TableMeta.from_json(v) for v in raw if v]

    def _delete_matching(self, pattern: str) -> int:
        n = 0
        batch: list[bytes] = []
        for k in self.r.scan_iter(match=pattern, count=2000):
            batch.append(k)
            if len(batch) >= 1000:
                n += self.r.unlink(*batch)
                batch = []
        if batch:
            n += self.r.unlink(*batch)
        return n

    def _info(self, section: str) -> dict[str, Any]:
        try:
            return dict(self.r.info(section))
        except rexc.ResponseError:  # INFO can be renamed/disabled on managed services
            return {}

    # -- describe ----------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        server = self._info("server")
        mem = self._info("memory")
        metas = self._all_metas()
        per_row = {m.table: m.stats.get("memory_per_row_bytes") for m in metas}
        known = [v for v in per_row.values() if v is not None]
        delta = self._last_load.get("used_memory_delta_per_row_bytes")
        if delta is None:
            deltas = [m.stats.get("used_memory_delta_per_row_bytes") for m in metas]
            delta = next((d for d in deltas if d is not None), None)
        return {
            "kind": self.kind,
            "target": self.target.redacted,
            "embedded": self.target.embedded,
            "server": "redis",
            "server_version": server.get("redis_version"),
            "redis_mode": server.get("redis_mode"),
            "namespace": self.namespace,
            "layout": LAYOUT,
            "strategies": list(self.strategies),
            "maxmemory": mem.get("maxmemory"),
            "maxmemory_policy": mem.get("maxmemory_policy"),
            "used_memory": mem.get("used_memory"),
            "tables_loaded": [m.table for m in metas if m.complete],
            "memory_per_row_bytes": per_row,
            "memory_per_row_mean_bytes": (sum(known) / len(known)) if known else None,
            "used_memory_delta_per_row_bytes": delta,
            "cache_counters": None,
            "cache_counters_note": self.counters_note,
        }

    # -- load --------------------------------------------------------------------------
    # -- loading (the skeleton is KeyValueBackend.load) --------------------------------
    def _begin_load(self, spec: WorkloadSpec, force: bool) -> None:
        self._claim_namespace(force)

    def _clear_table(self, spec: WorkloadSpec, t: Table) -> None:
        self._delete_matching(self._prefix(t) + "*")
        self._del_meta(t.table_name)

    def _row_writer(self) -> RedisRows:
        return RedisRows(
            self._url,
            None if self._embedded is None else str(self._embedded.socket_file),
            self.namespace,
        )

    def _open_writer(self, streams: int) -> redis.Redis:
        # memory and evictions before the first row: what the load added, what it lost
        self._used0 = self._info("memory").get("used_memory")
        self._evicted0 = self._info("stats").get("evicted_keys")
        return self._client()

    def _table_loaded(
        self, spec: WorkloadSpec, t: Table, meta: TableMeta, scale: float, seed: int
    ) -> None:
        meta.stats["memory_per_row_bytes"] = self._memory_per_row(spec, t, scale, seed)

    def _load_error(self, e: Exception, spec: WorkloadSpec, scale: float) -> Exception | None:
        if isinstance(e, rexc.OutOfMemoryError):
            return FeatbenchError(self._full_message(spec, scale))
        if isinstance(e, (rexc.ConnectionError, rexc.TimeoutError)):
            return TargetError(
                f"lost Redis at {self.target.redacted} while loading: {e}; rows written so far "
                "are kept, run the load again to finish"
            )
        if isinstance(e, rexc.ResponseError):
            return TargetError(f"Redis at {self.target.redacted} refused a write: {e}")
        return None

    def _loaded_bytes(
        self, spec: WorkloadSpec, loaded: list[Table], metas: dict[str, TableMeta], rows: int,
        scale: float,
    ) -> int:  # fmt: skip
        used1 = self._info("memory").get("used_memory")
        evicted1 = self._info("stats").get("evicted_keys")
        evicted0, used0 = self._evicted0, self._used0
        if evicted0 is not None and evicted1 is not None and evicted1 > evicted0:
            policy = self._info("memory").get("maxmemory_policy", "?")
            raise FeatbenchError(
                f"Redis at {self.target.redacted} evicted {evicted1 - evicted0:,} keys while "
                f"loading (maxmemory-policy {policy}): the data set does not fit, so stored rows "
                "were lost; raise maxmemory, lower --scale, or set maxmemory-policy noeviction"
            )
        delta = (used1 - used0) / rows if rows and used0 is not None and used1 is not None else None
        self._last_load = {"used_memory_delta_per_row_bytes": delta}
        for m in metas.values():  # one figure for the whole load: tables load concurrently
            m.stats["used_memory_delta_per_row_bytes"] = delta
            self._put_meta(m)
        return sum(
            int(
                (metas[t.table_name].stats.get("memory_per_row_bytes") or 0) * scaled_rows(t, scale)
            )
            for t in loaded
        )

    def _claim_namespace(self, force: bool) -> None:
        """Refuse a namespace holding keys featbench did not write, unless forced."""
        if self._call(self.r.exists, self._owner_key):
            return
        foreign = next(iter(self.r.scan_iter(match=f"{self.namespace}:*", count=1000)), None)
        if foreign is not None and not force:
            raise FeatbenchError(
                f"{self.where} already holds keys featbench did not create (e.g. "
                f"{foreign.decode(errors='replace')!r}); choose another namespace "
                "(?namespace=… in the target) or load with --force"
            )
        self._call(self.r.set, self._owner_key, "featbench")

    def _memory_per_row(
        self, spec: WorkloadSpec, t: Table, scale: float, seed: int
    ) -> float | None:
        idx = sample_rows(scaled_rows(t, scale), MEMORY_SAMPLES, seed)
        sizes = []
        try:
            for k in keys_at(spec, t, seed, idx):
                v = self.r.memory_usage(f"{self._prefix(t)}{k}", samples=0)
                if v is not None:
                    sizes.append(int(v))
        except rexc.ResponseError:  # MEMORY USAGE disabled on this server
            return None
        return sum(sizes) / len(sizes) if sizes else None

    def _full_message(self, spec: WorkloadSpec, scale: float) -> str:
        mem = self._info("memory")
        metas = self._metas(spec)
        unfinished = [
            t.table_name for t in spec.tables if not (metas[t.table_name] or _NO).complete
        ]
        return (
            f"Redis at {self.target.redacted} is full (maxmemory {mem.get('maxmemory', '?')} bytes, "
            f"used {mem.get('used_memory', '?')}): rows written so far are kept, "
            f"{len(unfinished)} table(s) are incomplete (first: {unfinished[0] if unfinished else '-'}); "
            "raise maxmemory, lower --scale, or use a bigger node"
        )

    # -- checks ------------------------------------------------------------------------
    def check_tables(self, spec: WorkloadSpec) -> None:
        check_loaded(spec, self._metas(spec), self.where, self.target.redacted)

    def verify(
        self, spec: WorkloadSpec, scale: float, seed: int, *, sample: int = 20, count: bool = True
    ) -> list[TableCheck]:
        """Meta records, row counts (one SCAN of the namespace) and sampled rows vs the generator."""
        counts = self._count_rows(spec) if count else {}
        return table_checks(
            spec, self._metas(spec), scale, seed, counts,
            lambda t, keys: self._get_rows(spec, t, keys), sample,
        )  # fmt: skip

    def _count_rows(self, spec: WorkloadSpec) -> dict[str, int]:
        counts = {t.table_name: 0 for t in spec.tables}
        for k in self.r.scan_iter(match=f"{self.namespace}:*", count=5000):
            parts = k.split(b":", 2)
            if len(parts) == 3:
                name = parts[1].decode(errors="replace")
                if name in counts:
                    counts[name] += 1
        return counts

    def _get_rows(self, spec: WorkloadSpec, t: Table, keys: list[Key]) -> list[Row | None]:
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.hgetall(f"{self._prefix(t)}{k}")
        return [
            self._decode(spec, t, k, h) for k, h in zip(keys, self._call(pipe.execute), strict=True)
        ]

    def _decode(self, spec: WorkloadSpec, t: Table, key: Key, h: dict[bytes, bytes]) -> Row | None:
        if not h:
            return None
        row: Row = {spec.key_column_of(t): typed_key(key, spec.entity(t.entity).key_type)}
        for c in t.columns:
            v = h.get(c.name.encode())
            row[c.name] = None if v is None else REDIS_DECODERS[c.type](v)
        return row

    # -- keys and rows -----------------------------------------------------------------
    def sample_keys(self, spec: WorkloadSpec, entity: str, n: int, seed: int) -> list[Key]:
        """n distinct keys of the entity, the same for the same seed on any server holding the data.

        Row indexes are drawn with a seeded generator over the union of the entity's
        tables (see `kvstore.sample_candidates`) using the scale and data seed the
        tables were loaded with (from their meta records), then every key is confirmed
        with EXISTS and any the server lacks is dropped. Why not SCAN: its order
        depends on the server's hash-table state (rehashing, restarts), so the same
        seed would not give the same keys on another server, and it would cost a pass
        over the keyspace; this costs one pipelined EXISTS per key.
        """
        spec.entity(entity)
        sub = spec.model_copy(update={"tables": spec.tables_for(entity)})
        metas = self._metas(sub)
        check_loaded(sub, metas, self.where, self.target.redacted)
        m = next(iter(metas.values()))
        assert m is not None
        cands = sample_candidates(spec, entity, n, seed, m.seed, m.scale)
        pipe = self.r.pipeline(transaction=False)
        for t, k in cands:
            pipe.exists(f"{self._prefix(t)}{k}")
        present = self._call(pipe.execute) if cands else []
        return [k for (_, k), ok in zip(cands, present, strict=True) if ok]

    def fetch(self, spec: WorkloadSpec, keys: RequestKeys) -> dict[str, Row | None]:
        plan = request_tables(spec, keys)
        pipe = self.r.pipeline(transaction=False)
        order: list[tuple[Table, Key]] = []
        for _, key, tables in plan:
            for t in tables:
                pipe.hgetall(f"{self._prefix(t)}{key}")
                order.append((t, key))
        res = self._call(pipe.execute)
        return {
            t.table_name: self._decode(spec, t, k, h) for (t, k), h in zip(order, res, strict=True)
        }

    def session(self, spec: WorkloadSpec, strategy: str) -> RedisSession:
        self._check_strategy(strategy)
        return RedisSession(self._client(), spec, strategy, self.namespace)

    def session_factory(self, spec: WorkloadSpec, strategy: str) -> RedisSessionFactory:
        """A picklable factory opening sessions like `session()`, in any process."""
        self._check_strategy(strategy)
        return RedisSessionFactory(
            self._url,
            None if self._embedded is None else str(self._embedded.socket_file),
            spec.model_dump(mode="json"),
            strategy,
            self.namespace,
        )

    def probe(self, spec: WorkloadSpec, keys_by_entity: dict[str, list[Key]]) -> list[str]:
        """Before timing: the first stored row of each table found among sampled keys
        decodes, field by field, as the spec's types (ProbeError naming the column if not)."""
        from featbench.backends.probe import ProbeError, decode_problem, first_keys

        for t in spec.tables:
            keys = first_keys(keys_by_entity, t.entity)
            if not keys:
                continue
            pipe = self.r.pipeline(transaction=False)
            for k in keys:
                pipe.hgetall(f"{self._prefix(t)}{k}")
            found = next((h for h in self._call(pipe.execute) if h), None)
            if found:
                raw = {f.decode(errors="replace"): v for f, v in found.items()}
                problem = decode_problem(
                    t, raw, REDIS_DECODERS, where=f"{self.where} {t.table_name}"
                )
                if problem:
                    raise ProbeError(problem)
        return []

    def drop(self) -> list[str]:
        """Delete what featbench loaded in the namespace; returns the tables whose rows went.

        Only the rows of tables named in featbench's meta records, the records and the
        owner mark: other keys that share the prefix are left alone.
        """
        gone = []
        for m in self._all_metas():
            self._delete_matching(self._prefix(m.table) + "*")
            self._del_meta(m.table)
            gone.append(m.table)
        self.r.delete(self._owner_key)
        return gone

    def close(self) -> None:
        self.r.close()


_NO = TableMeta("", "", "", "", 0.0, 0, 0, False, "")
_CLIENT_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 60}


def _connect(url: str | None, socket_file: str | None) -> redis.Redis:
    """A client in any process: the embedded server's socket, else the URL."""
    if socket_file is not None:
        return redis.Redis(unix_socket_path=socket_file, **_CLIENT_OPTIONS)
    assert url is not None
    return redis.Redis.from_url(url, **_CLIENT_OPTIONS)


@dataclass(frozen=True)
class RedisRows:
    """Redis's chunk-loading function (`kvstore.RowWriter`): one HSET per row, pipelined
    PIPELINE_ROWS at a time. `url` may hold a password: not shown."""

    url: str | None = field(repr=False)
    socket_file: str | None
    namespace: str

    def open(self) -> redis.Redis:
        return _connect(self.url, self.socket_file)

    def close(self, client: redis.Redis) -> None:
        client.close()

    def write(self, client: redis.Redis, spec: WorkloadSpec, t: Table, batch: Any) -> Written:
        cols = [redis_column(batch.column(i + 1), c.type, c.name) for i, c in enumerate(t.columns)]
        names = [c.name.encode() for c in t.columns]
        prefix = f"{self.namespace}:{t.table_name}:"
        pipe = client.pipeline(transaction=False)
        for i, (key, *vals) in enumerate(zip(batch.column(0).to_pylist(), *cols, strict=True)):
            args: list[Any] = []
            for f, v in zip(names, vals, strict=True):
                args += (f, v)
            pipe.execute_command("HSET", f"{prefix}{key}", *args)
            if (i + 1) % PIPELINE_ROWS == 0:
                pipe.execute()
        pipe.execute()
        return Written(batch.num_rows)


@dataclass(frozen=True)
class RedisSessionFactory:
    """Opens a Redis session in any process (a worker). `url` may hold a password: not shown."""

    url: str | None = field(repr=False)
    socket_file: str | None
    spec_json: dict[str, Any] = field(repr=False)
    strategy: str
    namespace: str

    def __call__(self) -> RedisSession:
        client = _connect(self.url, self.socket_file)
        try:
            return RedisSession(
                client, WorkloadSpec.model_validate(self.spec_json), self.strategy, self.namespace
            )
        except (rexc.ConnectionError, rexc.TimeoutError) as e:
            raise FeatbenchError(f"cannot open a Redis session: {e}") from None


class RedisSession(KeyValueSession):
    """One connection; `execute` sends HGETALLs and counts non-empty hashes (no decoding).

    The timed path talks to the connection directly (pack, send, read) rather than
    through `Redis.execute_command`/`Pipeline`: the same bytes on the wire, but without
    the pool checkout, command lookup and response-callback work per command (about
    20 us each on a 2-core machine), which is harness cost, not store latency.
    """

    store_name = "Redis"

    def __init__(
        self, client: redis.Redis, spec: WorkloadSpec, strategy: str, namespace: str
    ) -> None:
        self.strategy = strategy
        self.stats: dict[str, int] = {"errors": 0}
        self._r = client
        self._pool = client.connection_pool
        try:
            self._conn = self._pool.get_connection()
        except TypeError:  # redis-py < 5 wants a command name
            self._conn = self._pool.get_connection("HGETALL")
        self._prefixes = {
            e: [f"{namespace}:{t.table_name}:" for t in spec.tables_for(e)]
            for e in spec.entity_names
        }

    def _prefixes_of(self, entity: str) -> list[str]:
        try:
            return self._prefixes[entity]
        except KeyError:
            raise FeatbenchError(
                f"unknown entity {entity!r} in the request; the spec has {', '.join(self._prefixes)}"
            ) from None

    def execute(self, keys: RequestKeys) -> RequestResult:
        looked_up = sum(len(self._prefixes_of(e)) for e in keys)
        conn = self._conn
        try:
            if self.strategy == "pipeline":
                cmds = [("HGETALL", f"{p}{k}") for e, k in keys.items() for p in self._prefixes[e]]
                conn.send_packed_command(conn.pack_commands(cmds))
                found = 0
                for _ in cmds:
                    if conn.read_response():
                        found += 1
                return RequestResult(found, looked_up, keys_found=found)
            found = 0
            entity_ns: dict[str, int] = {}
            send, read = conn.send_command, conn.read_response
            for e, k in keys.items():
                t0 = time.perf_counter_ns()
                for p in self._prefixes[e]:
                    send("HGETALL", f"{p}{k}")
                    if read():
                        found += 1
                entity_ns[e] = time.perf_counter_ns() - t0
            return RequestResult(found, looked_up, entity_ns=entity_ns, keys_found=found)
        except rexc.RedisError as e:
            # Counted as a failed request. Replies may be left unread, so drop the
            # connection; the next request reconnects.
            self.stats["errors"] += 1
            conn.disconnect()
            return RequestResult(0, looked_up, error=f"{type(e).__name__}: {e}", keys_found=0)

    def recover(self) -> None:
        """After a failed request (which dropped the connection): connect again now, so a
        server that is down or restarting (`LOADING`) is waited for by the run's reconnect
        policy rather than failing every request that follows."""
        conn = self._conn
        try:
            if getattr(conn, "_sock", None) is None:
                conn.connect()
            conn.send_command("PING")
            conn.read_response()
        except rexc.RedisError as e:
            conn.disconnect()
            raise FeatbenchError(f"cannot reach Redis: {type(e).__name__}: {e}") from None

    def close(self) -> None:
        try:
            self._pool.release(self._conn)
        finally:
            self._r.close()
