"""`featbench spec show|export`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table as RichTable

from featbench.cli.app import spec_app
from featbench.cli.options import JsonOpt, ScaleOpt, SpecOpt
from featbench.progress import console
from featbench.spec import check_scale, load_spec, scaled_rows


@spec_app.command("show")
def show(
    spec: str = SpecOpt,
    scale: float = ScaleOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every table with its columns, rows at --scale and estimated size, and totals.

    Example: featbench spec show --scale 10
    """
    s = load_spec(spec)
    check_scale(scale)
    rows = []
    for t in s.tables:
        n = scaled_rows(t, scale)
        rb = s.row_bytes(t)
        rows.append(
            {
                "table": t.table_name,
                "entity": t.entity,
                "family": t.family,
                "window": t.window,
                "columns": [
                    {"name": c.name, "type": c.type, "gen": c.generator} for c in t.columns
                ],
                "rows": n,
                "row_bytes": rb,
                "bytes": n * rb,
            }
        )
    total_rows = sum(r["rows"] for r in rows)
    total_bytes = sum(r["bytes"] for r in rows)
    if as_json:
        doc = {
            "spec": s.name,
            "fingerprint": s.fingerprint(),
            "scale": scale,
            "entities": [e.model_dump() for e in s.entities],
            "tables": rows,
            "total_rows": total_rows,
            "total_bytes": total_bytes,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    tab = RichTable(
        title=f"{s.name} at scale {scale:g}  ({len(s.entities)} entities, {len(s.tables)} tables)"
    )
    for col in ("table", "cols", "column types", "rows", "row bytes", "size"):
        tab.add_column(
            col, justify="right" if col in ("cols", "rows", "row bytes", "size") else "left"
        )
    for r in rows:
        types = ", ".join(f"{c['name']}:{c['type']}" for c in r["columns"])
        tab.add_row(
            r["table"],
            str(len(r["columns"])),
            types if len(types) < 60 else types[:57] + "…",
            f"{r['rows']:,}",
            str(r["row_bytes"]),
            _mb(r["bytes"]),
        )
    tab.add_section()
    tab.add_row("total", "", "", f"{total_rows:,}", "", _mb(total_bytes))
    Console().print(tab)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@spec_app.command("export")
def export(
    spec: str = SpecOpt,
    out: Path = typer.Option(None, "--out", "-o", help="File to write (default: stdout)."),
) -> None:
    """Write a spec (default: the built-in fraud-30) as TOML, a starting point for your own.

    Example: featbench spec export -o my-spec.toml && featbench spec show --spec my-spec.toml
    """
    text = load_spec(spec).to_toml()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        console.print(f"wrote {out}")
