"""Results as SQL: `<schema>.run_results` and `<schema>.run_keys` on a PostgreSQL target.

`PostgresBackend.result_tables()` returns these (the `ResultTables` of the store
protocol); the run's writer sends them each ratio as it ends. The original Lakebase
benchmark kept its results in `zipfian_feature_serving_results` and its keys in
`zipfian_keys_per_run`, so they could be queried next to the data; these are their
successors, in featbench's own schema (default `featbench`), never anywhere else.

    SELECT hot_pct, p50_ms, p99_ms, hit_ratio FROM featbench.run_results
     WHERE run_id = (SELECT max(run_id) FROM featbench.run_results) ORDER BY hot_pct DESC;
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from featbench.backends.base import ResultTables

_DDL = [
    """CREATE TABLE IF NOT EXISTS {s}.run_results (
        run_id text NOT NULL,
        run_ts timestamptz NOT NULL DEFAULT now(),
        target text NOT NULL,
        backend text NOT NULL,
        strategy text NOT NULL,
        distribution text NOT NULL,
        hot_pct double precision NOT NULL,
        requests integer NOT NULL,
        errors integer NOT NULL,
        p50_ms double precision, p95_ms double precision, p99_ms double precision,
        p999_ms double precision, max_ms double precision, mean_ms double precision,
        planned_hot_fraction double precision,
        fully_hot_pct double precision, fully_cold_pct double precision, mixed_pct double precision,
        latency_cache_corr double precision,
        buffer_hits bigint, buffer_reads bigint, hit_ratio double precision,
        blocks_per_request double precision, sampled_requests integer,
        keys_found_pct double precision, rows_per_lookup double precision,
        ratio jsonb NOT NULL,
        PRIMARY KEY (run_id, target, strategy, hot_pct)
    )""",
    # tables created by featbench before keys_found_pct replaced rows_found_pct (the
    # old column stays, null from then on)
    """ALTER TABLE {s}.run_results ADD COLUMN IF NOT EXISTS keys_found_pct double precision,
        ADD COLUMN IF NOT EXISTS rows_per_lookup double precision""",
    """CREATE TABLE IF NOT EXISTS {s}.run_keys (
        run_id text NOT NULL,
        entity text NOT NULL,
        hash_key text NOT NULL,
        is_hot boolean NOT NULL,
        rank integer NOT NULL,
        key_type text,
        PRIMARY KEY (run_id, entity, rank)
    )""",
    # run_keys created before keys carried their type (hash_key: bytea as \x hex)
    "ALTER TABLE {s}.run_keys ADD COLUMN IF NOT EXISTS key_type text",
]


OnConnection = Callable[[Callable[[psycopg.Connection[Any]], Any]], Any]


class PgResultTables(ResultTables):
    """Writes run_results / run_keys through the backend's autocommit side connection.

    `on_conn(fn)` runs `fn(connection)` (PostgresBackend.on_side: the connection is
    reopened when it broke, and a break is a ConnectionLost the runner retries)."""

    def __init__(self, on_conn: OnConnection, schema: str) -> None:
        self.on_conn = on_conn
        self.schema = schema
        s = sql.Identifier(schema)

        def create(conn: psycopg.Connection[Any]) -> None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
            for ddl in _DDL:
                conn.execute(sql.SQL(ddl).format(s=s))

        on_conn(create)

    def write_keys(self, run_id: str, keys: Any) -> None:
        """`keys`: keys.parquet's table (entity, hash_key, is_hot, rank, key_type)."""
        tbl = sql.SQL("{}.run_keys").format(sql.Identifier(self.schema))
        cols = keys.to_pydict()

        def write(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute(sql.SQL("DELETE FROM {} WHERE run_id = %s").format(tbl), (run_id,))
                with conn.cursor().copy(
                    sql.SQL(
                        "COPY {} (run_id, entity, hash_key, is_hot, rank, key_type) FROM STDIN"
                    ).format(tbl)
                ) as cp:
                    types = cols.get("key_type") or [None] * len(cols["entity"])
                    for row in zip(
                        cols["entity"], cols["hash_key"], cols["is_hot"], cols["rank"], types,
                        strict=True,
                    ):  # fmt: skip
                        cp.write_row((run_id, *row))

        self.on_conn(write)

    def write_level(self, run_id: str, section: Any, ratio: dict[str, Any]) -> None:
        lat = ratio["latency_ms"]
        io = ratio["io"]
        values = {
            "run_id": run_id,
            "target": section.target,
            "backend": section.backend,
            "strategy": section.strategy,
            "distribution": section.distribution,
            "hot_pct": float(ratio[section.level_key]),
            "requests": ratio["requests"],
            "errors": ratio["errors"],
            "p50_ms": lat["p50"],
            "p95_ms": lat["p95"],
            "p99_ms": lat["p99"],
            "p999_ms": lat["p999"],
            "max_ms": lat["max"],
            "mean_ms": lat["mean"],
            "planned_hot_fraction": ratio["planned_hot_fraction"],
            "fully_hot_pct": ratio["fully_hot_pct"],
            "fully_cold_pct": ratio["fully_cold_pct"],
            "mixed_pct": ratio["mixed_pct"],
            "latency_cache_corr": ratio["latency_cache_corr"],
            "buffer_hits": io["buffer_hits"],
            "buffer_reads": io["buffer_reads"],
            "hit_ratio": io["hit_ratio"],
            "blocks_per_request": io["blocks_per_request"],
            "sampled_requests": io["sampled_requests"],
            "keys_found_pct": ratio.get("keys_found_pct"),
            "rows_per_lookup": ratio.get("rows_per_lookup"),
            "ratio": Jsonb(ratio),
        }
        cols = list(values)
        q = sql.SQL(
            "INSERT INTO {t} ({c}) VALUES ({v}) ON CONFLICT (run_id, target, strategy, hot_pct) DO UPDATE SET {u}"
        ).format(
            t=sql.SQL("{}.run_results").format(sql.Identifier(self.schema)),
            c=sql.SQL(", ").join(map(sql.Identifier, cols)),
            v=sql.SQL(", ").join(sql.Placeholder(c) for c in cols),
            u=sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                for c in cols
                if c != "run_id"
            ),
        )
        self.on_conn(lambda conn: conn.execute(q, values))
