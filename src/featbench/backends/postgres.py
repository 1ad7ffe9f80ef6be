"""PostgreSQL / Lakebase backend.

Connection, description, loading and verification live here (loading machinery in
`featbench.backends.pgload`); the request side (key sampling, fetch, sessions, counters) lives in
`featbench.backends.pg_requests` and is reached through thin delegations.

`conninfo` may hold a password: it is used to open more connections and is never
printed, logged or saved; messages use `target.redacted`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from featbench.backends import pgconn
from featbench.backends.base import (
    Key,
    LoadReport,
    OsCacheEviction,
    RequestKeys,
    ResultTables,
    Row,
    Session,
    TableCheck,
)
from featbench.backends.pgauth import CommandCredentials
from featbench.errors import ConnectionLost, FeatbenchError, TargetError
from featbench.spec import WorkloadSpec
from featbench.target import Target

DEFAULT_SCHEMA = "featbench"
T = TypeVar("T")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")

# Server settings that change what a feature-serving benchmark measures.
DESCRIBED_SETTINGS = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "max_connections",
    "jit",
    "huge_pages",
    "random_page_cost",
    "effective_io_concurrency",
    "max_parallel_workers_per_gather",
    "synchronous_commit",
    "track_io_timing",
    "debug_io_direct",  # PostgreSQL 16+: relation files bypass the OS page cache
    "wal_level",
    "block_size",
    "server_encoding",
)


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise FeatbenchError(
            f"--schema {schema!r} is not a plain identifier: use letters, digits and _ "
            "(at most 63 characters, not starting with a digit)"
        )
    if schema.startswith("pg_") or schema == "information_schema":
        raise FeatbenchError(f"--schema {schema!r} is a system schema: choose another name")
    return schema


class PostgresBackend:
    kind = "postgres"
    strategies = ("serial", "pipeline", "union", "function", "parallel")

    def __init__(
        self,
        target: Target,
        *,
        schema: str = DEFAULT_SCHEMA,
        password_command: str | None = None,
        **options: Any,
    ) -> None:
        self.target = target
        self.schema = check_schema_name(schema)
        self.options = options
        self.embedded = bool(target.embedded)
        self.embedded_settings: dict[str, str] | None = None
        self.embedded_data_dir: Path | None = None
        # what Databricks said about a lakebase:// instance (no token), else None
        self.lakebase: dict[str, Any] | None = None
        self.login = "static (URL, PGPASSWORD or ~/.pgpass)"
        if password_command is not None and (target.embedded or target.scheme == "lakebase"):
            raise TargetError(
                "--password-command applies to postgresql:// targets only (a lakebase:// "
                "target gets its tokens from Databricks)"
            )
        if target.embedded:
            from featbench.backends import embedded

            srv = embedded.start()
            self.conninfo: pgconn.Conninfo = srv.uri
            self.embedded_settings = srv.settings
            self.embedded_data_dir = srv.pgdata
        elif target.scheme == "lakebase":
            from featbench.backends import lakebase

            self.conninfo, self.lakebase = lakebase.resolve(target)
            self.login = "Lakebase OAuth token (generated for the Databricks identity)"
        elif password_command is not None:
            self.conninfo = pgconn.PgEndpoint(
                pgconn.with_tls_default(target.url),
                target.redacted,
                CommandCredentials(password_command),
            )
            self.login = "--password-command"
        else:
            self.conninfo = pgconn.with_tls_default(target.url)
        self.conn: psycopg.Connection[Any] = pgconn.connect(self.conninfo, redacted=self.redacted)

    # -- identity ------------------------------------------------------------------
    @property
    def redacted(self) -> str:
        return "embedded" if self.embedded else self.target.redacted

    @property
    def namespace(self) -> str:
        return self.schema

    def __repr__(self) -> str:
        return f"PostgresBackend({self.redacted!r}, schema={self.schema!r})"

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A new connection to the same server (for workers); errors are one-line TargetErrors."""
        return pgconn.connect(self.conninfo, redacted=self.redacted, **kwargs)

    def side(self) -> psycopg.Connection[Any]:
        """The backend's own connection (counters, result rows), reopened if it broke
        (a terminated backend, a restarted server); ConnectionLost if it cannot be yet."""
        if self.conn.closed or self.conn.broken:
            try:
                self.conn = self.connect()
            except TargetError as e:
                raise ConnectionLost(str(e)) from None
        return self.conn

    def on_side(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`fn(connection)` on the side connection; a connection that breaks meanwhile is
        a ConnectionLost (the next call reconnects: runner/reconnect.py retries)."""
        conn = self.side()
        try:
            return fn(conn)
        except psycopg.OperationalError as e:
            if not (conn.closed or conn.broken):
                raise
            msg = " ".join(str(e).split()) or type(e).__name__
            raise ConnectionLost(f"lost the connection to {self.redacted}: {msg}") from None

    def describe(self) -> dict[str, Any]:
        """Server version and the settings that matter to the benchmark (no secrets)."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT current_setting('server_version'), current_setting('server_version_num')::int,"
                " version(), current_database(), current_user"
            )
            version, version_num, full, db, user = cur.fetchone()  # type: ignore[misc]
            cur.execute(
                "SELECT name, setting, unit, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                (list(DESCRIBED_SETTINGS),),
            )
            settings = {name: pretty for name, _raw, _unit, pretty in cur.fetchall()}
            cur.execute("SELECT pg_database_size(current_database())")
            db_bytes = cur.fetchone()[0]  # type: ignore[index]
        return {
            "backend": "postgres",
            "target": self.redacted,
            "embedded": self.embedded,
            "server_version": version,
            "server_version_num": version_num,
            "version_string": full,
            "database": db,
            "user": user,
            "schema": self.schema,
            "database_bytes": db_bytes,
            "settings": {k: settings.get(k) for k in DESCRIBED_SETTINGS},
            # what featbench set on the embedded server (None for a server it does not manage)
            "featbench_settings": self.embedded_settings,
            "login": self.login,  # where the password comes from (never the password)
            "tls": pgconn.tls_in_use(self.conn),
            "lakebase": self.lakebase,
            # the capacity `cost --run` prices Lakebase compute at (report.costing)
            "lakebase_capacity_cu": (self.lakebase or {}).get("capacity_cu"),
        }

    # -- loading and verification ---------------------------------------------------
    def load(
        self,
        spec: WorkloadSpec,
        scale: float,
        seed: int,
        *,
        streams: int,
        force: bool = False,
        **options: Any,
    ) -> LoadReport:
        """Load the generated data set (or files from `featbench generate`), then verify it.

        `options` are the PostgreSQL loader's own (`from_dir`, `progress`, `chunk_rows`,
        `verify_sample`, `copy_format`, `build_keys`, `verify`: see
        `featbench.backends.pgload.loader.load`, which also describes the schema's
        bookkeeping — ownership, resume, the concurrent-load lock). Returns a `PgLoadReport`.
        """
        from featbench.backends.pgload.loader import load

        if options.get("from_dir") is not None:
            options["from_dir"] = Path(options["from_dir"])
        return load(self, spec, scale, seed, streams=streams, force=force, **options)

    def verify(
        self, spec: WorkloadSpec, scale: float, seed: int, *, sample: int = 20
    ) -> list[TableCheck]:
        from featbench.backends.pgload.verify import verify

        return verify(self.conn, self.schema, spec, scale, seed, sample=sample)

    def check_tables(self, spec: WorkloadSpec) -> None:
        """Raise FeatbenchError naming the first spec table (or key column) the target lacks;
        tables described elsewhere (`schema_name`, `key_column`) are checked where they are."""
        from featbench.backends import pg_requests

        pg_requests.check_tables(self.conn, self.schema, spec, redacted=self.redacted)

    # -- request side (featbench.backends.pg_requests) -----------------------------
    def sample_keys(self, spec: WorkloadSpec, entity: str, n: int, seed: int) -> list[Key]:
        from featbench.backends import pg_requests

        return pg_requests.sample_keys(self.conn, self.schema, spec, entity, n, seed)

    def fetch(self, spec: WorkloadSpec, keys: RequestKeys) -> dict[str, Row | None]:
        from featbench.backends import pg_requests

        return pg_requests.fetch_rows(self.conn, self.schema, spec, keys)

    def fetch_all(self, spec: WorkloadSpec, keys: RequestKeys) -> dict[str, list[Row]]:
        from featbench.backends import pg_requests

        return pg_requests.fetch_all_rows(self.conn, self.schema, spec, keys)

    def session(self, spec: WorkloadSpec, strategy: str) -> Session:
        from featbench.backends import pg_requests

        return pg_requests.open_session(self.conninfo, self.schema, spec, strategy)

    def session_factory(self, spec: WorkloadSpec, strategy: str) -> Any:
        """A picklable factory opening sessions like `session()`, in any process."""
        from featbench.backends import pg_requests

        return pg_requests.PgSessionFactory(
            self.conninfo, self.schema, spec.model_dump(mode="json"), strategy
        )

    def check_capacity(
        self, spec: WorkloadSpec, strategies: Sequence[str], concurrency: int
    ) -> None:
        """Refuse a concurrency the server cannot admit connections for, and a strategy that
        cannot send the spec's own table queries (union, function)."""
        from featbench.backends import pg_requests
        from featbench.backends.pg_lookup import refuse_own_queries

        for s in strategies:
            refuse_own_queries(spec, s)

        pg_requests.check_capacity(self.conn, spec, strategies, concurrency, redacted=self.redacted)

    def counters(self, spec: WorkloadSpec) -> dict[str, int] | None:
        from featbench.backends import pg_requests

        return self.on_side(lambda c: pg_requests.read_counters(c, self.schema, spec))

    def reset_stats(self) -> str | None:
        from featbench.backends import pg_requests

        return pg_requests.try_reset_stats(self.conn)

    def result_tables(self) -> ResultTables:
        from featbench.backends.pg_results import PgResultTables

        return PgResultTables(self.on_side, self.schema)

    def drop(self) -> list[str]:
        """Drop the tables featbench loaded into the schema (listed in its load state), its
        own bookkeeping tables, and the schema if featbench created it and it is now
        empty; nothing else."""
        from featbench.backends.pgload.state import drop_dataset

        return drop_dataset(self.conn, self.schema)

    def loaded_dataset(self, spec: WorkloadSpec) -> tuple[float, int] | None:
        """The scale and seed in featbench's `_meta` of the schema, when the spec's tables are
        the ones featbench loaded there: the same spec (fingerprint), or every table listed
        as loaded in its load state. Tables elsewhere (`schema_name`) are not featbench's."""
        from featbench.backends.pgload.state import DataSet, read_meta, read_state

        if any(t.schema_name not in (None, self.schema) for t in spec.tables):
            return None
        meta = read_meta(self.conn, self.schema)
        ds = DataSet.from_meta(meta) if meta else None
        if ds is None:
            return None
        if ds.spec_fingerprint != spec.fingerprint():
            state = read_state(self.conn, self.schema)
            done = {n for n, st in state.items() if st.status == "done"}
            if not all(t.table_name in done for t in spec.tables):
                return None
        return ds.scale, ds.seed

    def probe(self, spec: WorkloadSpec, keys_by_entity: dict[str, list[Key]]) -> list[str]:
        """Before timing: each table's lookup binds its key and decodes as the spec says."""
        from featbench.backends import pg_requests

        return pg_requests.probe(self.conn, self.schema, spec, keys_by_entity)

    # -- is cold cold? (featbench.backends.pg_cache) ---------------------------------
    def cache_fit(
        self,
        spec: WorkloadSpec,
        *,
        os_cache_evicted: bool = False,
        n_hot: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        from featbench.backends import pg_cache

        fit = pg_cache.cache_fit(self.conn, self.schema, spec)
        direct = pg_cache.direct_io(self.conn)
        warnings = [fit.warning(self.redacted, os_cache_evicted=os_cache_evicted or direct)]
        doc = {**fit.to_dict(), "direct_io": direct}
        if n_hot is not None:
            hot = pg_cache.hot_set_bytes(n_hot, spec, fit.block_size)
            doc["hot_set_bytes_max"] = hot
            doc["hot_set_fits_shared_buffers"] = hot <= fit.shared_buffers_bytes
            if not fit.fits_shared_buffers:
                warnings.append(
                    pg_cache.hot_set_warning(
                        self.redacted,
                        hot,
                        sum(n_hot.values()),
                        len(spec.tables),
                        fit.shared_buffers_bytes,
                        fixed_sb=self.embedded,
                    )  # fmt: skip
                )
        doc["warnings"] = [w for w in warnings if w]
        return doc

    def free_space(self) -> tuple[int, str] | None:
        """Free bytes of the data directory's disk: the embedded server's, or a server on
        this machine whose data directory featbench can read."""
        import shutil

        from featbench.backends.pg_cache import locate_data_dir

        d = self.embedded_data_dir or locate_data_dir(self.conn)[0]
        if d is None:
            return None
        try:
            return shutil.disk_usage(d).free, f"the server's data directory {d}"
        except OSError:
            return None

    def os_cache_eviction(self, spec: WorkloadSpec, requested: bool | None) -> OsCacheEviction:
        """On by default for the embedded server (featbench runs it and can read its files),
        off otherwise; `requested=True` on a server whose data directory is not readable
        here raises a one-line FeatbenchError."""
        from featbench.backends import pg_cache

        if requested is False:
            return OsCacheEviction(False, "off (--no-evict-os-cache)")
        if requested is None and not self.embedded:
            return OsCacheEviction(
                False,
                "off by default on a server featbench does not run (--evict-os-cache turns it "
                "on where the data directory is readable here)",
            )
        ev, why = pg_cache.open_evictor(self.conn, self.schema, spec, self.embedded_data_dir)
        if ev is None:
            if requested:
                raise pg_cache.eviction_error(self.redacted, why)
            return OsCacheEviction(False, f"not possible: {why}")
        reason = "embedded server (featbench runs it)" if requested is None else "--evict-os-cache"
        method = ev.method
        if pg_cache.direct_io(self.conn):
            method += (
                "; relation files are opened with direct I/O (debug_io_direct=data), so "
                "shared-buffer misses read the disk for the whole ratio"
            )

        def evict() -> dict[str, Any]:
            ev.conn = self.side()  # CHECKPOINT on a live connection, reopened if it broke
            return ev.evict().to_dict()

        return OsCacheEviction(True, reason, method, evict)

    # -- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg.Error:  # closing a broken connection is not an error worth reporting
            pass

    def __enter__(self) -> PostgresBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


__all__ = ["PostgresBackend", "DEFAULT_SCHEMA", "TargetError", "check_schema_name", "qualified"]
