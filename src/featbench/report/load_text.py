"""What `load`, `verify` and `demo` print about a data set being loaded and checked, as
text or as JSON."""

from __future__ import annotations

from typing import Any

from featbench.backends.base import LoadReport, TableCheck
from featbench.progress import console


def load_line(r: LoadReport) -> str:
    """One line: tables loaded and skipped, rows, bytes, time, streams, COPY rate."""
    if r.tables_loaded == 0 and r.rows == 0:
        return f"nothing to load: all {r.tables_skipped} tables were already loaded"
    rate = ""
    rows_per_s = getattr(r, "rows_per_s", None)
    mb_per_s = getattr(r, "mb_per_s", None)
    if rows_per_s and mb_per_s:
        rate = f" — COPY {rows_per_s:,.0f} rows/s, {mb_per_s:,.1f} MB/s"
    streams = getattr(r, "streams", None)
    with_streams = f" with {streams} stream{'s' if streams != 1 else ''}" if streams else ""
    return (
        f"loaded {r.tables_loaded} tables ({r.tables_skipped} already loaded), {r.rows:,} rows, "
        f"{r.bytes / 1e6:,.1f} MB in {r.seconds:,.1f} s{with_streams}{rate}"
    )


def print_load(r: LoadReport) -> None:
    """The store's notes, the load line and the checks."""
    for note in getattr(r, "notes", []):
        console.print(f"  {note}", highlight=False)
    console.print(load_line(r), highlight=False)
    print_checks(r.checks)


def print_checks(checks: list[TableCheck]) -> None:
    bad = [c for c in checks if not c.ok]
    if not checks:
        console.print("[yellow]verify: no table was checked[/]")
        return
    if not bad:
        console.print(
            f"[green]verify: all {len(checks)} tables OK[/] (rows, primary keys, sampled rows)"
        )
        return
    console.print(f"[red]verify: {len(bad)} of {len(checks)} tables failed[/]")
    for c in bad:
        shown = c.problems[:3] + ([f"… {len(c.problems) - 3} more"] if len(c.problems) > 3 else [])
        console.print(
            f"  [red]FAIL[/] {c.table}: " + "; ".join(shown), highlight=False, soft_wrap=True
        )


def checks_doc(checks: list[TableCheck]) -> list[dict[str, Any]]:
    return [{"table": c.table, "ok": c.ok, "rows": c.rows, "problems": c.problems} for c in checks]


def load_report_doc(report: LoadReport) -> dict[str, Any]:
    """A load report as JSON: the store's own `to_dict` where it has one."""
    to_dict = getattr(report, "to_dict", None)
    if to_dict is not None:
        return dict(to_dict())
    return {
        "tables_loaded": report.tables_loaded,
        "tables_skipped": report.tables_skipped,
        "rows": report.rows,
        "bytes": report.bytes,
        "seconds": report.seconds,
        "ok": all(c.ok for c in report.checks),
        "checks": checks_doc(report.checks),
    }
