"""Progress of a load: one bar overall and one per table being loaded (rows/s, MB/s, ETA).

Finished tables are hidden so 30 tables do not scroll the terminal; the overall bar
keeps the totals. Drawn on stderr (``featbench.progress.console``), so `--json` output
on stdout stays clean; disabled when stderr is not a terminal.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from featbench.progress import console


def _n(x: float) -> str:
    """Compact count: 950, 4.5k, 12k, 1.47M."""
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


class _Rates(ProgressColumn):
    """rows/s and MB/s since the task started (rows loaded by this run only)."""

    def render(self, task: Any) -> Text:
        secs = task.elapsed or 0.0
        done = task.completed - task.fields.get("start_rows", 0)
        style = "progress.data.speed"
        if secs <= 0 or done <= 0:
            return Text(f"{'-':>6} rows/s {'-':>5} MB/s", style=style, no_wrap=True)
        mb = task.fields.get("bytes", 0) / 1e6 / secs
        return Text(f"{_n(done / secs):>6} rows/s {mb:>5.1f} MB/s", style=style, no_wrap=True)


class _Rows(ProgressColumn):
    def render(self, task: Any) -> Text:
        text = f"{_n(task.completed):>6}/{_n(task.total or 0)}"
        return Text(f"{text:<14}", style="progress.download", no_wrap=True)


class LoadProgress:
    def __init__(self, plans: list[Any], enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description:<44}"),
            BarColumn(bar_width=16),
            TaskProgressColumn(),
            _Rows(),
            _Rates(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        total = sum(p.rows for p in plans if not p.done)
        done = sum(p.rows_done for p in plans if not p.done)
        self.overall = self.progress.add_task(
            "all tables", total=total, completed=done, bytes=0, start_rows=done
        )
        self.tables: dict[str, Any] = {}
        self.bytes: dict[str, int] = {}
        self.total_bytes = 0
        self.plans = {p.name: p for p in plans}

    def _task(self, table: str) -> Any:
        if table not in self.tables:
            p = self.plans[table]
            self.tables[table] = self.progress.add_task(
                table, total=p.rows, completed=p.rows_done, bytes=0, start_rows=p.rows_done
            )
        return self.tables[table]

    def advance(self, table: str, rows: int, nbytes: int) -> None:
        if rows <= 0 and nbytes <= 0:
            return
        tid = self._task(table)
        self.bytes[table] = self.bytes.get(table, 0) + nbytes
        self.total_bytes += nbytes
        self.progress.update(tid, advance=rows, bytes=self.bytes[table])
        self.progress.update(self.overall, advance=rows, bytes=self.total_bytes)

    def table_done(self, table: str) -> None:
        if table in self.tables:
            self.progress.update(self.tables[table], visible=False)

    def __enter__(self) -> LoadProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)
