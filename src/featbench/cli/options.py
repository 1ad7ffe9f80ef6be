"""Options (and arguments) of more than one command, declared once.

Each is a type to annotate a parameter with (`spec: Spec = None`): Typer reads the option
from the annotation, the default stays in the signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

# Names the library accepts, repeated here so that `--help` needs no library import;
# tests/test_cli_conventions.py checks each against the library's own tuple.
ARRIVALS = ("uniform", "poisson")  # runner.schedule.ARRIVALS
DISTRIBUTIONS = ("hotcold", "zipfian", "uniform", "latest")  # workload.distributions
RATIO_ORDERS = ("cold-first", "given", "random")  # workload.plan.RatioOrder
STORE_STRATEGIES = {  # each backend class's `strategies`
    "postgres": ("serial", "pipeline", "union", "function", "parallel"),
    "redis": ("pipeline", "serial"),
    "dynamodb": ("batch", "serial"),
}
COPY_FORMATS = ("binary", "csv")
FILE_FORMATS = ("parquet", "csv", "delta")  # delta: --engine spark only
ENGINES = ("local", "spark")  # api.ENGINES
CONSISTENCIES = ("eventual", "strong")
TARGET_ENV = "FEATBENCH_TARGET"

Spec = Annotated[str | None, typer.Option("--spec", help="Workload spec: a TOML file, or the name of a built-in spec (default: fraud-30).", metavar="FILE|NAME")]  # fmt: skip
Scale = Annotated[float, typer.Option("--scale", help="Row-count multiplier: scale 1 is about 1.5 M rows for fraud-30 (finite, > 0).")]  # fmt: skip
RecordedScale = Annotated[float | None, typer.Option("--scale", help="Scale of the data in the target. Default: what featbench recorded when it loaded the data (else 1); a value that disagrees with that record is an error.")]  # fmt: skip
Seed = Annotated[int, typer.Option("--seed", help="Seed of data generation (and of sampling and plans).")]  # fmt: skip
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]  # fmt: skip
Target = Annotated[str, typer.Option("--target", "-t", help="postgresql://user@host/db (or postgres://…, or libpq's 'host=… dbname=…'), lakebase://INSTANCE/DATABASE (pip install 'featbench[lakebase]'), redis://host:6379, dynamodb://?region=…&endpoint=…, or embedded.", metavar="URL", envvar=TARGET_ENV, show_envvar=True)]  # fmt: skip
PasswordCommand = Annotated[str | None, typer.Option("--password-command", help="PostgreSQL: a shell command that prints the password (e.g. a token). Run at the first login, and again whenever a login with its last output is refused (in every featbench process); its output is never written anywhere.", metavar="CMD")]  # fmt: skip
Schema = Annotated[str, typer.Option("--schema", help="PostgreSQL schema featbench owns.")]  # fmt: skip
ResultsDir = Annotated[Path, typer.Option("--out", "-o", help="Directory that holds run directories.")]  # fmt: skip
RunDir = Annotated[Path, typer.Argument(help="A run directory, e.g. results/RUN_ID.", metavar="RUN_DIR")]  # fmt: skip
Thresholds = Annotated[list[str] | None, typer.Option("--threshold", help="An SLO checked per ratio, as k6 does, e.g. 'p99<10ms', 'p99.9<50ms@hot=0', 'errors<0.1%' (repeatable; metrics p50 p95 p99 p99.9 max mean errors; filters @hot=, @theta=, @backend=, @strategy=). Any failed threshold: exit code 99, after everything is written.", metavar="EXPR")]  # fmt: skip
Engine = Annotated[Literal[ENGINES], typer.Option("--engine", help="local (this machine) or spark (Spark tasks on --spark-master; needs featbench[spark] and Java 17+).")]  # fmt: skip
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Go ahead even with a data set of more than 10 billion rows, or one larger than the free disk it is written to (generate: at --out; load: a server's data directory on this machine); refused otherwise, before anything is written.")]  # fmt: skip
SparkMaster = Annotated[str | None, typer.Option("--spark-master", help="Spark master URL for --engine spark (default: the active Spark session, else local[*,4]).", metavar="URL")]  # fmt: skip

# -- pricing (report and cost) ---------------------------------------------------------
Prices = Annotated[Path | None, typer.Option("--prices", help="TOML file of prices merged over the shipped defaults (see featbench/data/prices.toml).")]  # fmt: skip
ReferenceP99 = Annotated[float | None, typer.Option("--reference-p99", help="Another store's p99 in ms, to find the break-even skew when the runs hold PostgreSQL only (an assumption, flagged).", metavar="MS")]  # fmt: skip
Cu = Annotated[float | None, typer.Option("--cu", help="Lakebase capacity units (default: what a run against a lakebase:// target recorded, capacity × nodes; else 1).")]  # fmt: skip
HoursPerDay = Annotated[float | None, typer.Option("--hours-per-day", help="Hours of traffic a day (default 24); Lakebase compute runs these hours.")]  # fmt: skip


def strategy_completion(incomplete: str) -> list[str]:
    """Shell completion of --strategy's comma list: the last item, bare or STORE=STRATEGY."""
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    store, eq, name = last.partition("=")
    if eq:
        pool = [f"{store}={s}" for s in STORE_STRATEGIES.get(store, ())]
    else:
        every = dict.fromkeys(s for ss in STORE_STRATEGIES.values() for s in ss)
        pool = [*every, *(f"{k}=" for k in STORE_STRATEGIES)]
    return [prefix + c for c in pool if c.startswith(last)]


Arrival = Literal[ARRIVALS]  # type: ignore[valid-type]
Distribution = Literal[DISTRIBUTIONS]  # type: ignore[valid-type]
RatioOrderName = Literal[RATIO_ORDERS]  # type: ignore[valid-type]
CopyFormat = Literal[COPY_FORMATS]  # type: ignore[valid-type]
FileFormat = Literal[FILE_FORMATS]  # type: ignore[valid-type]
Consistency = Literal[CONSISTENCIES]  # type: ignore[valid-type]


def env_targets(given: list[str] | None) -> list[str]:
    """The --target values, else $FEATBENCH_TARGET (one target: a libpq string has spaces)."""
    import os

    if given:
        return given
    env = os.environ.get(TARGET_ENV, "").strip()
    if env:
        return [env]
    from typer._click.exceptions import MissingParameter  # typer exports no name for it

    raise MissingParameter(
        f"Give it, or set {TARGET_ENV}.", param_hint="'--target' / '-t'", param_type="option"
    )
