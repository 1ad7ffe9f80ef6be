"""`featbench generate`: write the data set to files (Parquet or CSV) with checksums."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from featbench import api
from featbench.cli.app import app
from featbench.cli.options import Engine, Json, Scale, Seed, SparkMaster, Spec
from featbench.datafiles import write_dataset
from featbench.progress import console, make_progress
from featbench.spec import check_scale, load_spec, scaled_rows

Out = Annotated[Path, typer.Option("--out", "-o", help="Directory to write the tables and manifest.json to.")]  # fmt: skip
Fmt = Annotated[str, typer.Option("--format", help="parquet or csv (header-less, what COPY reads); with --engine spark: parquet or delta (one table directory each).")]  # fmt: skip
SparkOut = Annotated[str | None, typer.Option("--out", "-o", help="Directory to write the tables and manifest.json to.")]  # fmt: skip
Partitions = Annotated[int | None, typer.Option("--partitions", help="Spark tasks per table with --engine spark (default: one per 200,000 rows).")]  # fmt: skip


@app.command()
def generate(
    out: Out = ...,
    spec: Spec = None,
    scale: Scale = 1.0,
    seed: Seed = 42,
    fmt: Fmt = "parquet",
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
    s = load_spec(spec)
    check_scale(scale)
    if engine != "local":
        manifest = api.generate_on_spark(
            s, scale, seed, str(out), fmt=fmt, engine=engine, spark_master=spark_master,
            partitions=partitions,
        )  # fmt: skip
        if as_json:
            typer.echo(json.dumps(manifest, indent=2))
        else:
            console.print(
                f"wrote {len(manifest['tables'])} {fmt} tables, {manifest['total_rows']:,} rows to {out}"
            )
        return
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("--format must be parquet or csv")
    if spark_master is not None or partitions is not None:
        raise typer.BadParameter("--spark-master and --partitions go with --engine spark")
    total = sum(scaled_rows(t, scale) for t in s.tables)
    with make_progress() as prog:
        task = prog.add_task("generate", total=total)
        manifest = write_dataset(
            s,
            scale,
            seed,
            out,
            fmt=fmt,
            on_rows=lambda _t, n: prog.advance(task, n),  # type: ignore[arg-type]
        )
    if as_json:
        typer.echo(json.dumps(manifest, indent=2))
    else:
        console.print(
            f"wrote {len(manifest['tables'])} tables, {manifest['total_rows']:,} rows to {out}"
        )
