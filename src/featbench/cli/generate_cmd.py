"""`featbench generate`: write the data set to files (Parquet or CSV) with checksums."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from featbench.cli.app import app
from featbench.cli.options import Engine, FileFormat, Json, Scale, Seed, SparkMaster, Spec, Yes

Out = Annotated[Path, typer.Option("--out", "-o", help="Directory to write the tables and manifest.json to.")]  # fmt: skip
Fmt = Annotated[FileFormat, typer.Option("--format", help="parquet or csv (header-less, what COPY reads); with --engine spark: parquet or delta (one table directory each).")]  # fmt: skip
Partitions = Annotated[int | None, typer.Option("--partitions", help="Spark tasks per table with --engine spark (default: one per 200,000 rows).")]  # fmt: skip


@app.command()
def generate(
    out: Out = ...,
    spec: Spec = None,
    scale: Scale = 1.0,
    seed: Seed = 42,
    fmt: Fmt = "parquet",
    yes: Yes = False,
    engine: Engine = "local",
    spark_master: SparkMaster = None,
    partitions: Partitions = None,
    as_json: Json = False,
) -> None:
    """Generate the data set deterministically: same spec, scale and seed give the same bytes.

    Examples:
      featbench generate --scale 0.1 --seed 7 --out data/ --format csv
      featbench generate --scale 100 --engine spark --format delta --out /Volumes/main/features/raw
    """
    from rich.markup import escape

    from featbench.datafiles import write_dataset
    from featbench.progress import console, interruptible, make_progress
    from featbench.sizing import check_size, estimate, free_bytes
    from featbench.spec import check_scale, load_spec

    s = load_spec(spec)
    s.check_generatable()
    size = estimate(s, check_scale(scale))
    if engine != "local":
        from featbench import api

        check_size(size, scale=scale, free=None, yes=yes, action="generate")
        manifest = api.generate_on_spark(
            s, scale, seed, str(out), fmt=fmt, engine=engine, spark_master=spark_master,
            partitions=partitions,
        )  # fmt: skip
        if as_json:
            typer.echo(json.dumps(manifest, indent=2))
        else:
            console.print(
                f"wrote {len(manifest['tables'])} {fmt} tables, {manifest['total_rows']:,} rows "
                f"to {escape(str(out))}"
            )
        return
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("--format must be parquet or csv (delta needs --engine spark)")
    if spark_master is not None or partitions is not None:
        raise typer.BadParameter("--spark-master and --partitions go with --engine spark")
    free = free_bytes(out)
    where = None if free is None else (free, str(out))
    check_size(size, scale=scale, free=where, yes=yes, action="generate")
    total = size.rows
    try:
        with interruptible() as stop, make_progress() as prog:
            task = prog.add_task("generate", total=total)

            def on_rows(_table: str, n: int) -> None:
                prog.advance(task, n)
                stop.check()  # Ctrl-C stops between batches

            manifest = write_dataset(s, scale, seed, out, fmt=fmt, on_rows=on_rows)
    except KeyboardInterrupt:
        console.print(
            f"[yellow]interrupted[/]: {escape(str(out))} holds the tables finished before Ctrl-C "
            "but no manifest.json (the table being written was removed), so load --from-dir "
            "refuses it; run generate again",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    if as_json:
        typer.echo(json.dumps(manifest, indent=2))
    else:
        console.print(
            f"wrote {len(manifest['tables'])} tables, {manifest['total_rows']:,} rows to {escape(str(out))}"
        )
