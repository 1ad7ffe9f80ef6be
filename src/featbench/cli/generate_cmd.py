"""`featbench generate`: write the data set to files (Parquet or CSV) with checksums."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from featbench.cli.app import app
from featbench.cli.options import FileFormat, Json, Scale, Seed, Spec

Out = Annotated[Path, typer.Option("--out", "-o", help="Directory to write the tables and manifest.json to.")]  # fmt: skip
Fmt = Annotated[FileFormat, typer.Option("--format", help="parquet or csv (header-less, what COPY reads).")]  # fmt: skip


@app.command()
def generate(
    out: Out = ...,
    spec: Spec = None,
    scale: Scale = 1.0,
    seed: Seed = 42,
    fmt: Fmt = "parquet",
    as_json: Json = False,
) -> None:
    """Generate the data set deterministically: same spec, scale and seed give the same bytes.

    Example: featbench generate --scale 0.1 --seed 7 --out data/ --format csv
    """
    from rich.markup import escape

    from featbench.datafiles import write_dataset
    from featbench.progress import console, make_progress
    from featbench.spec import check_scale, load_spec, scaled_rows

    s = load_spec(spec)
    s.check_generatable()
    check_scale(scale)
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
            f"wrote {len(manifest['tables'])} tables, {manifest['total_rows']:,} rows to {escape(str(out))}"
        )
