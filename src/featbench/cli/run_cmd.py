"""`featbench run`, `show`, `get`, `compare`: parse the options, call the library, print."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from featbench import api
from featbench.cli.app import app
from featbench.cli.options import (
    Json,
    RecordedScale,
    ResultsDir,
    RunDir,
    Schema,
    Seed,
    Spec,
    Target,
    Thresholds,
)
from featbench.progress import console
from featbench.report.terminal import print_run_result, render_compare, wide_console
from featbench.results.compare import compare_runs
from featbench.results.reader import read_run
from featbench.runner.config import RunConfig


@app.command()
def run(
    target: list[str] = typer.Option(
        ...,
        "--target",
        "-t",
        help="postgresql://user@host/db, redis://…, dynamodb://…, or embedded. Repeat to run "
        "several targets (keys are sampled from the first; every target must hold the same data).",
        metavar="URL",
    ),
    spec: Spec = None,
    scale: RecordedScale = None,
    schema: Schema = "featbench",
    ratios: str = typer.Option(
        "100,90,80,70,60,50,30,10,0", "--ratios", help="Hot traffic percentages to sweep."
    ),
    requests: int = typer.Option(1000, "--requests", "-n", help="Timed requests per ratio."),
    warmup: int = typer.Option(
        200, "--warmup", help="Requests before each ratio, at its mix, not measured."
    ),
    keys: int = typer.Option(
        10_000, "--keys", help="Keys sampled per entity (the top --hot-fraction are hot)."
    ),
    hot_fraction: float = typer.Option(
        0.01, "--hot-fraction", help="Share of sampled keys that are hot."
    ),
    io_sample_every: int = typer.Option(
        100,
        "--io-sample-every",
        help="One EXPLAIN (ANALYZE, BUFFERS) request after every N timed ones (0: off).",
    ),
    evict_os_cache: bool = typer.Option(
        None,
        "--evict-os-cache/--no-evict-os-cache",
        help="Before each ratio, CHECKPOINT and drop the tables' and indexes' files from the OS "
        "page cache, so cold keys that miss shared_buffers read the disk. Default: on for the "
        "embedded server, off otherwise; needs a server on this machine whose data directory "
        "featbench can read.",
        show_default=False,
    ),
    reset_stats: bool = typer.Option(
        False,
        "--stats-reset/--no-stats-reset",
        help="Call pg_stat_reset() first, as the original Lakebase benchmark did. Off by default: it "
        "wipes the whole database's statistics counters, which its operators rely on; figures are "
        "per-ratio deltas either way.",
    ),
    seed: Seed = 42,
    out: ResultsDir = Path("results"),
    run_id: str = typer.Option(
        None, "--run-id", help="Name of the run directory (default: UTC time + random hex)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing run directory of that name."
    ),
    keys_from: Path = typer.Option(
        None, "--keys-from", help="Reuse the keys of an earlier run (same spec).", metavar="RUN_DIR"
    ),
    strategy: str = typer.Option(
        "serial",
        "--strategy",
        help="How a request executes (comma list: serial,pipeline,…). STORE=STRATEGY items apply "
        "to one kind of target only, e.g. postgres=union,redis=pipeline,dynamodb=batch.",
    ),
    ratio_order: str = typer.Option(
        "cold-first",
        "--ratio-order",
        help="cold-first (ascending hot %), given, or random (seeded).",
    ),
    concurrency: int = typer.Option(
        1,
        "--concurrency",
        "-c",
        help="Clients, each with its own connection (processes for PostgreSQL).",
    ),
    rate: float = typer.Option(
        None,
        "--rate",
        help="Open loop: requests per second across all clients (latency also reported from the intended start).",
    ),
    arrival: str = typer.Option(
        "uniform", "--arrival", help="Open-loop arrivals: uniform or poisson."
    ),
    duration: float = typer.Option(
        None,
        "--duration",
        help="Open loop: seconds per level (requests = rate × duration).",
        metavar="SECONDS",
    ),
    warmup_seconds: float = typer.Option(
        None,
        "--warmup-seconds",
        help="Open loop: seconds of unmeasured requests before each level.",
    ),
    interval: float = typer.Option(
        1.0,
        "--interval",
        help="Seconds per time-series interval (timeseries/ and timeseries.parquet).",
    ),
    distribution: str = typer.Option(
        "hotcold",
        "--distribution",
        help="Key distribution: hotcold (ratio sweep), zipfian, uniform, latest.",
    ),
    theta: float = typer.Option(
        None, "--theta", help="Skew of zipfian/latest (> 0; 0.99 is YCSB's default)."
    ),
    thetas: str = typer.Option(
        None,
        "--thetas",
        help="Zipfian sweep over θ, replacing the ratio sweep, e.g. 0.5,0.8,0.99,1.2.",
    ),
    threshold: Thresholds = None,
    max_error_rate: float = typer.Option(
        0.01,
        "--max-error-rate",
        help="A ratio whose error rate (errors / requests) exceeds this fraction makes the run "
        "failed (exit code 1, no cost priced from it); 0.01 is 1%.",
        metavar="FRACTION",
    ),
    as_json: Json = False,
) -> None:
    """Run the hot/cold benchmark: sample keys, warm up, sweep the ratios, save everything.

    Exit code: 0 complete; 1 failed (a ratio's error rate above --max-error-rate); 99 when
    a --threshold failed; 2 bad input.

    Example: featbench run --target postgresql://postgres@localhost/postgres --requests 500 --threshold 'p99<10ms'
    """
    config = RunConfig.from_options(
        ratios=ratios, strategy=strategy, theta=theta, thetas=thetas, scale=scale,
        requests=requests, warmup=warmup, n_keys=keys, hot_fraction=hot_fraction,
        io_sample_every=io_sample_every, reset_stats=reset_stats, evict_os_cache=evict_os_cache,
        seed=seed, ratio_order=ratio_order, concurrency=concurrency, rate=rate, arrival=arrival,
        duration_s=duration, warmup_s=warmup_seconds, interval_s=interval,
        distribution=distribution, thresholds=threshold, max_error_rate=max_error_rate,
    )  # fmt: skip
    try:
        r = api.run(
            target, config, spec=spec, schema=schema, out=out, run_id=run_id,
            overwrite=overwrite, keys_from=keys_from, live=not as_json,
        )  # fmt: skip
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted[/]: the ratios finished so far are saved (status: interrupted)"
        )
        raise typer.Exit(130) from None
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
    print_run_result(read_run(run_dir), as_json)


@app.command()
def get(
    pairs: list[str] = typer.Argument(
        ..., help="ENTITY=KEY for each entity to look up.", metavar="ENTITY=KEY…"
    ),
    target: Target = ...,
    spec: Spec = None,
    schema: Schema = "featbench",
    as_json: Json = False,
) -> None:
    """Print, as JSON, the feature rows one request would fetch (null where a table lacks the key).

    Example: featbench get --target embedded card_fingerprint=3fa2…
    """
    typer.echo(
        json.dumps(api.fetch(target, pairs, spec=spec, schema=schema), indent=2, default=str)
    )


@app.command()
def compare(
    run_a: Path = typer.Argument(..., help="The baseline run directory.", metavar="RUN_A"),
    run_b: Path = typer.Argument(..., help="The run compared with it.", metavar="RUN_B"),
    force: bool = typer.Option(False, "--force", help="Compare even if the workload specs differ."),
    as_json: Json = False,
) -> None:
    """Per-ratio deltas (B − A) of p50/p95/p99 and hit ratio: significant (bold) when the
    two runs' 95% intervals do not overlap, (noise) when they do, (?) undecidable when an
    interval is open. Works from summary.json alone.

    Example: featbench compare results/run-a results/run-b
    """
    doc = compare_runs(read_run(run_a), read_run(run_b), force=force)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        wide_console().print(render_compare(doc), highlight=False)
