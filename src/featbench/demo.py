"""`featbench demo` as a library: everything on embedded servers, nothing to install but Python.

One store (the default, PostgreSQL) or several side by side (`postgres,redis,dynamodb`):
the same data loaded into each embedded server, the same plan (same keys) run against
each into ONE run directory, then an HTML report a person can open. `run_demo` does the
work and returns what happened; `featbench.report.demo_text` prints it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from featbench.backends.pgload.loader import PgLoadReport, default_streams
from featbench.backends.postgres import PostgresBackend
from featbench.errors import FeatbenchError
from featbench.results.reader import Run
from featbench.runner.config import RunConfig
from featbench.spec import WorkloadSpec, builtin_spec, check_scale
from featbench.target import parse_target

DEMO_BACKENDS = ("postgres", "redis", "dynamodb")
DEMO_TARGETS = {
    "postgres": "embedded",
    "redis": "redis://embedded",
    "dynamodb": "dynamodb://embedded",
}
# Each store's natural one-round-trip strategy when several run side by side. PostgreSQL
# alone runs two: serial (the original benchmark's way, and the one that measures each
# entity's part) and function (one round trip, the best strategy in the README's
# fan-out measurements). Serial pays 30 round trips in hot and cold requests alike, which
# dilutes what cold keys cost the store; the function request shows it undiluted.
SIDE_BY_SIDE_STRATEGY = {"postgres": "union", "redis": "pipeline", "dynamodb": "batch"}
PG_DEMO_STRATEGIES = "serial,function"
# The embedded DynamoDB is moto, a Python emulator: ~1,800 rows/s to load and ~35 ms a
# BatchGetItem on 2 cores. So with DynamoDB in the demo the data set is small (about 58k
# rows, ~32 s to load into moto; still >= 2,320 keys per entity, enough cold keys for the
# plan's 400 requests per ratio) and DynamoDB replays only the first requests of each ratio
# of the same plan: 40, enough for a closed p50 interval; p99's needs 368 (2 more minutes
# of moto at least), so DynamoDB's p95/p99/p99.9 are shown with open intervals (marked ?).
SCALE_ONE = 0.5  # ~220 MB: several times the embedded server's shared_buffers (32 MB)
SCALE_WITH_DYNAMODB = 0.04
DYNAMODB_REQUESTS = 40  # measured per ratio (a prefix of the plan every store replays)
DYNAMODB_WARMUP = 10
MOTO_ROWS_PER_S = 1800  # measured (README): for the load-time warning only

DEMO_RATIOS = (100.0, 90.0, 80.0, 70.0, 60.0, 50.0, 30.0, 10.0, 0.0)
# Per ratio. p99's 95% interval is closed from 368 requests on (measure/percentiles.py
# min_n_closed); 400 keeps it closed with up to 32 failed requests per ratio.
DEMO_REQUESTS = 400
DEMO_WARMUP = 50
# PostgreSQL alone: warm-up requests per ratio. With cold-first order the cold ratios
# evict the hot set from the embedded server's 32 MB shared_buffers, and each ratio's
# warm-up must bring its ~55 hot keys per entity back: 50 warm-up requests left 100%-hot
# lookups missing (hit ratio 0.945 in one run); 200 (~4x the hot keys) gave 1.000 in every
# run. (Side by side, at scale 0.04, the data fits in shared_buffers anyway, and there are
# too few keys for 200 cold warm-up keys per ratio.)
PG_DEMO_WARMUP = 200
# Enough cold keys for up to 1000 requests a ratio plus warm-ups (the plan needs ~5,100
# per entity then); 1% hot = 55 keys per entity, a hot set of at most ~27 MB of pages.
DEMO_KEYS = 5500
DEMO_IO_SAMPLE_EVERY = 25  # 16 EXPLAIN samples per ratio


def parse_backends(text: str) -> list[str]:
    out: list[str] = []
    for item in (x.strip().lower() for x in text.split(",")):
        if not item:
            continue
        item = "postgres" if item in ("pg", "postgresql") else item
        if item not in DEMO_BACKENDS:
            raise FeatbenchError(
                f"--backends: unknown store {item!r}; choose from {', '.join(DEMO_BACKENDS)}"
            )
        if item not in out:
            out.append(item)
    if not out:
        raise FeatbenchError("--backends is empty (e.g. postgres,redis,dynamodb)")
    return out


def demo_strategy(kinds: Sequence[str]) -> str:
    """PostgreSQL alone: serial and function; side by side: each store's one-round-trip
    strategy."""
    if len(kinds) > 1:
        return ",".join(f"{k}={SIDE_BY_SIDE_STRATEGY[k]}" for k in kinds)
    return PG_DEMO_STRATEGIES if kinds[0] == "postgres" else SIDE_BY_SIDE_STRATEGY[kinds[0]]


def demo_config(
    kinds: Sequence[str], *, scale: float, seed: int, thresholds: Sequence[str] = ()
) -> RunConfig:
    """The full hot/cold matrix the demo runs (fraud-30), validated."""
    caps = {"dynamodb": (DYNAMODB_REQUESTS, DYNAMODB_WARMUP)} if "dynamodb" in kinds else None
    return RunConfig.from_options(
        ratios=DEMO_RATIOS,
        strategy=demo_strategy(kinds),
        scale=scale,
        requests=DEMO_REQUESTS,
        warmup=PG_DEMO_WARMUP if list(kinds) == ["postgres"] else DEMO_WARMUP,
        n_keys=DEMO_KEYS,
        hot_fraction=0.01,
        io_sample_every=DEMO_IO_SAMPLE_EVERY,
        seed=seed,
        ratio_order="cold-first",
        requests_by_backend=caps,
        thresholds=tuple(thresholds),
    )


@dataclass
class DemoResult:
    kinds: list[str]
    scale: float
    keep: bool
    pg: Any = None  # load.demo.DemoLoad of the embedded PostgreSQL
    loads: dict[str, Any] = field(default_factory=dict)  # kind -> LoadReport
    run: Run | None = None
    report: Path | None = None
    report_error: str | None = None
    embedded: dict[str, Any] | None = None  # the PostgreSQL server's status when kept

    @property
    def ok(self) -> bool:
        """Every store loaded and verified."""
        return all(all(c.ok for c in r.checks) for r in self.loads.values())


def _load_kv(kind: str, scale: float, seed: int) -> Any:
    """Load fraud-30 into the embedded Redis / DynamoDB (verified by the load itself)."""
    from featbench.api import open_targets
    from featbench.spec import builtin_spec

    with open_targets([DEMO_TARGETS[kind]]) as (b,):
        return b.load(builtin_spec("fraud-30"), scale, seed, streams=2, force=True)


def write_report(run: Run) -> tuple[Path | None, str | None]:
    """The HTML report in the run directory, priced at the rate the run sustained; or
    why there is none (the run is kept either way)."""
    from featbench.report.build import make_report
    from featbench.report.costing import headline_qps

    try:
        measured = headline_qps(run)
        if measured is None:
            return make_report([run]).html, None
        # priced at the run's own rate, and labelled so (not "given": nobody gave it)
        rate, source = measured
        return make_report([run], qps=rate, cost_inputs={"qps_source": source}).html, None
    except FeatbenchError as e:
        return None, str(e)


def run_demo(
    kinds: Sequence[str],
    *,
    scale: float | None = None,
    seed: int = 42,
    out: Path = Path("results"),
    keep: bool = False,
    thresholds: Sequence[str] = (),
    live: bool = True,
    say: Callable[[str], None] = lambda _line: None,
) -> DemoResult:
    """Load, verify, run, report; `say` hears what is being done as it starts.

    The embedded PostgreSQL is stopped at the end unless `keep`."""
    from featbench import api
    from featbench.backends import embedded
    from featbench.spec import builtin_spec, check_scale, scaled_rows

    kinds = list(kinds)
    scale = check_scale(
        scale if scale is not None else SCALE_WITH_DYNAMODB if "dynamodb" in kinds else SCALE_ONE
    )
    config = demo_config(
        kinds, scale=scale, seed=seed, thresholds=thresholds
    )  # before anything starts
    rows = sum(scaled_rows(t, scale) for t in builtin_spec("fraud-30").tables)
    say(
        f"[bold]featbench demo[/]: fraud-30 at scale {scale:g} ({rows:,} rows) on embedded {', '.join(kinds)}"
    )
    if "dynamodb" in kinds:
        say(
            f"  DynamoDB is moto, a local emulator: loading takes ~{rows / MOTO_ROWS_PER_S:,.0f} s "
            "and its latency is not AWS's"
        )
    res = DemoResult(kinds, scale, keep)
    try:
        for kind in kinds:
            if kind == "postgres":
                res.pg = demo_load(scale, seed)
                res.loads[kind] = res.pg.report
            else:
                say(f"loading the embedded {kind} …")
                res.loads[kind] = _load_kv(kind, scale, seed)
        if res.ok:  # the benchmark run: while the servers are up
            caps = config.requests_by_backend
            say(
                f"running the hot/cold matrix: 9 ratios x {config.requests} requests "
                f"({demo_strategy(kinds).replace(',', ', ')})"
                + (
                    f"; DynamoDB replays the first {caps['dynamodb'][0]} of each ratio"
                    if caps
                    else ""
                )
            )
            targets = [DEMO_TARGETS[k] for k in kinds]
            res.run = api.run(targets, config, out=out, live=live)
    finally:
        if "postgres" in kinds:
            if keep:
                res.embedded = embedded.status()
            else:
                embedded.stop()
    if res.run is not None:
        res.report, res.report_error = write_report(res.run)
    return res


# -- loading the demo's data into the embedded PostgreSQL ------------------------------------
DEMO_SCALE = 0.5  # ~220 MB of tables + indexes: 6.6x the embedded shared_buffers
DEMO_SEED = 42
DEMO_SCHEMA = "featbench"


@dataclass
class DemoLoad:
    spec: WorkloadSpec
    scale: float
    seed: int
    schema: str
    target: str  # always "embedded"
    server: dict[str, Any]  # PostgresBackend.describe()
    report: PgLoadReport
    vacuum_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.report.ok


def demo_load(
    scale: float = DEMO_SCALE,
    seed: int = DEMO_SEED,
    *,
    streams: int | None = None,
    schema: str = DEMO_SCHEMA,
    progress: bool | None = None,
) -> DemoLoad:
    """Start (or reuse) the embedded server, load fraud-30 at `scale` and verify it.

    Data left by an earlier demo is reused when it is the same data set (the load skips
    finished tables); a different scale or seed replaces featbench's tables (the embedded
    server is featbench's own, so `force` is safe here).
    """
    check_scale(scale)
    spec = builtin_spec("fraud-30")
    backend = PostgresBackend(parse_target("embedded"), schema=schema)
    try:
        report = backend.load(
            spec,
            scale,
            seed,
            streams=streams or default_streams(),
            force=True,
            progress=progress,
        )
        vacuum_s = vacuum_tables(backend, spec) if report.ok else None
        server = backend.describe()
    finally:
        backend.close()
    assert isinstance(report, PgLoadReport)
    return DemoLoad(spec, scale, seed, schema, "embedded", server, report, vacuum_s)


def vacuum_tables(backend: PostgresBackend, spec: WorkloadSpec) -> float:
    """VACUUM the freshly loaded tables now, so that autovacuum does not do it later.

    After a bulk load every table is due for an insert-triggered autovacuum, which then
    ran in the middle of a demo's sweep: it read every page of all 30 tables, inflating
    one ratio's measured buffer reads (72 per request instead of ~43) and competing for
    the disk. A VACUUM of tables that are already vacuumed (a reused demo) skips their
    all-visible pages and takes well under a second.
    """
    t0 = time.perf_counter()
    for t in spec.tables:
        backend.conn.execute(
            sql.SQL("VACUUM {}.{}").format(
                sql.Identifier(backend.schema), sql.Identifier(t.table_name)
            )
        )
    return time.perf_counter() - t0
