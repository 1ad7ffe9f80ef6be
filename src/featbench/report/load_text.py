"""What `load`, `verify` and `demo` print about a data set being loaded and checked, as
text or as JSON."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from featbench.backends.base import LoadReport, TableCheck
from featbench.progress import console
from featbench.spec import WorkloadSpec, scaled_rows


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
        console.print(f"  {note}", highlight=False, markup=False)
    console.print(load_line(r), highlight=False, markup=False)
    print_checks(r.checks)


def check_line(c: TableCheck) -> str:
    """One line for a failing table: its first problem (the reason), and how many more."""
    more = len(c.problems) - 1
    tail = f" (+{more} more problem{'s' if more != 1 else ''})" if more > 0 else ""
    return f"{c.table}: {c.problems[0] if c.problems else 'failed'}{tail}"


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
        console.print(f"  [red]FAIL[/] {escape(check_line(c))}", highlight=False, soft_wrap=True)


def implied_scale(checks: list[TableCheck], spec: WorkloadSpec, scale: float) -> float | None:
    """The scale the data looks loaded at, when every table's row count is off from
    `scale` by the same factor (e.g. verified at the default 1 without a load record);
    None when the counts do not tell one story."""
    by_name = {t.table_name: t for t in spec.tables}
    implied = []
    for c in checks:
        t = by_name.get(c.table)
        if t is None or c.rows is None or c.rows <= 0:
            return None
        implied.append(scale * c.rows / scaled_rows(t, scale))
    if not implied or any(c.ok for c in checks):
        return None
    lo, hi = min(implied), max(implied)
    if hi > lo * 1.05 or abs(lo / scale - 1) < 0.05:
        return None
    return float(f"{(lo + hi) / 2:.2g}")


def print_verified(scale: float, seed: int, source: str, checks: list[TableCheck], spec: WorkloadSpec) -> None:  # fmt: skip
    """`verify`: what the data was checked against, the checks, and a likely fix."""
    why = {"default": "default: the target holds no record of its load"}.get(source, source)
    console.print(f"verify against scale {scale:g} ({why}), seed {seed}", highlight=False, markup=False, soft_wrap=True)  # fmt: skip
    print_checks(checks)
    guess = implied_scale(checks, spec, scale)
    if guess is not None:
        console.print(
            f"[yellow]note:[/] every table holds about {guess / scale:.3g}× the rows expected at "
            f"scale {scale:g}: the data looks loaded at scale {guess:g} (try --scale {guess:g})",
            highlight=False,
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
