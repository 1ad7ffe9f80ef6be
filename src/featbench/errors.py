"""The one exception type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class FeatbenchError(Exception):
    """A problem the user can fix; its message says what to fix.

    The CLI prints ``error: <message>`` and exits with code 2 (traceback only with --debug).
    """


class SpecError(FeatbenchError):
    """A workload spec that is malformed or inconsistent."""


class TargetError(FeatbenchError):
    """A target that cannot be reached, authenticated or used."""


class ConnectionLost(TargetError):
    """A connection to the target broke (terminated, server restarted); the next call
    reconnects, so retrying may succeed (runner/reconnect.py decides for how long)."""
