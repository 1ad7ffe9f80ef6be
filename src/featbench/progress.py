"""One place that builds progress bars, so every long job looks and behaves the same."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


class Interrupt:
    """Ctrl-C as a flag a long job checks between units of work (chunks, batches).

    A KeyboardInterrupt raised at an arbitrary bytecode can be lost (seen here: about one
    SIGINT in four sent while `generate` wrote its first table, on a busy machine); a
    flag cannot. `check()` raises KeyboardInterrupt where the job can stop cleanly."""

    def __init__(self) -> None:
        self.requested = False

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[Interrupt]:
    """Record Ctrl-C (SIGINT) instead of raising it; a second Ctrl-C raises at once.
    Only where Python's default handler is in place and on the main thread: elsewhere
    SIGINT belongs to someone else (ignored in the background, or an application's)."""
    it = Interrupt()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield it
        return

    def handler(signum: int, frame: Any) -> None:
        if it.requested:
            raise KeyboardInterrupt
        it.requested = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield it
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
