"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path

import typer

SpecOpt = typer.Option(
    None,
    "--spec",
    help="Workload spec: a TOML file, or the name of a built-in spec (default: fraud-30).",
    metavar="FILE|NAME",
)
ScaleOpt = typer.Option(
    1.0, "--scale", help="Row-count multiplier: scale 1 is about 1.5 M rows for fraud-30.", min=0.0
)
SeedOpt = typer.Option(42, "--seed", help="Seed of data generation (and of sampling and plans).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
TargetOpt = typer.Option(
    ...,
    "--target",
    "-t",
    help="postgresql://user@host/db, redis://host:6379, dynamodb://?region=…&endpoint=…, or embedded.",
    metavar="URL",
)
SchemaOpt = typer.Option("featbench", "--schema", help="PostgreSQL schema featbench owns.")


def spec_path(value: Path | str | None) -> str | None:
    return None if value is None else str(value)
