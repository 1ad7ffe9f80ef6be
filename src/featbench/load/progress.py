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


class _Rates(ProgressColumn):
    """rows/s and MB/s since the task started."""

    def render(self, task: Any) -> Text:
        secs = task.elapsed or 0.0
        if secs <= 0 or not task.completed:
            return Text("      – rows/s       – MB/s", style="progress.data.speed")
        rows = task.completed / secs
        mb = task.fields.get("bytes", 0) / 1e6 / secs
        return Text(f"{rows:>9,.0f} rows/s {mb:>6.1f} MB/s", style="progress.data.speed")


class _Rows(ProgressColumn):
    def render(self, task: Any) -> Text:
        return Text(
            f"{int(task.completed):>11,}/{int(task.total or 0):,}", style="progress.download"
        )


class LoadProgress:
    def __init__(self, plans: list[Any], enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description:<44}"),
            BarColumn(bar_width=24),
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
        self.overall = self.progress.add_task("all tables", total=total, completed=done, bytes=0)
        self.tables: dict[str, Any] = {}
        self.bytes: dict[str, int] = {}
        self.total_bytes = 0
        self.plans = {p.name: p for p in plans}

    def _task(self, table: str) -> Any:
        if table not in self.tables:
            p = self.plans[table]
            self.tables[table] = self.progress.add_task(
                table, total=p.rows, completed=p.rows_done, bytes=0
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
