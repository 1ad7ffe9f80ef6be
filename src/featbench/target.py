"""Target URLs: which backend, where, and a form safe to print or save (no credentials)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from featbench.errors import TargetError

SCHEMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "redis": "redis",
    "rediss": "redis",
    "dynamodb": "dynamodb",
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
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_target(url: str) -> Target:
    """Parse a target URL: postgresql://…, redis://…, dynamodb://…, or `embedded`."""
    url = url.strip()
    if url in ("embedded", "postgresql://embedded", "postgres://embedded"):
        return Target("postgres", "embedded", embedded=True)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise TargetError(
            f"unknown target {redact(url)!r}: use postgresql://…, redis://…, "
            "dynamodb://?region=…&endpoint=…, or embedded"
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
