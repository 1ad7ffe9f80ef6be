"""Target URLs: which backend, where, and a form safe to print or save (no credentials)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from featbench.errors import TargetError

SCHEMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "redis": "redis",
    "rediss": "redis",
    "dynamodb": "dynamodb",
    "lakebase": "postgres",  # lakebase://INSTANCE[/DATABASE]: host and token from Databricks
}
_SECRET_PARAMS = {"password", "sslpassword", "aws_secret_access_key", "secret", "token"}


@dataclass(frozen=True)
class Target:
    """A parsed target. `url` may hold a password: never log or save it, use `redacted`."""

    kind: str  # "postgres" | "redis" | "dynamodb"
    url: str
    embedded: bool = False

    @property
    def redacted(self) -> str:
        return redact(self.url)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower() if "://" in self.url else self.url

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return f"Target(kind={self.kind!r}, url={self.redacted!r})"

    __str__ = __repr__


def redact(url: str) -> str:
    """The URL with any password and secret query parameters removed."""
    if url == "embedded":
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: drop user info and query text
        return re.sub(r"(?<=//)[^/?#]*@", "", url.split("?", 1)[0].split("#", 1)[0])
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{host}" if user else host
    query = urlencode(
        [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query)]
    )
    out = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    if not netloc and "://" in url:  # urlunsplit drops an empty netloc's //
        out = out.replace(":", "://", 1)
    return out


_LIBPQ_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*")


def libpq_pairs(text: str) -> list[tuple[str, str]]:
    """libpq's key=value connection string (`host=db dbname=x application_name='a b'`) as pairs:
    values bare or single-quoted, backslash escapes a quote or a backslash."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        m = _LIBPQ_KEY.match(text, i)
        if m is None:
            raise TargetError(
                f"not a key=value connection string near {text[i : i + 12]!r}: "
                "write host=… dbname=… user=…, or a postgresql:// URL"
            )
        key, i, value = m.group(1), m.end(), []
        quoted = i < n and text[i] == "'"
        i += quoted
        while i < n and (quoted or not text[i].isspace()):
            c = text[i]
            if c == "\\" and i + 1 < n:
                value.append(text[i + 1])
                i += 2
                continue
            if quoted and c == "'":
                quoted = False
                i += 1
                break
            value.append(c)
            i += 1
        if quoted:
            raise TargetError(f"unterminated quoted value for {key} in the connection string")
        pairs.append((key, "".join(value)))
    return pairs


def libpq_to_url(text: str) -> str:
    """A key=value connection string as the postgresql:// URL that means the same to libpq
    (so redaction and host checks have one form to read). A socket directory or several
    hosts go in the query string, as libpq reads them there."""
    d = dict(libpq_pairs(text))
    host = d.pop("host", "")
    user = quote(d.pop("user", ""), safe="")
    password = d.pop("password", None)
    port = d.pop("port", "")
    dbname = quote(d.pop("dbname", ""), safe="")
    plain_host = host and "/" not in host and "," not in host
    if host and not plain_host:
        d = {"host": host, **d}
    userinfo = user + (f":{quote(password, safe='')}" if password is not None else "")
    netloc = (f"{userinfo}@" if userinfo else "") + (host if plain_host else "")
    if netloc and port and plain_host:
        netloc += f":{port}"
    elif port:
        d["port"] = port
    query = f"?{urlencode(d)}" if d else ""
    return f"postgresql://{netloc}/{dbname}{query}"  # urlunsplit drops an empty netloc's //


def parse_target(url: str) -> Target:
    """Parse a target: postgresql://… or postgres://… (or libpq's `host=… dbname=…`),
    redis://…, dynamodb://…, or `embedded`."""
    url = url.strip()
    if "://" not in url and _LIBPQ_KEY.match(url):
        url = libpq_to_url(url)
    if url in ("embedded", "postgresql://embedded", "postgres://embedded"):
        return Target("postgres", "embedded", embedded=True)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise TargetError(
            f"unknown target {redact(url)!r}: use postgresql://… (or host=… dbname=…), lakebase://INSTANCE/DATABASE, "
            "redis://…, dynamodb://?region=…&endpoint=…, or embedded"
        )
    kind = SCHEMES[scheme]
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a port that is not a number raises here, not in a driver
    except ValueError as e:
        raise TargetError(f"target {redact(url)!r} is not a valid URL: {e}") from None
    return Target(kind, url, embedded=(host == "embedded"))


AWS_ENDPOINT_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


def is_aws_endpoint(url: str | None) -> bool:
    """True for AWS's own endpoints (None = the default regional one); False for anything
    else — a local emulator (moto, DynamoDB Local, LocalStack) or a host of one's own."""
    if not url:
        return True
    host = (urlsplit(url if "://" in url else f"//{url}").hostname or "").lower().rstrip(".")
    return host.endswith(AWS_ENDPOINT_SUFFIXES)
