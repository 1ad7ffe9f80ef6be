"""The one reconnect policy of a run: retry with backoff, within a total time budget.

Every connection a run holds goes through it: the clients' sessions (`open_session`,
`recover` after a failed request or EXPLAIN sample) and the run's side connections
(cache counters and SQL result rows: `ReconnectPolicy.call` around the backend's call,
which raises `ConnectionLost` when its connection broke and reopens it on the next
call). A server back within the budget (`--reconnect-timeout`, default 60 s) means
the run goes on; after it, the request side fails the run and a side figure is left
null with the reason in the manifest's warnings. All of it happens outside any timed
request: on an error only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from featbench.backends.base import Session
from featbench.errors import ConnectionLost, FeatbenchError

T = TypeVar("T")

DEFAULT_BUDGET_S = 60.0
FIRST_DELAY_S = 0.05  # the first retry is immediate, then 0.05 s, doubling…
MAX_DELAY_S = 2.0  # …up to this between two attempts


@dataclass(frozen=True)
class ReconnectPolicy:
    """Backoff (0, 0.05, 0.1, … capped at 2 s) until `budget_s` seconds have passed."""

    budget_s: float = DEFAULT_BUDGET_S

    def call(
        self,
        fn: Callable[[], T],
        what: str,
        retry_on: tuple[type[BaseException], ...] = (ConnectionLost,),
    ) -> T:
        """`fn()`, retried while it raises one of `retry_on`; a FeatbenchError naming `what`
        once the budget is spent."""
        deadline = time.monotonic() + self.budget_s
        delay = 0.0
        while True:
            try:
                return fn()
            except retry_on as e:
                last: BaseException = e
            left = deadline - time.monotonic()
            if left <= 0:
                raise FeatbenchError(
                    f"{what}: lost the connection and could not reconnect within "
                    f"{self.budget_s:g} s (--reconnect-timeout): {last}"
                )
            time.sleep(min(delay, left))
            delay = min(max(2 * delay, FIRST_DELAY_S), MAX_DELAY_S)

    def open_session(self, factory: Callable[[], Session]) -> Session:
        """A new session from `factory` (connection refused, server restarting… retried)."""
        return self.call(factory, "opening a session", (FeatbenchError,))

    def recover(self, session: Session) -> Session:
        """The session, reconnected if its connection broke."""

        def again() -> Session:
            session.recover()
            return session

        return self.call(again, "reconnecting a client", (FeatbenchError,))


class RetryingSink:
    """A result sink (SQL result tables) whose writes go through the policy."""

    def __init__(self, sink: Any, policy: ReconnectPolicy) -> None:
        self.sink = sink
        self.policy = policy

    def write_level(self, run_id: str, section: Any, ratio: dict[str, Any]) -> None:
        self.policy.call(
            lambda: self.sink.write_level(run_id, section, ratio), "writing the SQL result row"
        )
