"""`featbench load` and `featbench verify`: parse the options, call the library, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from featbench.cli.app import app
from featbench.cli.options import (
    CopyFormat,
    Engine,
    Json,
    PasswordCommand,
    RecordedScale,
    Schema,
    SparkMaster,
    Spec,
    Target,
    Yes,
)

LoadScale = Annotated[float | None, typer.Option("--scale", help="Row-count multiplier: scale 1 is about 1.5 M rows for fraud-30 (default 1, or the manifest's with --from-dir).")]  # fmt: skip
LoadSeed = Annotated[int | None, typer.Option("--seed", help="Seed of data generation (default 42, or the manifest's with --from-dir).")]  # fmt: skip
Streams = Annotated[int | None, typer.Option("--streams", "-k", help="Parallel COPY streams (processes) (default: number of cores).")]  # fmt: skip
Force = Annotated[bool, typer.Option("--force", help="Load even into a non-empty schema featbench did not create, or replace a different data set featbench loaded there. Only featbench's own tables are ever dropped.")]  # fmt: skip
FromDir = Annotated[Path | None, typer.Option("--from-dir", help="Load files written by `featbench generate` (checked against their manifest).")]  # fmt: skip
CopyFormatOpt = Annotated[CopyFormat, typer.Option("--copy-format", help="binary (fastest, default) or csv.")]  # fmt: skip
ChunkRows = Annotated[int | None, typer.Option("--chunk-rows", help="Rows per COPY transaction: the unit of resuming after an interruption (default 100000).")]  # fmt: skip
Partitions = Annotated[int | None, typer.Option("--partitions", help="Spark tasks loading at once with --engine spark (default: the cluster's parallelism).")]  # fmt: skip
VerifySeed = Annotated[int | None, typer.Option("--seed", help="Seed of the data (default: what featbench recorded when it loaded it, else 42).")]  # fmt: skip
Sample = Annotated[int, typer.Option("--sample", help="Rows per table compared with the generator (by row index).")]  # fmt: skip


def interrupted_load(target: str, schema: str) -> str:
    """What an interrupted load leaves, and how to finish it."""
    from featbench.target import parse_target

    if parse_target(target).kind == "postgres":
        kept = (
            f"every chunk committed before Ctrl-C is loaded and recorded in {schema}._load_chunks, "
            "no chunk is half-loaded"
        )
    else:
        kept = "the rows written before Ctrl-C stay and unfinished tables are marked unfinished"
    return f"{kept}; run the same load again to resume"


@app.command()
def load(
    target: Target,
    spec: Spec = None,
    scale: LoadScale = None,
    seed: LoadSeed = None,
    streams: Streams = None,
    schema: Schema = "featbench",
    force: Force = False,
    from_dir: FromDir = None,
    copy_format: CopyFormatOpt = "binary",
    chunk_rows: ChunkRows = None,
    password_command: PasswordCommand = None,
    yes: Yes = False,
    engine: Engine = "local",
    spark_master: SparkMaster = None,
    partitions: Partitions = None,
    as_json: Json = False,
) -> None:
    """Create the tables and stream generated rows into them with COPY, then verify.

    Re-running skips finished tables and resumes a half-loaded one; Ctrl-C leaves the
    database consistent. Primary keys are built after the data, then ANALYZE.

    Examples:
      featbench load --target postgresql://me@db.example.com/features --scale 10 --streams 4
      featbench load --target embedded --scale 0.2
      featbench load --target postgresql://db.example.com/features --scale 100 --engine spark --spark-master spark://head:7077
      featbench load --target 'dynamodb://?region=eu-west-1' --scale 10 --engine spark --partitions 32
      featbench generate --scale 0.1 --out data/ && featbench load --target postgresql://localhost/test --from-dir data/
    """
    from featbench import api
    from featbench.progress import console
    from featbench.report.load_text import print_load

    try:
        res = api.load(
            target, spec=spec, scale=scale, seed=seed, streams=streams, schema=schema,
            force=force, from_dir=from_dir, copy_format=copy_format, chunk_rows=chunk_rows,
            password_command=password_command, yes=yes,
            engine=engine, spark_master=spark_master, partitions=partitions,
        )  # fmt: skip
    except KeyboardInterrupt:
        # (Typer would turn Ctrl-C into a silent exit 130: say what the load left)
        console.print(f"[yellow]interrupted[/]: {interrupted_load(target, schema)}", soft_wrap=True)
        raise typer.Exit(130) from None
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
    seed: VerifySeed = None,
    schema: Schema = "featbench",
    sample: Sample = 20,
    password_command: PasswordCommand = None,
    as_json: Json = False,
) -> None:
    """Check that the target holds exactly the data set: tables, row counts, primary keys, sampled rows.

    Scale and seed default to what featbench recorded when it loaded the data (else 1 and
    42); a --scale or --seed that disagrees with that record is an error naming both.
    Exits with code 2 and names each failing table when anything differs.

    Example: featbench verify --target postgresql://localhost/test
    """
    from featbench import api
    from featbench.report.load_text import print_verified

    res = api.verify(
        target, spec=spec, scale=scale, seed=seed, schema=schema, sample=sample,
        password_command=password_command,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(res.as_dict(), indent=2))
    else:
        print_verified(res.scale, res.seed, res.scale_source, res.checks, res.spec)
    if not res.ok:
        raise typer.Exit(2)
