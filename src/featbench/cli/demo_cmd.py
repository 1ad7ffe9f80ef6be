"""`featbench demo`: everything on embedded servers, nothing to install but Python
(featbench/demo.py does it, report/demo_text.py prints it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from featbench.cli.app import app, verbosity
from featbench.cli.options import Json, ResultsDir, Seed, Thresholds

# featbench.demo's SCALE_ONE, SCALE_WITH_DYNAMODB, DYNAMODB_REQUESTS, written out so that
# --help does not import the library (a test checks they agree).
SCALE_ONE, SCALE_WITH_DYNAMODB, DYNAMODB_REQUESTS = 0.5, 0.04, 40
DemoScale = Annotated[float | None, typer.Option("--scale", help=f"Scale of fraud-30 to load (default {SCALE_ONE:g}, about 734k rows, ~220 MB; {SCALE_WITH_DYNAMODB:g} when DynamoDB is in --backends).")]  # fmt: skip
Backends = Annotated[str, typer.Option("--backends", "-b", help=f"Stores to run side by side on embedded servers: postgres, redis, dynamodb (comma list). Alone, PostgreSQL runs two strategies on the same keys: serial (one query per table, the original Lakebase benchmark's way) and function (the whole request in one round trip); side by side each store runs its natural one-round-trip strategy: postgres union, redis pipeline, dynamodb batch (BatchGetItem). DynamoDB is moto, a slow local emulator: it replays only the first {DYNAMODB_REQUESTS} requests of each ratio of the same plan, and its latency is not AWS's.")]  # fmt: skip
Keep = Annotated[bool, typer.Option("--keep", help="Leave the embedded PostgreSQL running afterwards (for psql, or more featbench commands).")]  # fmt: skip


@app.command()
def demo(
    scale: DemoScale = None,
    seed: Seed = 42,
    backends: Backends = "postgres",
    keep: Keep = False,
    out: ResultsDir = Path("results"),
    threshold: Thresholds = None,
    as_json: Json = False,
) -> None:
    """Start embedded servers, load fraud-30 at a small scale, verify it, run the hot/cold
    benchmark (9 ratios x 400 requests: closed 95% intervals up to p99; PostgreSQL alone with
    two strategies on the same keys, serial and function), print the table, what cold keys
    cost and the headline, and write an HTML report into the run directory.

    The data stays in $FEATBENCH_HOME (default: your cache directory), so a second demo
    reuses it. The PostgreSQL server is stopped at the end unless --keep;
    `featbench embedded stop --purge` removes everything.

    Examples: featbench demo --scale 0.05;  featbench demo --backends postgres,redis,dynamodb
    """
    from featbench import api
    from featbench.demo import parse_backends, run_demo
    from featbench.progress import console
    from featbench.report.demo_text import demo_doc, print_demo

    res = run_demo(
        parse_backends(backends), scale=scale, seed=seed, out=out, keep=keep,
        thresholds=threshold or (), live=not as_json and verbosity() >= 0,
        say=lambda line: console.print(line, highlight=False),
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(demo_doc(res), indent=2, default=str))
    else:
        print_demo(res)
    if not res.ok:
        raise typer.Exit(2)
    code = api.exit_code(res.run) if res.run is not None else 0
    if code:
        raise typer.Exit(code)
