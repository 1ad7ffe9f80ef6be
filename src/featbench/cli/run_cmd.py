"""`featbench run`, `show`, `get`, `compare`: parse the options, call the library, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from featbench.cli.app import app, verbosity
from featbench.cli.options import (
    TARGET_ENV,
    Arrival,
    Distribution,
    Engine,
    Json,
    PasswordCommand,
    RatioOrderName,
    RecordedScale,
    ResultsDir,
    RunDir,
    Schema,
    Seed,
    SparkMaster,
    Spec,
    Target,
    Thresholds,
    env_targets,
    strategy_completion,
)

RunTarget = Annotated[list[str] | None, typer.Option("--target", "-t", help=f"postgresql://user@host/db (or libpq's 'host=… dbname=…'), lakebase://INSTANCE/DATABASE, redis://…, dynamodb://…, or embedded. Repeat to run several targets (keys are sampled from the first; every target must hold the same data). Default: ${TARGET_ENV} (one target).", metavar="URL", show_default=False)]  # fmt: skip
Ratios = Annotated[str, typer.Option("--ratios", help="Hot traffic percentages to sweep.")]  # fmt: skip
Requests = Annotated[int, typer.Option("--requests", "-n", help="Timed requests per ratio.")]  # fmt: skip
Warmup = Annotated[int, typer.Option("--warmup", help="Requests before each ratio, at its mix, not measured.")]  # fmt: skip
Keys = Annotated[int, typer.Option("--keys", help="Keys sampled per entity (the top --hot-fraction are hot).")]  # fmt: skip
HotFraction = Annotated[float, typer.Option("--hot-fraction", help="Share of sampled keys that are hot.")]  # fmt: skip
IoSampleEvery = Annotated[int, typer.Option("--io-sample-every", help="One EXPLAIN (ANALYZE, BUFFERS) request after every N timed ones (0: off).")]  # fmt: skip
EvictOsCache = Annotated[bool | None, typer.Option("--evict-os-cache/--no-evict-os-cache", help="Before each ratio, CHECKPOINT and drop the tables' and indexes' files from the OS page cache, so cold keys that miss shared_buffers read the disk. Default: on for the embedded server, off otherwise; needs a server on this machine whose data directory featbench can read.", show_default=False)]  # fmt: skip
ResetStats = Annotated[bool, typer.Option("--stats-reset/--no-stats-reset", help="Call pg_stat_reset() first, as the original Lakebase benchmark did. Off by default: it wipes the whole database's statistics counters, which its operators rely on; figures are per-ratio deltas either way.")]  # fmt: skip
RunId = Annotated[str | None, typer.Option("--run-id", help="Name of the run directory (default: UTC time + random hex).")]  # fmt: skip
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory of that name.")]  # fmt: skip
KeysFrom = Annotated[Path | None, typer.Option("--keys-from", help="Reuse the keys of an earlier run (same spec).", metavar="RUN_DIR")]  # fmt: skip
Strategy = Annotated[str, typer.Option("--strategy", help="How a request executes, a comma list. postgres: serial, pipeline, union, function, parallel; redis: pipeline, serial; dynamodb: batch, serial. STORE=STRATEGY items apply to one kind of target only, e.g. postgres=union,redis=pipeline,dynamodb=batch.", metavar="STRATEGY,…", autocompletion=strategy_completion)]  # fmt: skip
RatioOrder = Annotated[RatioOrderName, typer.Option("--ratio-order", help="cold-first (ascending hot %), given, or random (seeded).")]  # fmt: skip
Concurrency = Annotated[int, typer.Option("--concurrency", "-c", help="Clients, each with its own connection (processes for PostgreSQL).")]  # fmt: skip
Rate = Annotated[float | None, typer.Option("--rate", help="Open loop: requests per second across all clients (latency also reported from the intended start).")]  # fmt: skip
ArrivalOpt = Annotated[Arrival, typer.Option("--arrival", help="Open-loop arrivals: evenly spaced (uniform) or a Poisson process.")]  # fmt: skip
Duration = Annotated[float | None, typer.Option("--duration", help="Open loop: seconds per level (requests = rate × duration).", metavar="SECONDS")]  # fmt: skip
WarmupSeconds = Annotated[float | None, typer.Option("--warmup-seconds", help="Open loop: seconds of unmeasured requests before each level.")]  # fmt: skip
Interval = Annotated[float, typer.Option("--interval", help="Seconds per time-series interval (timeseries/ and timeseries.parquet).")]  # fmt: skip
DistributionOpt = Annotated[Distribution, typer.Option("--distribution", help="Key distribution: hotcold (ratio sweep), zipfian, uniform, latest.")]  # fmt: skip
Theta = Annotated[float | None, typer.Option("--theta", help="Skew of zipfian/latest (> 0; 0.99 is YCSB's default).")]  # fmt: skip
Thetas = Annotated[str | None, typer.Option("--thetas", help="Zipfian sweep over θ, replacing the ratio sweep, e.g. 0.5,0.8,0.99,1.2.")]  # fmt: skip
Clients = Annotated[int | None, typer.Option("--clients", help="With --engine spark: Spark tasks, each a client with its own session, driving a share of the plan (default 2).")]  # fmt: skip
SparkParts = Annotated[str | None, typer.Option("--spark-parts", help="With --engine spark: a directory the driver and every executor share (e.g. a Unity Catalog volume) for the tasks' request records (default: a local temporary directory).", metavar="DIR")]  # fmt: skip
MaxErrorRate = Annotated[float, typer.Option("--max-error-rate", help="A ratio whose error rate (errors / requests) exceeds this fraction makes the run failed (exit code 1, no cost priced from it); 0.01 is 1%.", metavar="FRACTION")]  # fmt: skip
ReconnectTimeout = Annotated[float, typer.Option("--reconnect-timeout", help="Seconds every connection of the run (requests, cache counters, SQL result rows, EXPLAIN samples) may take to come back after it broke (terminated backend, server restart), retried with backoff; after that the run fails (requests) or the figure is left empty with the reason in the manifest.", metavar="SECONDS")]  # fmt: skip
Pairs = Annotated[list[str], typer.Argument(help="ENTITY=KEY for each entity to look up.", metavar="ENTITY=KEY…")]  # fmt: skip
Pivot = Annotated[str | None, typer.Option("--pivot", help="Fold name/value rows (several rows per key, as Feast stores features) into one record per table: COLUMN=VALUECOL, e.g. feature_name=value_text.", metavar="COLUMN=VALUECOL")]  # fmt: skip
RunA = Annotated[Path, typer.Argument(help="The baseline run directory.", metavar="RUN_A")]  # fmt: skip
RunB = Annotated[Path, typer.Argument(help="The run compared with it.", metavar="RUN_B")]  # fmt: skip
Force = Annotated[bool, typer.Option("--force", help="Compare even if the workload specs differ.")]  # fmt: skip


@app.command()
def run(
    target: RunTarget = None,
    spec: Spec = None,
    scale: RecordedScale = None,
    schema: Schema = "featbench",
    ratios: Ratios = "100,90,80,70,60,50,30,10,0",
    requests: Requests = 1000,
    warmup: Warmup = 200,
    keys: Keys = 10_000,
    hot_fraction: HotFraction = 0.01,
    io_sample_every: IoSampleEvery = 100,
    evict_os_cache: EvictOsCache = None,
    reset_stats: ResetStats = False,
    seed: Seed = 42,
    out: ResultsDir = Path("results"),
    run_id: RunId = None,
    overwrite: Overwrite = False,
    keys_from: KeysFrom = None,
    strategy: Strategy = "serial",
    ratio_order: RatioOrder = "cold-first",
    concurrency: Concurrency = 1,
    rate: Rate = None,
    arrival: ArrivalOpt = "uniform",
    duration: Duration = None,
    warmup_seconds: WarmupSeconds = None,
    interval: Interval = 1.0,
    distribution: DistributionOpt = "hotcold",
    theta: Theta = None,
    thetas: Thetas = None,
    threshold: Thresholds = None,
    max_error_rate: MaxErrorRate = 0.01,
    password_command: PasswordCommand = None,
    engine: Engine = "local",
    clients: Clients = None,
    spark_master: SparkMaster = None,
    spark_parts: SparkParts = None,
    reconnect_timeout: ReconnectTimeout = 60.0,
    as_json: Json = False,
) -> None:
    """Run the hot/cold benchmark: sample keys, warm up, sweep the ratios, save everything.

    Exit code: 0 complete; 1 failed (a ratio's error rate above --max-error-rate); 99 when
    a --threshold failed; 2 bad input; 130 / 143 / 129 ended by Ctrl-C / SIGTERM / SIGHUP.

    Example: featbench run --target postgresql://postgres@localhost/postgres --requests 500 --threshold 'p99<10ms'
    """
    from featbench import api
    from featbench.progress import console
    from featbench.report.terminal import print_run_result
    from featbench.runner.config import RunConfig
    from featbench.runner.signals import exit_code

    targets = env_targets(target)
    config = RunConfig.from_options(
        ratios=ratios, strategy=strategy, theta=theta, thetas=thetas, scale=scale,
        requests=requests, warmup=warmup, n_keys=keys, hot_fraction=hot_fraction,
        io_sample_every=io_sample_every, reset_stats=reset_stats, evict_os_cache=evict_os_cache,
        seed=seed, ratio_order=ratio_order, concurrency=concurrency, rate=rate, arrival=arrival,
        duration_s=duration, warmup_s=warmup_seconds, interval_s=interval,
        distribution=distribution, thresholds=threshold, max_error_rate=max_error_rate,
        reconnect_timeout_s=reconnect_timeout,
    )  # fmt: skip
    try:
        r = api.run(
            targets, config, spec=spec, schema=schema, out=out, run_id=run_id,
            overwrite=overwrite, keys_from=keys_from, live=not as_json and verbosity() >= 0,
            password_command=password_command, engine=engine,
            clients=clients, spark_master=spark_master, spark_parts=spark_parts,
        )  # fmt: skip
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM or SIGHUP (runner/signals.py)
        console.print(
            "[yellow]interrupted[/]: the ratios finished so far are saved (status: interrupted)"
        )
        raise typer.Exit(exit_code(e)) from None
    print_run_result(r, as_json, notes=False)  # the notes were shown as they came
    code = api.exit_code(r)
    if code:
        raise typer.Exit(code)


@app.command()
def show(run_dir: RunDir, as_json: Json = False) -> None:
    """Per-ratio table of a run (latency percentiles, planned vs measured cache, request mix),
    then the headline: p99 per ratio, hit ratio, cost per million requests, the report's path.

    Example: featbench show results/20261126T081500Z-3f2a1c
    """
    from featbench.report.terminal import print_run_result
    from featbench.results.reader import read_run

    print_run_result(read_run(run_dir), as_json)


@app.command()
def get(
    pairs: Pairs = ...,
    target: Target = ...,
    spec: Spec = None,
    schema: Schema = "featbench",
    password_command: PasswordCommand = None,
    pivot: Pivot = None,
    as_json: Json = False,
) -> None:
    """Print, as JSON, every feature row one request would fetch, per table, ordered and
    decoded by column type (bytea as hex; an empty list where a table lacks the key).

    Example: featbench get --target embedded card_fingerprint=3fa2…
    Feast's name/value rows as one record: --pivot feature_name=value_text
    """
    from featbench import api

    doc = api.fetch(
        target, pairs, spec=spec, schema=schema, password_command=password_command, pivot=pivot
    )
    typer.echo(json.dumps(doc, indent=2, default=str))


@app.command()
def compare(
    run_a: RunA = ...,
    run_b: RunB = ...,
    force: Force = False,
    as_json: Json = False,
) -> None:
    """Per-ratio deltas (B − A) of p50/p95/p99 and hit ratio: significant (bold) when the
    two runs' 95% intervals do not overlap, (noise) when they do, (?) undecidable when an
    interval is open. Works from summary.json alone.

    Example: featbench compare results/run-a results/run-b
    """
    from featbench.report.terminal import render_compare, wide_console
    from featbench.results.compare import compare_runs
    from featbench.results.reader import read_run

    doc = compare_runs(read_run(run_a), read_run(run_b), force=force)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        wide_console().print(render_compare(doc), highlight=False)
