"""What `featbench spec show` prints: a table per table of the spec, and the totals."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def print_spec(doc: dict[str, Any], out: Console | None = None) -> None:
    """`doc`: featbench.api.spec_summary's document."""
    tab = Table(
        title=f"{doc['spec']} at scale {doc['scale']:g}  "
        f"({len(doc['entities'])} entities, {len(doc['tables'])} tables)"
    )
    for col in ("table", "cols", "column types", "rows", "row bytes", "size"):
        tab.add_column(col, justify="left" if col in ("table", "column types") else "right")
    for r in doc["tables"]:
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
    tab.add_row("total", "", "", f"{doc['total_rows']:,}", "", _mb(doc["total_bytes"]))
    (out or Console()).print(tab)
