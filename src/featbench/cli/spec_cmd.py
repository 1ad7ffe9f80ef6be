"""`featbench spec show|export|from-feast`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from featbench.cli.app import spec_app
from featbench.cli.options import Json, Scale, Spec

Out = Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")]  # fmt: skip


@spec_app.command("show")
def show(spec: Spec = None, scale: Scale = 1.0, as_json: Json = False) -> None:
    """Every table with its columns, rows at --scale and estimated size, and totals.

    Example: featbench spec show --scale 10
    """
    from featbench import api
    from featbench.report.spec_text import print_spec

    doc = api.spec_summary(spec, scale)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        print_spec(doc)


@spec_app.command("export")
def export(
    spec: Spec = None,
    out: Out = None,
) -> None:
    """Write a spec (default: the built-in fraud-30) as TOML, a starting point for your own.

    Example: featbench spec export -o my-spec.toml && featbench spec show --spec my-spec.toml
    """
    from featbench.progress import console
    from featbench.spec import load_spec

    text = load_spec(spec).to_toml()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        console.print(f"wrote {out}", highlight=False, markup=False)


FeatureViews = Annotated[list[str] | None, typer.Option("--feature-view", help="A feature view to describe (repeatable; default: every one).", metavar="NAME")]  # fmt: skip
RepoDir = Annotated[Path, typer.Argument(help="A Feast repository (the directory of feature_store.yaml).", metavar="REPO_DIR")]  # fmt: skip


@spec_app.command("from-feast")
def from_feast(repo_dir: RepoDir, feature_view: FeatureViews = None, out: Out = None) -> None:
    """Write a spec describing a Feast repository's PostgreSQL online store as it is: each
    feature view's table, its bytea entity key, Feast's read as the table's query (needs
    `pip install 'featbench[feast]'`). Then `featbench run --spec …` benchmarks that store.

    Example: featbench spec from-feast feature_repo -o feast.toml
    """
    from featbench.feast_spec import spec_from_feast
    from featbench.progress import console

    text = spec_from_feast(repo_dir, feature_view or ()).to_toml()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        console.print(f"wrote {out}", highlight=False, markup=False)
