"""Opening PostgreSQL connections, with libpq's failures turned into one-line `TargetError`s.

The conninfo may carry a password, so it is never put into a message: messages name
the target by its redacted form (see `featbench.target.redact`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import psycopg

from featbench.backends.pgauth import CredentialProvider
from featbench.errors import TargetError
from featbench.target import redact

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
        re.compile(r"server does not support SSL", re.I),
        "{target} does not offer TLS, and featbench asks for it (sslmode=require) off this "
        "machine: enable ssl on the server, or add sslmode=disable to the URL on a network "
        "you trust",
    ),
    (
        re.compile(r"(SSL error|certificate|SSL SYSCALL)", re.I),
        "TLS with {target} failed ({msg}): check sslmode and sslrootcert (the CA file that "
        "signed the server's certificate; verify-full also checks the host name)",
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


def _scrub(msg: str, conninfo: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove the password from a libpq message that quotes part of a malformed conninfo."""
    try:
        pw = urlsplit(conninfo).password if "://" in conninfo else None
    except ValueError:
        pw = None
    for secret in filter(None, [pw, unquote(pw) if pw else None, *secrets]):
        msg = msg.replace(secret, "***")
    return msg


@dataclass(frozen=True)
class PgEndpoint:
    """A server whose password comes from a provider at each login (`conninfo` holds none).
    Picklable: sessions and load workers in other processes log in the same way."""

    conninfo: str = field(repr=False)  # a password in the URL loses to the provider's
    redacted: str
    credentials: CredentialProvider = field(repr=False)


# What every function that opens connections takes: a libpq conninfo/URL (password, if
# any, static: in it, PGPASSWORD or ~/.pgpass) or an endpoint with a provider.
Conninfo: TypeAlias = str | PgEndpoint


def redacted_of(conninfo: Conninfo) -> str:
    """How to name the server in a message."""
    if isinstance(conninfo, PgEndpoint):
        return conninfo.redacted
    return redact(conninfo) if "://" in conninfo else "the PostgreSQL server"


_AUTH_REFUSED = re.compile(
    r"(password authentication failed|authentication failed|invalid (oauth |access )?token|"
    r"token (has )?expired)",
    re.I,
)


def connect(
    conninfo: Conninfo, *, redacted: str | None = None, autocommit: bool = True, **kwargs: Any
) -> psycopg.Connection[Any]:
    """Connect, or raise a TargetError that says what to fix (never containing the password).

    With a `PgEndpoint`, the provider's credential is used; a login refused with a cached
    credential is retried once with a new one, a refused new one is one clear error."""
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    kwargs.setdefault("application_name", APPLICATION_NAME)
    name = redacted if redacted is not None else redacted_of(conninfo)
    if not isinstance(conninfo, PgEndpoint):
        return _connect(conninfo, name, autocommit, (), kwargs)
    provider = conninfo.credentials
    cred, fresh = provider.get()
    for attempt in range(2):
        login = dict(kwargs, password=cred.password)
        if cred.user is not None:
            login["user"] = cred.user
        try:
            return _connect(conninfo.conninfo, name, autocommit, (cred.password,), login)
        except _Refused as e:
            if fresh or attempt:
                raise provider.refused(cred.user, name, e.reason) from None
            provider.invalidate()
            cred, fresh = provider.get(fresh=True)
    raise AssertionError("unreachable")


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _connect(
    conninfo: str, redacted: str, autocommit: bool, secrets: tuple[str, ...], kwargs: Any
) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as e:
        msg = _scrub(str(e), conninfo, secrets)
        if secrets and _AUTH_REFUSED.search(msg):
            raise _Refused(_first_line(msg)) from None
        raise translate(_ScrubbedError(msg), redacted) from None
    except psycopg.ProgrammingError as e:  # malformed conninfo
        msg = _first_line(_scrub(str(e), conninfo, secrets))
        raise TargetError(f"invalid PostgreSQL target {redacted}: {msg}") from None


# -- TLS -------------------------------------------------------------------------------
def _is_local(host: str) -> bool:
    if not host or host.startswith("/") or host.startswith("@") or host == "localhost":
        return True  # a unix socket (path or abstract), or this machine by name
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def with_tls_default(url: str) -> str:
    """`url` with sslmode=require added when it names a host off this machine and neither
    it nor PGSSLMODE says otherwise (libpq's own default, prefer, falls back to plain
    text silently). A CA file given with sslrootcert must exist."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = {k.lower(): v for k, v in query}
    ca = params.get("sslrootcert")
    if ca and ca != "system" and not Path(ca).expanduser().is_file():
        raise TargetError(
            f"sslrootcert={ca} is not a file: give the CA certificate (PEM) that signed the "
            "server's certificate"
        )
    if "sslmode" in params or os.environ.get("PGSSLMODE"):
        return url
    hosts = params.get("host", "")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    names = [h for h in hosts.split(",") if h] or [
        _strip_port(h) for h in netloc.split(",") if _strip_port(h)
    ]
    if not names:
        names = [h for h in os.environ.get("PGHOST", "").split(",") if h]
    if all(_is_local(unquote(h)) for h in names):
        return url
    # appended to the query as written: re-encoding it could change other parameters
    # (libpq decodes %XX only, not "+")
    return urlunsplit(
        parts._replace(query="&".join(filter(None, [parts.query, "sslmode=require"])))
    )


def _strip_port(hostport: str) -> str:
    if hostport.startswith("["):
        return hostport[: hostport.find("]") + 1]
    return hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport


def tls_in_use(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """The connection's TLS: in use (libpq's word), and its version and cipher as the
    server reports them (pg_stat_ssl; None with a reason where that cannot be read)."""
    doc: dict[str, Any] = {
        "ssl": bool(conn.pgconn.ssl_in_use), "version": None, "cipher": None, "bits": None,
    }  # fmt: skip
    if not doc["ssl"]:
        return doc
    try:
        row = conn.execute(
            "SELECT version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    except psycopg.Error as e:  # a server that hides it: say so, never guess
        return {**doc, "unknown_because": _first_line(str(e))}
    if row is not None:
        doc.update(version=row[0], cipher=row[1], bits=row[2])
    return doc


class _ScrubbedError(Exception):
    pass
