"""Opening PostgreSQL connections, with libpq's failures turned into one-line `TargetError`s.

The conninfo may carry a password, so it is never put into a message: messages name
the target by its redacted form (see `featbench.target.redact`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg

from featbench.errors import TargetError

APPLICATION_NAME = "featbench"
CONNECT_TIMEOUT_S = 10

# (pattern in libpq's message, what to tell the user). First match wins.
_TRANSLATIONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"password authentication failed for user \"([^\"]*)\"", re.I),
        "wrong password for user {0} at {target}: check the password in the URL, PGPASSWORD or ~/.pgpass",
    ),
    (
        re.compile(r"(no password supplied|fe_sendauth: no password)", re.I),
        "{target} asks for a password and none was given: put it in PGPASSWORD or ~/.pgpass "
        "(or in the URL)",
    ),
    (
        re.compile(r"database \"([^\"]*)\" does not exist", re.I),
        "database {0!s} does not exist at {target}: create it (createdb {0!s}) or name another "
        "one in the URL",
    ),
    (
        re.compile(r"role \"([^\"]*)\" does not exist", re.I),
        "user {0!s} does not exist at {target}: name an existing user in the URL",
    ),
    (
        re.compile(r"(failed to resolve host|could not translate host name)", re.I),
        "cannot resolve the host of {target}: check the host name",
    ),
    (
        re.compile(r"(Connection refused|No such file or directory|could not connect)", re.I),
        "cannot reach PostgreSQL at {target}: is the server running and accepting connections "
        "there? (or use --target embedded)",
    ),
    (
        re.compile(r"(timeout expired|timed out)", re.I),
        "timed out connecting to {target}: check host, port and firewall",
    ),
    (
        re.compile(r"no pg_hba.conf entry", re.I),
        "{target} refuses connections from this host (no pg_hba.conf entry): ask the server's "
        "administrator, or check user, database and sslmode",
    ),
    (
        re.compile(r"too many (clients|connections)", re.I),
        "{target} has no free connections (max_connections reached): use fewer --streams or "
        "close other clients",
    ),
    (
        re.compile(r"(permission denied|not permitted to log in)", re.I),
        "the user of {target} may not connect to it: {msg}",
    ),
]


def translate(err: BaseException, target: str) -> TargetError:
    """A one-line TargetError for a failed connection; `target` must already be redacted."""
    msg = str(err).strip()
    for pat, text in _TRANSLATIONS:
        m = pat.search(msg)
        if m:
            groups = [g for g in m.groups()]
            return TargetError(text.format(*groups, target=target, msg=_first_line(msg)))
    return TargetError(f"cannot connect to {target}: {_first_line(msg)}")


def _first_line(msg: str) -> str:
    # libpq puts the useful part after "failed:" and hints on later lines
    line = msg.splitlines()[0] if msg else "unknown error"
    return line.split("failed: ", 1)[-1].removeprefix("FATAL:").strip()


def _scrub(msg: str, conninfo: str) -> str:
    """Remove the password from a libpq message that quotes part of a malformed conninfo."""
    try:
        pw = urlsplit(conninfo).password if "://" in conninfo else None
    except ValueError:
        pw = None
    for secret in filter(None, [pw, unquote(pw) if pw else None]):
        msg = msg.replace(secret, "***")
    return msg


def connect(
    conninfo: str, *, redacted: str, autocommit: bool = True, **kwargs: Any
) -> psycopg.Connection[Any]:
    """Connect, or raise a TargetError that says what to fix (never containing the password)."""
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    kwargs.setdefault("application_name", APPLICATION_NAME)
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as e:
        raise translate(_ScrubbedError(_scrub(str(e), conninfo)), redacted) from None
    except psycopg.ProgrammingError as e:  # malformed conninfo
        msg = _first_line(_scrub(str(e), conninfo))
        raise TargetError(f"invalid PostgreSQL target {redacted}: {msg}") from None


class _ScrubbedError(Exception):
    pass
