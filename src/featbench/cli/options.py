"""Options (and arguments) of more than one command, declared once.

Each is a type to annotate a parameter with (`spec: Spec = None`): Typer reads the option
from the annotation, the default stays in the signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Spec = Annotated[str | None, typer.Option("--spec", help="Workload spec: a TOML file, or the name of a built-in spec (default: fraud-30).", metavar="FILE|NAME")]  # fmt: skip
Scale = Annotated[float, typer.Option("--scale", help="Row-count multiplier: scale 1 is about 1.5 M rows for fraud-30.", min=0.0)]  # fmt: skip
RecordedScale = Annotated[float | None, typer.Option("--scale", help="Scale of the data in the target. Default: what featbench recorded when it loaded the data (else 1); a value that disagrees with that record is an error.", min=0.0)]  # fmt: skip
Seed = Annotated[int, typer.Option("--seed", help="Seed of data generation (and of sampling and plans).")]  # fmt: skip
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]  # fmt: skip
Target = Annotated[str, typer.Option("--target", "-t", help="postgresql://user@host/db, redis://host:6379, dynamodb://?region=…&endpoint=…, or embedded.", metavar="URL")]  # fmt: skip
Schema = Annotated[str, typer.Option("--schema", help="PostgreSQL schema featbench owns.")]  # fmt: skip
ResultsDir = Annotated[Path, typer.Option("--out", "-o", help="Directory that holds run directories.")]  # fmt: skip
RunDir = Annotated[Path, typer.Argument(help="A run directory, e.g. results/<run_id>.", metavar="RUN_DIR")]  # fmt: skip
Thresholds = Annotated[list[str] | None, typer.Option("--threshold", help="An SLO checked per ratio, as k6 does, e.g. 'p99<10ms', 'p99.9<50ms@hot=0', 'errors<0.1%' (repeatable; metrics p50 p95 p99 p99.9 max mean errors; filters @hot=, @theta=, @backend=, @strategy=). Any failed threshold: exit code 99, after everything is written.", metavar="EXPR")]  # fmt: skip
Engine = Annotated[str, typer.Option("--engine", help="local (this machine) or spark (Spark tasks on --spark-master; needs featbench[spark] and Java 17+).")]  # fmt: skip
SparkMaster = Annotated[str | None, typer.Option("--spark-master", help="Spark master URL for --engine spark (default: the active Spark session, else local[*,4]).", metavar="URL")]  # fmt: skip

# -- pricing (report and cost) ---------------------------------------------------------
Prices = Annotated[Path | None, typer.Option("--prices", help="TOML file of prices merged over the shipped defaults (see featbench/data/prices.toml).")]  # fmt: skip
ReferenceP99 = Annotated[float | None, typer.Option("--reference-p99", help="Another store's p99 in ms, to find the break-even skew when the runs hold PostgreSQL only (an assumption, flagged).", metavar="MS")]  # fmt: skip
Cu = Annotated[float | None, typer.Option("--cu", help="Lakebase capacity units (default 1).")]  # fmt: skip
HoursPerDay = Annotated[float | None, typer.Option("--hours-per-day", help="Hours of traffic a day (default 24); Lakebase compute runs these hours.")]  # fmt: skip
