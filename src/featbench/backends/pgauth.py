"""Where a PostgreSQL password comes from when it is not static: a credential provider,
consulted by `pgconn.connect` at every login in every process.

A static password (URL, PGPASSWORD, ~/.pgpass) needs no provider: libpq reads it. A
provider serves passwords that change: `--password-command` (a shell command whose
stdout is the password) and Lakebase OAuth tokens (`featbench.backends.lakebase`). It
caches the credential and gets a new one before a known expiry or when a login with the
cached one is refused. Providers are picklable (client and load processes get a copy,
cache included, through a pipe); the password never goes into argv, a file, a log, a
repr or an error message.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from featbench.errors import TargetError

# Refresh this long before a known expiry, so a login never presents a token in its
# last seconds (Lakebase checks expiry at login only; an open connection keeps working).
EXPIRY_MARGIN_S = 300.0
COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Credential:
    """A user (None: the one in the conninfo) and password; `expires_at` is a UNIX time."""

    user: str | None
    password: str = field(repr=False)
    expires_at: float | None = None
    obtained_at: float = 0.0


class CredentialProvider(Protocol):
    """Returns the credential to log in with; `fresh=True` bypasses the cache."""

    source: str  # how the user names it in an error: "--password-command", "Lakebase token …"

    def get(self, *, fresh: bool = False) -> tuple[Credential, bool]:
        """(credential, whether it was obtained just now)."""
        ...

    def invalidate(self) -> None: ...

    def refused(self, user: str | None, target: str, reason: str) -> TargetError:
        """The one-line error for a login refused with a fresh credential."""
        ...


class CachingProvider:
    """The cache and its rules: a new credential when there is none, or near its expiry
    (EXPIRY_MARGIN_S before it, or a quarter of its lifetime if that is shorter).
    Subclasses implement `_obtain`."""

    source = "a credential provider"

    def __init__(self) -> None:
        self._cached: Credential | None = None
        self._lock = threading.Lock()

    def _obtain(self) -> Credential:
        raise NotImplementedError

    def _stale(self, c: Credential, now: float) -> bool:
        if c.expires_at is None:
            return False
        margin = min(EXPIRY_MARGIN_S, (c.expires_at - c.obtained_at) / 4)
        return now >= c.expires_at - margin

    def get(self, *, fresh: bool = False) -> tuple[Credential, bool]:
        with self._lock:
            c = self._cached
            if c is not None and not fresh and not self._stale(c, time.time()):
                return c, False
            self._cached = c = self._obtain()
            return c, True

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def refused(self, user: str | None, target: str, reason: str) -> TargetError:
        who = f" for user {user}" if user else ""
        return TargetError(
            f"{target} refused the password from {self.source}{who} ({reason}), although it "
            "had just been obtained: check what it prints and the user name"
        )

    # pickling: the cache travels (in memory, through a pipe), the lock does not
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.source}>"


class CommandCredentials(CachingProvider):
    """`--password-command CMD`: CMD runs through the shell; its stdout (trailing newline
    removed) is the password. Its expiry is unknown: it runs again when a login with the
    cached password is refused."""

    source = "--password-command"

    def __init__(self, command: str) -> None:
        if not command.strip():
            raise TargetError(
                "--password-command is empty: give a command that prints the password"
            )
        super().__init__()
        self.command = command

    def _obtain(self) -> Credential:
        try:
            done = subprocess.run(
                self.command,
                shell=True,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise TargetError(
                f"--password-command did not finish within {COMMAND_TIMEOUT_S:g} s"
            ) from None
        if done.returncode != 0:
            # stderr may say why (file not found…); stdout might hold a secret: never shown
            why = (done.stderr or "").strip().splitlines()
            tail = f": {why[-1][:200]}" if why else ""
            raise TargetError(f"--password-command failed (exit code {done.returncode}){tail}")
        password = (done.stdout or "").rstrip("\r\n")
        if not password:
            raise TargetError("--password-command printed nothing: it must print the password")
        return Credential(None, password, None, time.time())

    def __repr__(self) -> str:  # the command itself may hold a secret
        return "<CommandCredentials --password-command>"
