"""`featbench load` and `featbench verify`: parse the options, call the library, print."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from featbench import api
from featbench.cli.app import app
from featbench.cli.options import Json, RecordedScale, Schema, Spec, Target
from featbench.report.load_text import print_checks, print_load


@app.command()
def load(
    target: Target,
    spec: Spec = None,
    scale: float = typer.Option(
        None,
        "--scale",
        help="Row-count multiplier: scale 1 is about 1.5 M rows for fraud-30 (default 1, or the manifest's with --from-dir).",
    ),
    seed: int = typer.Option(
        None,
        "--seed",
        help="Seed of data generation (default 42, or the manifest's with --from-dir).",
    ),
    streams: int = typer.Option(
        None,
        "--streams",
        "-k",
        help="Parallel COPY streams (processes) (default: number of cores).",
    ),
    schema: Schema = "featbench",
    force: bool = typer.Option(
        False,
        "--force",
        help="Load even into a non-empty schema featbench did not create, or replace a different data set "
        "featbench loaded there. Only featbench's own tables are ever dropped.",
    ),
    from_dir: Path = typer.Option(
        None,
        "--from-dir",
        help="Load files written by `featbench generate` (checked against their manifest).",
    ),
    copy_format: str = typer.Option(
        "binary", "--copy-format", help="binary (fastest, default) or csv."
    ),
    chunk_rows: int = typer.Option(
        None,
        "--chunk-rows",
        help="Rows per COPY transaction: the unit of resuming after an interruption (default 100000).",
    ),
    as_json: Json = False,
) -> None:
    """Create the tables and stream generated rows into them with COPY, then verify.

    Re-running skips finished tables and resumes a half-loaded one; Ctrl-C leaves the
    database consistent. Primary keys are built after the data, then ANALYZE.

    Examples:
      featbench load --target postgresql://me@db.example.com/features --scale 10 --streams 4
      featbench load --target embedded --scale 0.2
      featbench generate --scale 0.1 --out data/ && featbench load --target postgresql://localhost/test --from-dir data/
    """
    res = api.load(
        target, spec=spec, scale=scale, seed=seed, streams=streams, schema=schema, force=force,
        from_dir=from_dir, copy_format=copy_format, chunk_rows=chunk_rows,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(res.as_dict(), indent=2))
    else:
        print_load(res.report)
    if not res.ok:
        raise typer.Exit(2)


@app.command()
def verify(
    target: Target,
    spec: Spec = None,
    scale: RecordedScale = None,
    seed: int = typer.Option(
        None,
        "--seed",
        help="Seed of the data (default: what featbench recorded when it loaded it, else 42).",
    ),
    schema: Schema = "featbench",
    sample: int = typer.Option(
        20, "--sample", help="Rows per table compared with the generator (by row index)."
    ),
    as_json: Json = False,
) -> None:
    """Check that the target holds exactly the data set: tables, row counts, primary keys, sampled rows.

    Scale and seed default to what featbench recorded when it loaded the data (else 1 and
    42); a --scale or --seed that disagrees with that record is an error naming both.
    Exits with code 2 and names each failing table when anything differs.

    Example: featbench verify --target postgresql://localhost/test
    """
    res = api.verify(target, spec=spec, scale=scale, seed=seed, schema=schema, sample=sample)
    if as_json:
        typer.echo(json.dumps(res.as_dict(), indent=2))
    else:
        print_checks(res.checks)
    if not res.ok:
        raise typer.Exit(2)
