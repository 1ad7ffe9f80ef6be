"""The one reconnect policy of every client: retry opening a session with backoff.

A request that fails leaves its session possibly broken (a terminated backend, a
restarted server). The client then asks the session to `recover()` (reconnect if
needed; a no-op for clients that reconnect by themselves), retried after the delays
below; all of it happens outside any timed request.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from featbench.backends.base import Session
from featbench.errors import FeatbenchError

RECONNECT_DELAYS_S = (0.0, 0.05, 0.5, 2.0, 5.0)


def _retry(fn: Callable[[], Session]) -> Session:
    last: Exception | None = None
    for delay in RECONNECT_DELAYS_S:
        if delay:
            time.sleep(delay)
        try:
            return fn()
        except FeatbenchError as e:  # server restarting, connection refused…
            last = e
    raise FeatbenchError(f"lost the connection and could not reconnect: {last}")


def open_session(factory: Callable[[], Session]) -> Session:
    """A new session from `factory`, retried with backoff."""
    return _retry(factory)


def recover(session: Session) -> Session:
    """The session, reconnected if its connection broke (retried with backoff)."""

    def again() -> Session:
        session.recover()
        return session

    return _retry(again)
