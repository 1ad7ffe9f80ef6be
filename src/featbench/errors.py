"""The one exception type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class FeatbenchError(Exception):
    """A problem the user can fix; its message says what to fix.

    The CLI prints ``error: <message>`` and exits with `exit_code` (2: wrong input;
    traceback only with --debug).
    """

    exit_code = 2


class SpecError(FeatbenchError):
    """A workload spec that is malformed or inconsistent."""


class TargetError(FeatbenchError):
    """A target that cannot be reached, authenticated or used."""


class WriteError(FeatbenchError):
    """Results that could not be written (a full disk, say): the run stopped as `failed`
    and what was written before is kept. Exit code 1: the input was not wrong."""

    exit_code = 1

    def __init__(
        self,
        what: str,
        outcome: str = "the run stopped (status failed), what was written before is kept",
    ) -> None:
        super().__init__(f"{what}; {outcome}")
        self.what = what  # e.g. "cannot write summary.json in results/r1: no space left on device"


class ConnectionLost(TargetError):
    """A connection to the target broke (terminated, server restarted); the next call
    reconnects, so retrying may succeed (runner/reconnect.py decides for how long)."""
