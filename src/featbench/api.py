"""featbench as a library: what the commands do, callable from a script or a notebook.

Each function checks its input, does the work and returns the result; printing it is
`featbench.report`'s job and the command line's (`featbench.cli`) only other one::

    from featbench import api
    from featbench.runner.config import RunConfig

    run = api.run(["postgresql://me@localhost/test"], RunConfig.from_options(requests=500))
    run.sections[0].levels[0]["latency_ms"]["p99"]
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from featbench.backends.base import Backend, LoadReport, TableCheck, open_backend
from featbench.dataset import recorded, resolve_loaded
from featbench.errors import FeatbenchError
from featbench.report.load_text import checks_doc, load_report_doc
from featbench.results.reader import Run, RunDirError, read_run
from featbench.runner.config import RunConfig
from featbench.spec import WorkloadSpec, check_scale, load_spec
from featbench.target import parse_target

DEFAULT_SCALE = 1.0
DEFAULT_SEED = 42


def _spec(spec: WorkloadSpec | str | None) -> WorkloadSpec:
    return spec if isinstance(spec, WorkloadSpec) else load_spec(spec)


@contextmanager
def open_targets(
    urls: Sequence[str], *, schema: str = "featbench", password_command: str | None = None
) -> Iterator[list[Backend]]:
    """The targets' backends, closed on leaving however it is left. `password_command`:
    the PostgreSQL targets' password comes from that shell command (see backends/pgauth)."""
    backends: list[Backend] = []
    try:
        for u in urls:
            t = parse_target(u)
            if password_command is not None and t.kind != "postgres":
                raise FeatbenchError(
                    f"--password-command applies to PostgreSQL targets, not {t.redacted}"
                )
            opts = {"password_command": password_command} if password_command is not None else {}
            backends.append(open_backend(t, schema=schema, **opts))
        yield backends
    finally:
        for b in backends:
            b.close()


# -- spec ------------------------------------------------------------------------------
def spec_summary(spec: WorkloadSpec | str | None, scale: float) -> dict[str, Any]:
    """Every table of a spec with its columns, rows at `scale` and estimated size; totals."""
    from featbench.spec import scaled_rows

    s = _spec(spec)
    check_scale(scale)
    tables = []
    for t in s.tables:
        n = scaled_rows(t, scale)
        rb = s.row_bytes(t)
        tables.append(
            {
                "table": t.table_name,
                "entity": t.entity,
                "family": t.family,
                "window": t.window,
                "columns": [
                    {"name": c.name, "type": c.type, "gen": c.generator} for c in t.columns
                ],
                "rows": n,
                "row_bytes": rb,
                "bytes": n * rb,
            }
        )
    return {
        "spec": s.name,
        "fingerprint": s.fingerprint(),
        "scale": scale,
        "entities": [e.model_dump() for e in s.entities],
        "tables": tables,
        "total_rows": sum(r["rows"] for r in tables),
        "total_bytes": sum(r["bytes"] for r in tables),
    }


# -- run -------------------------------------------------------------------------------
def run(
    targets: Sequence[str],
    config: RunConfig,
    *,
    spec: WorkloadSpec | str | None = None,
    schema: str = "featbench",
    out: Path = Path("results"),
    run_id: str | None = None,
    overwrite: bool = False,
    keys_from: Path | None = None,
    live: bool = False,
    password_command: str | None = None,
    engine: str = "local",
    clients: int | None = None,
    spark_master: str | None = None,
    spark_parts: str | None = None,
) -> Run:
    """Run the benchmark against `targets` and return the run as `results.reader` reads it.

    Everything that can be checked before connecting is checked first (the config, the
    spec, --keys-from); the data's scale comes from what featbench recorded in the
    targets when it loaded them (`featbench.dataset`). `live`: a status line and a line
    per level on the terminal; warnings are shown as they come either way.
    `engine="spark"`: `clients` Spark tasks drive shares of the plan (`featbench.spark.run`),
    writing their records under `spark_parts` (a directory every executor and the driver
    share; default a temporary one, which only a local master can use).
    """
    from featbench.report.live import LiveDisplay
    from featbench.runner.benchmark import run_benchmark

    if not targets:
        raise FeatbenchError("give at least one --target")
    s = _spec(spec)
    check_engine(engine, spark_master, None)
    if engine != "spark" and (clients is not None or spark_parts is not None):
        raise FeatbenchError("--clients and --spark-parts go with --engine spark")
    spark_driver: dict[str, Any] = {}
    if engine == "spark":
        if config.concurrency != 1:
            raise FeatbenchError("with --engine spark give the number of clients as --clients")
        config.concurrency = clients if clients is not None else 2
        config.validate()
        spark_driver = _spark_driver(config, spark_master, spark_parts)
    config.validate()
    if keys_from is not None:
        try:
            read_run(keys_from)
        except RunDirError as e:
            raise FeatbenchError(f"--keys-from: {e}") from None
    with open_targets(targets, schema=schema, password_command=password_command) as backends:
        given = config.scale if config.scale_source == "given" else None
        data = resolve_loaded(backends, s, scale=given)
        config.scale, config.data_seed, config.scale_source = data.scale, data.seed, data.source
        n_sections = sum(len(config.strategies_for(b.kind)) for b in backends)
        # drawn by its own process: the measuring process only writes counters
        display = LiveDisplay(
            len(config.levels),
            n_sections,
            interactive=live and sys.stderr.isatty(),
            level_lines=live,
        )
        try:
            outcome = run_benchmark(
                backends,
                s,
                config,
                out=out,
                run_id=run_id,
                overwrite=overwrite,
                keys_from=keys_from,
                listeners=[display],
                live=display.counters,
                timeseries_show=display.line
                if live and (config.rate is not None or config.concurrency > 1)
                else None,
                **spark_driver,
            )
        finally:
            display.stop()
    return read_run(outcome.path, summary=outcome.summary)


def _spark_driver(config: RunConfig, master: str | None, parts: str | None) -> dict[str, Any]:
    """run_benchmark's `driver` and `engine` for a run on Spark."""
    from featbench.spark.run import SparkDriver, SparkRunOptions
    from featbench.spark.session import describe, spark

    session = spark(master)
    opts = SparkRunOptions(
        session, config.concurrency, config.rate, config.arrival, config.seed, parts
    )
    doc = {**describe(session), "clients": config.concurrency, "task_hosts": opts.hosts}
    return {
        "driver": lambda info, events, ctx: SparkDriver(info, events, ctx, opts),
        "engine": doc,
    }


def exit_code(run: Run) -> int:
    """0 complete; 1 failed (or interrupted); 99 complete with a failed --threshold (k6's code)."""
    from featbench.measure.thresholds import failed_thresholds

    if run.status != "complete":
        return 1
    return 99 if failed_thresholds(run.summary) else 0


# -- get -------------------------------------------------------------------------------
def _jsonable(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (bytes, memoryview)):
        return bytes(v).hex()
    if isinstance(v, UUID):
        return str(v)
    return v


def parse_keys(pairs: Sequence[str], spec: WorkloadSpec) -> dict[str, Any]:
    """`ENTITY=KEY` items -> {entity: key} in featbench's form for the entity's key type
    (integers as int, uuid canonical, bytea as \\x hex)."""
    from featbench.backends.typing_codec import typed_key

    keys: dict[str, Any] = {}
    for p in pairs:
        if "=" not in p:
            raise FeatbenchError(
                f"{p!r} is not ENTITY=KEY (entities: {', '.join(spec.entity_names)})"
            )
        ent, key = (x.strip() for x in p.split("=", 1))
        if ent not in spec.entity_names:
            raise FeatbenchError(
                f"unknown entity {ent!r}; the spec has {', '.join(spec.entity_names)}"
            )
        keys[ent] = typed_key(key, spec.entity(ent).key_type)
    return keys


def parse_pivot(pivot: str | None) -> tuple[str, str] | None:
    """`COLUMN=VALUECOL` (fold name/value rows into one record) -> (column, value column)."""
    if pivot is None:
        return None
    name, _, value = (x.strip() for x in pivot.partition("="))
    if not name or not value:
        raise FeatbenchError(
            f"--pivot {pivot!r} is not COLUMN=VALUECOL (e.g. feature_name=value_text)"
        )
    return name, value


def pivot_rows(rows: list[dict[str, Any]], column: str, value: str) -> list[dict[str, Any]]:
    """Rows of name/value pairs folded into one record {row[column]: row[value]}; rows
    without both columns are left as they are (a table of one row per key has none)."""
    if not rows or not all(column in r and value in r for r in rows):
        return rows
    return [{str(r[column]): r[value] for r in rows}]


def fetch(
    target: str,
    pairs: Sequence[str],
    *,
    spec: WorkloadSpec | str | None = None,
    schema: str = "featbench",
    password_command: str | None = None,
    pivot: str | None = None,
) -> dict[str, Any]:
    """Every feature row one request would fetch, per table (an empty list where a table
    lacks the key), ordered and typed (bytes as hex), with the data they come from as
    featbench recorded it when loading (null: not loaded by featbench). `pivot`
    (`COLUMN=VALUECOL`) folds name/value rows, such as Feast's, into one record."""
    s = _spec(spec)
    keys = parse_keys(pairs, s)
    fold = parse_pivot(pivot)
    with open_targets([target], schema=schema, password_command=password_command) as (b,):
        rows = b.fetch_all(s, keys)
        loaded = recorded([b], s)
    tables = {t: [{k: _jsonable(v) for k, v in r.items()} for r in rs] for t, rs in rows.items()}
    if fold is not None:
        tables = {t: pivot_rows(rs, *fold) for t, rs in tables.items()}
    return {
        "data": None if loaded is None else {"scale": loaded[0], "seed": loaded[1]},
        "keys": keys,
        "tables": tables,
        "found": sum(1 for r in rows.values() if r),
        "rows": sum(len(r) for r in rows.values()),
        "looked_up": len(rows),
    }


# -- load and verify -------------------------------------------------------------------
@dataclass
class Loaded:
    """What `load` did: the data set, where, and the store's report (checks included)."""

    target: str  # without credentials
    spec: WorkloadSpec
    scale: float
    seed: int
    report: LoadReport

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.report.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "spec": self.spec.name,
            "scale": self.scale,
            "seed": self.seed,
            **load_report_doc(self.report),
        }


def dataset_options(
    spec: str | None, scale: float | None, seed: int | None, from_dir: Path | None
) -> tuple[WorkloadSpec, float, int]:
    """Spec, scale and seed of a load; with `from_dir` (files of `featbench generate`) its
    manifest supplies what was not given."""
    if from_dir is not None:
        from featbench.backends.pgload.loader import read_manifest

        m = read_manifest(from_dir)
        if spec is None and (from_dir / "spec.toml").exists():
            spec = str(from_dir / "spec.toml")
        scale = float(m["scale"]) if scale is None else scale
        seed = int(m["seed"]) if seed is None else seed
    s = load_spec(spec)
    s.check_generatable()
    scale = DEFAULT_SCALE if scale is None else scale
    check_scale(scale)
    return s, scale, DEFAULT_SEED if seed is None else seed


def check_loadable(spec: WorkloadSpec, schema: str) -> None:
    """`load` writes only into `--schema`: a table the spec places in another schema
    (`schema_name`, an existing table `run` reads where it is) is refused, not loaded
    elsewhere than `run` would look for it."""
    elsewhere = [t for t in spec.tables if t.schema_name not in (None, schema)]
    if elsewhere:
        t = elsewhere[0]
        more = f" (and {len(elsewhere) - 1} more)" if len(elsewhere) > 1 else ""
        raise FeatbenchError(
            f"table {t.table_name} has schema_name {t.schema_name!r}{more}: such a table "
            f"describes existing data that run reads where it is, and load writes only into "
            f"--schema {schema!r}; remove schema_name to load it there, or pass --schema "
            f"{t.schema_name}"
        )


def load(
    target: str,
    *,
    spec: str | None = None,
    scale: float | None = None,
    seed: int | None = None,
    streams: int | None = None,
    schema: str = "featbench",
    force: bool = False,
    from_dir: Path | None = None,
    copy_format: str = "binary",
    chunk_rows: int | None = None,
    password_command: str | None = None,
    yes: bool = False,
    engine: str = "local",
    spark_master: str | None = None,
    partitions: int | None = None,
) -> Loaded:
    """Create the tables, load the generated data set (or `from_dir`'s files), verify.

    A data set above `featbench.sizing`'s limits (more than 10 billion rows, or more than
    the free disk of a server on this machine) needs `yes`; nothing is written before.
    `engine="spark"`: the chunks are loaded by Spark tasks (`featbench.spark.load`) on
    `spark_master` (default: the active session, else this machine), `partitions` at once.
    """
    from featbench.backends.pgload.loader import default_streams
    from featbench.sizing import check_size, estimate

    s, scale, seed = dataset_options(spec, scale, seed, from_dir)
    t = parse_target(target)
    check_loadable(s, schema)
    k = default_streams() if streams is None else streams
    if k < 1:
        raise FeatbenchError(f"--streams must be at least 1, got {k}")
    pg_only: dict[str, Any] = {
        "from_dir": from_dir, "copy_format": copy_format, "chunk_rows": chunk_rows
    }  # fmt: skip
    if t.kind != "postgres" and (from_dir is not None or copy_format != "binary" or chunk_rows):
        raise FeatbenchError(
            "--from-dir, --copy-format and --chunk-rows apply to PostgreSQL targets only"
        )
    size = estimate(s, scale)
    check_size(size, scale=scale, free=None, yes=yes, action="load")  # before connecting
    check_engine(engine, spark_master, partitions)
    extra = pg_only if t.kind == "postgres" else {}
    if engine == "spark":
        from featbench.spark.load import SparkChunks
        from featbench.spark.session import spark

        extra["executor"] = SparkChunks(spark(spark_master), partitions)
    with open_targets([target], schema=schema, password_command=password_command) as (backend,):
        check_size(size, scale=scale, free=backend.free_space(), yes=yes, action="load")
        report = backend.load(s, scale, seed, streams=k, force=force, **extra)
    return Loaded("embedded" if t.embedded else t.redacted, s, scale, seed, report)


ENGINES = ("local", "spark")


def check_engine(engine: str, spark_master: str | None, partitions: int | None) -> None:
    """The --engine options are consistent: Spark options only with --engine spark."""
    if engine not in ENGINES:
        raise FeatbenchError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine != "spark" and (spark_master is not None or partitions is not None):
        raise FeatbenchError("--spark-master and --partitions go with --engine spark")
    if partitions is not None and partitions < 1:
        raise FeatbenchError(f"--partitions must be at least 1, got {partitions}")


def generate_on_spark(
    spec: WorkloadSpec,
    scale: float,
    seed: int,
    out: str,
    *,
    fmt: str = "parquet",
    engine: str = "spark",
    spark_master: str | None = None,
    partitions: int | None = None,
) -> dict[str, Any]:
    """The data set as Parquet or Delta tables written by Spark tasks (`featbench.spark.files`)."""
    check_engine(engine, spark_master, partitions)
    from featbench.spark.files import FORMATS, write_tables
    from featbench.spark.session import spark

    if fmt not in FORMATS:
        raise FeatbenchError(f"--format must be one of {', '.join(FORMATS)} with --engine spark")
    session = spark(spark_master, delta=fmt == "delta")
    return write_tables(session, spec, scale, seed, out, fmt=fmt, partitions=partitions)


@dataclass
class Verified:
    """What `verify` found: per table, whether the target holds exactly the data set."""

    target: str  # without credentials
    schema: str
    spec: WorkloadSpec
    scale: float
    seed: int
    scale_source: str
    checks: list[TableCheck]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "schema": self.schema,
            "spec": self.spec.name,
            "scale": self.scale,
            "seed": self.seed,
            "scale_source": self.scale_source,
            "ok": self.ok,
            "failed": [c.table for c in self.checks if not c.ok],
            "checks": checks_doc(self.checks),
        }


def verify(
    target: str,
    *,
    spec: str | None = None,
    scale: float | None = None,
    seed: int | None = None,
    schema: str = "featbench",
    sample: int = 20,
    password_command: str | None = None,
) -> Verified:
    """Tables, row counts, primary keys and sampled rows against the generator. Scale and
    seed default to what featbench recorded when it loaded the data; a value that
    disagrees with that record is an error naming both."""
    s = load_spec(spec)
    if scale is not None:
        check_scale(scale)
    t = parse_target(target)
    with open_targets([target], schema=schema, password_command=password_command) as (backend,):
        data = resolve_loaded([backend], s, scale=scale, seed=seed)
        seed = DEFAULT_SEED if data.seed is None else data.seed
        checks = backend.verify(s, data.scale, seed, sample=sample)
    name = "embedded" if t.embedded else t.redacted
    return Verified(name, schema, s, data.scale, seed, data.source, checks)
