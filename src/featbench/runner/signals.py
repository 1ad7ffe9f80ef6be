"""SIGTERM and SIGHUP end a run the way Ctrl-C does.

Python's default for both is to die at once, leaving the manifest `running` and the
client processes orphaned. While a run goes, they raise `Interrupted` instead (a
KeyboardInterrupt, so every `except KeyboardInterrupt` that keeps what was measured
applies): the run ends `interrupted` and the command exits 128 + the signal's number
(143 for SIGTERM, 129 for SIGHUP; 130 for Ctrl-C).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A run ended by a signal; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(e: BaseException) -> int:
    """The exit code of a command ended by `e` (a KeyboardInterrupt): 128 + signal."""
    return 128 + (e.signum if isinstance(e, Interrupted) else signal.SIGINT)


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise Interrupted (main thread only; elsewhere a
    no-op: signals are delivered to the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    fired: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        if fired:  # the run is already ending: let it finish its bookkeeping
            return
        fired.append(signum)
        raise Interrupted(signum)

    old = {s: signal.signal(s, handler) for s in HANDLED}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
