"""One place that builds progress bars, so every long job looks and behaves the same."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

# Diagnostics go to stderr so that --json output on stdout stays machine-readable.
console = Console(stderr=True)


def make_progress(*, bytes_speed: bool = False, disable: bool | None = None) -> Progress:
    cols = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
    ]
    if bytes_speed:
        cols.append(TransferSpeedColumn())
    cols += [TimeElapsedColumn(), TimeRemainingColumn()]
    if disable is None:
        disable = not sys.stderr.isatty()
    return Progress(*cols, console=console, disable=disable, transient=False)
