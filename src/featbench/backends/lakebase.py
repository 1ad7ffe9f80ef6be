"""`lakebase://INSTANCE[/DATABASE]` targets: Databricks Lakebase through the databricks-sdk.

The workspace and its authentication are the SDK's own (environment, a `~/.databrickscfg`
profile named with `?profile=`, or the job's identity on Databricks). featbench looks the
instance up (read/write host, state, capacity, nodes), logs in as the current Databricks
identity (or the user in the URL) with an OAuth token generated for the instance, and
gets a new token before the old one expires (one hour) and whenever a login is refused:
Lakebase checks expiry at login only, so every new connection — a reconnect, a load
stream, a client process — needs a token that is still valid. Other query parameters are
libpq's (sslmode, sslrootcert, port, connect_timeout…) and go to the connection as given.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from featbench.backends import pgconn
from featbench.backends.pgauth import CachingProvider, Credential
from featbench.errors import TargetError
from featbench.target import Target

DEFAULT_DATABASE = "databricks_postgres"  # the database every Lakebase instance has
TOKEN_LIFETIME_S = 3600.0  # when Databricks does not say (it does: expiration_time)
_OWN_PARAMS = ("profile", "user")
_EXTRA_HINT = "pip install 'featbench[lakebase]'"
_UP_STATES = ("AVAILABLE", "UPDATING", "FAILING_OVER")  # accepting connections


@dataclass(frozen=True)
class LakebaseUrl:
    instance: str
    database: str
    user: str | None  # None: the current Databricks identity
    profile: str | None  # a ~/.databrickscfg profile; None: the SDK's default chain
    libpq: tuple[tuple[str, str], ...]  # other query parameters, passed to libpq


def parse(url: str) -> LakebaseUrl:
    parts = urlsplit(url)
    if parts.password is not None:
        raise TargetError(
            "a lakebase:// target takes no password: featbench generates a token for the "
            "Databricks identity (remove ':…' before '@')"
        )
    instance = unquote(parts.hostname or "") if parts.netloc else ""
    if not instance:
        raise TargetError(
            "lakebase:// needs the instance name: lakebase://INSTANCE[/DATABASE][?profile=…]"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {k: v for k, v in query if k in _OWN_PARAMS}
    user = unquote(parts.username) if parts.username else own.get("user") or None
    return LakebaseUrl(
        instance=instance,
        database=unquote(parts.path.lstrip("/")) or DEFAULT_DATABASE,
        user=user,
        profile=own.get("profile") or None,
        libpq=tuple((k, v) for k, v in query if k not in _OWN_PARAMS),
    )


def workspace_client(profile: str | None) -> Any:
    """The SDK's client for the configured workspace; one-line errors when the SDK is
    missing or no workspace authentication is configured."""
    try:
        from databricks.sdk import WorkspaceClient
    except ImportError:
        raise TargetError(
            f"lakebase:// targets need the databricks-sdk package: {_EXTRA_HINT}"
        ) from None
    try:
        return WorkspaceClient(profile=profile) if profile else WorkspaceClient()
    except ValueError as e:  # the SDK's "cannot configure default credentials", bad profile…
        where = f"profile {profile!r} of ~/.databrickscfg" if profile else "the environment"
        raise TargetError(
            f"no usable Databricks workspace authentication in {where}: set DATABRICKS_HOST "
            "and DATABRICKS_TOKEN (or another SDK auth method), or name a ~/.databrickscfg "
            f"profile with ?profile=NAME ({_sdk_reason(e)})"
        ) from None


def _sdk_reason(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return (text.split(". Config:", 1)[0] or type(e).__name__)[:300]


def _api_error(e: BaseException, what: str, instance: str) -> TargetError:
    """An SDK error (NotFound, PermissionDenied, Unauthenticated…) as one line."""
    from databricks.sdk import errors

    reason = _sdk_reason(e)
    if isinstance(e, errors.NotFound):
        return TargetError(
            f"Lakebase instance {instance!r} not found in the workspace: check the name "
            f"(Compute > Database instances) and the workspace ({reason})"
        )
    if isinstance(e, errors.PermissionDenied):
        return TargetError(
            f"no permission to {what} for Lakebase instance {instance!r}: the Databricks "
            f"identity needs CAN USE (or more) on it ({reason})"
        )
    if isinstance(e, errors.Unauthenticated):
        return TargetError(
            f"Databricks refused the workspace credentials while trying to {what} for "
            f"Lakebase instance {instance!r}: renew the token or profile ({reason})"
        )
    return TargetError(f"could not {what} for Lakebase instance {instance!r}: {reason}")


def capacity_cu(capacity: str | None) -> float | None:
    """'CU_4' -> 4.0 (None when absent or not of that form)."""
    if not capacity:
        return None
    try:
        return float(capacity.upper().removeprefix("CU_"))
    except ValueError:
        return None


def _expiry(text: str | None, now: float) -> float:
    if text:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return now + TOKEN_LIFETIME_S


class LakebaseCredentials(CachingProvider):
    """OAuth tokens for one instance, for `user`. The SDK client is not pickled: another
    process builds its own from the same configuration when it needs a new token."""

    def __init__(
        self, instance: str, user: str, profile: str | None, client: Any | None = None
    ) -> None:
        super().__init__()
        self.instance = instance
        self.user = user
        self.profile = profile
        self._client = client
        self.source = f"Databricks (a Lakebase token for instance {instance})"

    def _obtain(self) -> Credential:
        if self._client is None:
            self._client = workspace_client(self.profile)
        now = time.time()
        try:
            cred = self._client.database.generate_database_credential(
                instance_names=[self.instance], request_id=str(uuid.uuid4())
            )
        except Exception as e:  # noqa: BLE001 - SDK errors become one line
            raise _api_error(e, "generate a database credential", self.instance) from None
        if not cred.token:
            raise TargetError(
                f"Databricks returned no token for Lakebase instance {self.instance!r}"
            )
        return Credential(self.user, cred.token, _expiry(cred.expiration_time, now), now)

    def refused(self, user: str | None, target: str, reason: str) -> TargetError:
        return TargetError(
            f"{target} refused a Lakebase token generated just now for user {user} ({reason}): "
            f"the identity needs a PostgreSQL role on instance {self.instance} (add it under "
            "the instance's Permissions), or name the user the token is for with "
            "lakebase://USER@INSTANCE (an e-mail's @ written %40)"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_client"] = None
        return state


def resolve(target: Target) -> tuple[pgconn.PgEndpoint, dict[str, Any]]:
    """The endpoint to connect to (host from Databricks, tokens from the provider) and
    what the manifest records about the instance (never the token)."""
    lb = parse(target.url)
    client = workspace_client(lb.profile)
    try:
        inst = client.database.get_database_instance(name=lb.instance)
    except Exception as e:  # noqa: BLE001
        raise _api_error(e, "look up the instance", lb.instance) from None
    state = inst.state.value if inst.state is not None else None
    if inst.effective_stopped or inst.stopped or state == "STOPPED":
        raise TargetError(
            f"Lakebase instance {lb.instance!r} is stopped: start it in the workspace "
            "(Compute > Database instances), then run again"
        )
    if state is not None and state not in _UP_STATES:
        raise TargetError(
            f"Lakebase instance {lb.instance!r} is {state.lower()}, not available: wait until "
            "it is AVAILABLE, then run again"
        )
    if not inst.read_write_dns:
        raise TargetError(f"Lakebase instance {lb.instance!r} has no read/write host name yet")
    user = lb.user
    if user is None:
        try:
            user = client.current_user.me().user_name
        except Exception as e:  # noqa: BLE001
            raise _api_error(e, "find the current Databricks identity", lb.instance) from None
        if not user:
            raise TargetError(
                "the current Databricks identity has no user name: give one with "
                "lakebase://USER@INSTANCE"
            )
    url = f"postgresql://{quote(user, safe='')}@{inst.read_write_dns}/{quote(lb.database, safe='')}"
    if lb.libpq:
        url += "?" + urlencode(lb.libpq, quote_via=quote)  # libpq reads %20, not "+"
    capacity = inst.effective_capacity or inst.capacity
    info = {
        "instance": lb.instance,
        "host": inst.read_write_dns,
        "database": lb.database,
        "user": user,
        "state": state,
        "capacity": capacity,
        "capacity_cu": capacity_cu(capacity),
        "node_count": inst.effective_node_count or inst.node_count,
        "pg_version": inst.pg_version,
        "workspace": client.config.host,
    }
    creds = LakebaseCredentials(lb.instance, user, lb.profile, client)
    return pgconn.PgEndpoint(pgconn.with_tls_default(url), target.redacted, creds), info
