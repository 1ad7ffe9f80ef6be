"""DynamoDB backend (boto3, low-level client).

Target: ``dynamodb://?region=…&endpoint=…`` (both optional; region falls back to the AWS
configuration, credentials always come from the standard AWS chain: environment,
``AWS_PROFILE``/``?profile=``, shared files, instance role). ``dynamodb://embedded``
starts a local moto server (`embedded_dynamodb`). Other query options: ``layout``,
``namespace``, ``consistent`` (true/false).

Layouts:

* ``table-per-feature-table`` (default; the seed's cost assumption): one DynamoDB table
  per feature table, named ``<namespace>.<table>``, partition key = the spec's key
  column (S for hex keys, N for bigint keys).
* ``single-table``: one table ``<namespace>--single-table`` with ``pk`` (the entity key as
  a string) and ``sk`` (the feature table's name).

Both layouts keep a meta table ``<namespace>--meta`` (one JSON record per feature table:
spec, scale, seed, finished or not, measured item sizes). Tables are created on demand
(PAY_PER_REQUEST) and tagged ``featbench=<namespace>``.

Values are typed exactly (`typing_codec`): numbers go as N strings with the digits of
``Decimal(repr(x))`` for doubles, timestamps as N epoch microseconds, booleans as BOOL.

Strategies: ``batch`` — BatchGetItem with every key of the request (up to 100 per call),
UnprocessedKeys retried with exponential backoff and counted; ``serial`` — one GetItem
per table, timed per entity. Every call asks for ReturnConsumedCapacity=TOTAL and the
request's units are summed into ``RequestResult.consumed_units`` (null when the server
does not report them). Reads are eventually consistent unless ``consistent=true``.

Throttling (ProvisionedThroughputExceededException, ThrottlingException,
RequestLimitExceeded) and 5xx errors are retried by featbench itself, with full-jitter
exponential backoff, and counted (``session.stats`` / the load's stats); botocore's own
retries are switched off so that no throttle goes uncounted. A request still failing
after the last attempt is a failed request (``RequestResult.error``), never a crash.

Item sizes follow DynamoDB's rules (attribute name bytes + value bytes) and are measured
during the load on the first 200 items of every chunk; ``describe()["item_bytes"]`` gives
the mean per table — what read units and storage are billed on.

Cache counters: none; DynamoDB exposes no cache hit/miss figures (`counters_note`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from featbench.backends.base import Key, RequestKeys, RequestResult, Row, TableCheck
from featbench.backends.kvstore import (
    DEFAULT_NAMESPACE,
    KeyValueBackend,
    KeyValueSession,
    TableMeta,
    Written,
    check_loaded,
    check_namespace,
    keys_at,
    request_tables,
    sample_candidates,
    sample_rows,
    table_checks,
)
from featbench.backends.typing_codec import (
    DDB_DECODERS,
    ddb_column,
    ddb_item_size,
    ddb_key_value,
    read_units,
    typed_key,
)
from featbench.errors import FeatbenchError, TargetError
from featbench.spec import Table, WorkloadSpec, scaled_rows
from featbench.target import Target, is_aws_endpoint, redact

LAYOUTS = ("table-per-feature-table", "single-table")
THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
SERVER_ERROR_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure"})
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
    }
)
_URL_OPTIONS = {"region", "endpoint", "layout", "namespace", "consistent", "profile"}
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
SIZE_SAMPLE_PER_CHUNK = 200
COUNT_LIMIT = 1_000_000  # rows above which verify does not Scan-count a table


class RetriesExhausted(FeatbenchError):
    pass


@dataclass
class RetryPolicy:
    """Full-jitter exponential backoff (AWS's recommendation for throttling)."""

    base_s: float = 0.025
    cap_s: float = 2.0
    max_attempts: int = 12
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def pause(self, attempt: int) -> None:
        self.sleep(self.rng.uniform(0, min(self.cap_s, self.base_s * (2**attempt))))


def new_stats() -> dict[str, int]:
    return {
        "throttles": 0,
        "server_errors": 0,
        "retries": 0,
        "unprocessed_keys": 0,
        "unprocessed_items": 0,
    }


_stats_lock = threading.Lock()


def _bump(stats: dict[str, int], key: str, n: int = 1) -> None:
    with _stats_lock:  # load threads share one stats dict
        stats[key] += n


def call_with_retry(
    fn: Callable[..., dict[str, Any]], policy: RetryPolicy, stats: dict[str, int], **kw: Any
) -> dict[str, Any]:
    """One API call, retrying throttles and server errors (counted in `stats`)."""
    for attempt in range(policy.max_attempts):
        try:
            return fn(**kw)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in THROTTLE_CODES:
                _bump(stats, "throttles")
            elif code in SERVER_ERROR_CODES:
                _bump(stats, "server_errors")
            else:
                raise
            if attempt + 1 >= policy.max_attempts:
                raise RetriesExhausted(
                    f"DynamoDB kept answering {code} after {policy.max_attempts} attempts; "
                    "raise the table's capacity (or use on-demand) or lower the request rate / --streams"
                ) from None
            _bump(stats, "retries")
            policy.pause(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _consumed(resp: dict[str, Any]) -> float | None:
    cc = resp.get("ConsumedCapacity")
    if cc is None:
        return None
    if isinstance(cc, dict):
        cc = [cc]
    return float(sum(c.get("CapacityUnits", 0.0) for c in cc))


def _add(a: float | None, b: float | None) -> float | None:
    if b is None:
        return a
    return b if a is None else a + b


_UNPROCESSED_STAT = {"UnprocessedKeys": "unprocessed_keys", "UnprocessedItems": "unprocessed_items"}


def _until_processed(
    call: Callable[[Any], dict[str, Any]],
    pending: Any,
    left_key: str,
    count: Callable[[Any], int],
    policy: RetryPolicy,
    stats: dict[str, int],
    give_up: str,
) -> None:
    """Call `call(pending)` until the store leaves nothing unprocessed (`left_key` of its
    reply), backing off between attempts and counting what was left each time."""
    attempt = 0
    while pending:
        pending = call(pending).get(left_key) or {}
        if pending:
            _bump(stats, _UNPROCESSED_STAT[left_key], count(pending))
            if attempt + 1 >= policy.max_attempts:
                raise RetriesExhausted(give_up.format(attempts=policy.max_attempts))
            _bump(stats, "retries")
            policy.pause(attempt)
            attempt += 1


def batch_get(
    client: Any,
    request_items: dict[str, dict[str, Any]],
    policy: RetryPolicy,
    stats: dict[str, int],
) -> tuple[dict[str, list[dict[str, Any]]], float | None]:
    """BatchGetItem (<= 100 keys) until every key is processed; (items per table, units)."""
    out: dict[str, list[dict[str, Any]]] = {}
    consumed: list[float | None] = [None]

    def call(pending: Any) -> dict[str, Any]:
        resp = call_with_retry(
            client.batch_get_item, policy, stats, RequestItems=pending,
            ReturnConsumedCapacity="TOTAL",
        )  # fmt: skip
        consumed[0] = _add(consumed[0], _consumed(resp))
        for tn, items in resp.get("Responses", {}).items():
            out.setdefault(tn, []).extend(items)
        return resp

    _until_processed(
        call, request_items, "UnprocessedKeys",
        lambda p: sum(len(v["Keys"]) for v in p.values()), policy, stats,
        "DynamoDB left keys unprocessed after {attempts} attempts; raise the table's read "
        "capacity or lower the request rate",
    )  # fmt: skip
    return out, consumed[0]


def batch_write(
    client: Any,
    request_items: dict[str, list[dict[str, Any]]],
    policy: RetryPolicy,
    stats: dict[str, int],
) -> None:
    """BatchWriteItem (<= 25 puts) until every item is written, backing off on UnprocessedItems."""
    _until_processed(
        lambda p: call_with_retry(client.batch_write_item, policy, stats, RequestItems=p),
        request_items, "UnprocessedItems", lambda p: sum(len(v) for v in p.values()),
        policy, stats,
        "DynamoDB left items unwritten after {attempts} attempts; raise the table's write "
        "capacity or lower --streams",
    )  # fmt: skip


def _bool_opt(v: str | bool | None, name: str) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    s = v.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise TargetError(f"option {name}={v!r} must be true or false")


def make_client(
    endpoint: str | None,
    region: str | None,
    profile: str | None,
    *,
    embedded: bool,
    pool: int = 10,
) -> tuple[Any, str | None]:
    """A boto3 DynamoDB client for a target (and the region it resolved to)."""
    cfg = Config(
        retries={"total_max_attempts": 1},  # featbench retries (and counts) itself
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=pool,
    )
    if embedded:
        from featbench.backends.embedded_dynamodb import CREDENTIALS

        session = boto3.session.Session()
        client = session.client(
            "dynamodb", endpoint_url=endpoint, region_name=region, config=cfg, **CREDENTIALS
        )
        return client, region
    try:
        session = boto3.session.Session(profile_name=profile)
    except ProfileNotFound:
        raise TargetError(f"AWS profile {profile!r} is not configured (~/.aws/config)") from None
    region = region or session.region_name
    if not region:
        raise TargetError(
            "no AWS region for the DynamoDB target: add ?region=… to it or set AWS_REGION"
        )
    try:
        return session.client(
            "dynamodb", region_name=region, endpoint_url=endpoint, config=cfg
        ), region
    except ValueError as e:  # e.g. a malformed endpoint URL
        raise TargetError(f"bad DynamoDB endpoint {redact(endpoint or '')!r}: {e}") from None


def feature_table_name(namespace: str, layout: str, table: Table | str) -> str:
    """The DynamoDB table holding a feature table's rows."""
    name = table if isinstance(table, str) else table.table_name
    if layout == "single-table":
        return f"{namespace}--single-table"
    return f"{namespace}.{name}"


@dataclass(frozen=True)
class DynamoDBPlace:
    """Where a backend's tables are, picklable: what a worker or Spark task needs to reach
    them from another process."""

    endpoint: str | None
    region: str | None
    profile: str | None
    embedded: bool
    namespace: str
    layout: str

    def table_name(self, table: Table | str) -> str:
        return feature_table_name(self.namespace, self.layout, table)

    def new_client(self) -> Any:
        return make_client(self.endpoint, self.region, self.profile, embedded=self.embedded)[0]


@dataclass(frozen=True)
class DynamoDBRows(DynamoDBPlace):
    """DynamoDB's chunk-loading function (`kvstore.RowWriter`): BatchWriteItem puts of 25
    items, unprocessed ones retried with backoff; the sizes of the first
    SIZE_SAMPLE_PER_CHUNK items and the retries are returned with the chunk."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    client: Any = field(default=None, repr=False, compare=False)  # a stubbed one (tests)

    def open(self) -> Any:
        return self.client if self.client is not None else self.new_client()

    def close(self, client: Any) -> None:
        if client is not self.client:
            client.close()

    def write(self, client: Any, spec: WorkloadSpec, t: Table, batch: Any) -> Written:
        items = self.items(spec, t, batch)
        stats = new_stats()
        tn = self.table_name(t)
        for i in range(0, len(items), BATCH_WRITE_MAX):
            req = {tn: [{"PutRequest": {"Item": it}} for it in items[i : i + BATCH_WRITE_MAX]]}
            batch_write(client, req, self.retry, stats)
        sizes = [ddb_item_size(it) for it in items[:SIZE_SAMPLE_PER_CHUNK]]
        return Written(len(items), sizes, stats)

    def items(self, spec: WorkloadSpec, t: Table, batch: Any) -> list[dict[str, Any]]:
        kt = spec.entity(t.entity).key_type
        keys = batch.column(0).to_pylist()
        cols = [
            (c.name, ddb_column(batch.column(i + 1), c.type, c.name))
            for i, c in enumerate(t.columns)
        ]
        names = [n for n, _ in cols]
        if self.layout == "single-table":
            sk = {"S": t.table_name}
            heads = [{"pk": {"S": str(k)}, "sk": sk} for k in keys]
        else:
            kc = spec.key_column_of(t)
            heads = [{kc: ddb_key_value(k, kt)} for k in keys]
        for head, vals in zip(heads, zip(*(v for _, v in cols), strict=True), strict=True):
            head.update(zip(names, vals, strict=True))
        return heads


@dataclass(frozen=True)
class DynamoDBSessionFactory(DynamoDBPlace):
    """Opens a DynamoDB session in any process (a worker): a new client, the same tables."""

    consistent: bool
    retry: RetryPolicy
    spec_json: dict[str, Any] = field(repr=False)
    strategy: str

    def __call__(self) -> DynamoDBSession:
        return DynamoDBSession(
            self, self.new_client(), WorkloadSpec.model_validate(self.spec_json), self.strategy,
            owns=True,
        )  # fmt: skip


class DynamoDBBackend(KeyValueBackend):
    kind = "dynamodb"
    store_name = "DynamoDB"
    default_streams = 4
    strategies: tuple[str, ...] = ("batch", "serial")
    counters_note = (
        "DynamoDB exposes no cache hit/read counters; only consumed capacity per request"
    )

    def __init__(
        self,
        target: Target,
        *,
        namespace: str | None = None,
        schema: str | None = None,
        layout: str | None = None,
        consistent: bool | str | None = None,
        region: str | None = None,
        endpoint: str | None = None,
        profile: str | None = None,
        chunk_rows: int = 2000,
        progress: bool | None = None,
        retry: RetryPolicy | None = None,
        client: Any = None,  # an existing boto3 client (tests with botocore's Stubber)
        **_other: Any,  # options meant for other backends are ignored
    ) -> None:
        self.target = target
        params = dict(parse_qsl(urlsplit(target.url).query))
        unknown = set(params) - _URL_OPTIONS
        if unknown:
            raise TargetError(
                f"unknown option(s) {', '.join(sorted(unknown))} in the DynamoDB target; "
                f"known: {', '.join(sorted(_URL_OPTIONS))}"
            )
        self.namespace = check_namespace(
            namespace or params.get("namespace") or schema or DEFAULT_NAMESPACE, "DynamoDB"
        )
        self.layout = layout or params.get("layout") or LAYOUTS[0]
        if self.layout not in LAYOUTS:
            raise TargetError(f"layout {self.layout!r} is not known; use {' or '.join(LAYOUTS)}")
        c = _bool_opt(consistent, "consistent")
        self.consistent = (
            c if c is not None else bool(_bool_opt(params.get("consistent"), "consistent"))
        )
        self.chunk_rows = chunk_rows
        self.progress = progress
        self.retry = retry or RetryPolicy()
        self.stats = new_stats()  # throttles etc. of loads and checks (sessions keep their own)
        self._region = region or params.get("region")
        self._endpoint = endpoint or params.get("endpoint")
        self._profile = profile or params.get("profile")
        if target.embedded:
            from featbench.backends.embedded_dynamodb import REGION, embedded_dynamodb

            self._server = embedded_dynamodb()
            self._endpoint = self._server.endpoint
            self._region = REGION
        self._client_given = client is not None
        self.client = client if client is not None else self._new_client()
        if client is None:
            self._probe()

    # -- client ------------------------------------------------------------------------
    def _new_client(self, pool: int = 10) -> Any:
        client, self._region = make_client(
            self._endpoint,
            self._region,
            self._profile,
            embedded=self.target.embedded,
            pool=pool,
        )
        return client

    def _where_url(self) -> str:
        return redact(self._endpoint) if self._endpoint else f"AWS region {self._region}"

    def _api(self, fn: Callable[..., Any], **kw: Any) -> Any:
        """A control/bookkeeping call with retries and one-line errors."""
        try:
            return call_with_retry(fn, self.retry, self.stats, **kw)
        except (NoCredentialsError, PartialCredentialsError):
            raise TargetError(
                "no AWS credentials found for DynamoDB: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if temporary), or AWS_PROFILE, "
                "or use dynamodb://embedded for a local server"
            ) from None
        except NoRegionError:
            raise TargetError(
                "no AWS region: add ?region=… to the target or set AWS_REGION"
            ) from None
        except (EndpointConnectionError, ConnectTimeoutError) as e:
            raise TargetError(
                f"cannot reach DynamoDB at {self._where_url()}: {e}; check ?endpoint= and the network"
            ) from None
        except ClientError as e:
            err = e.response.get("Error", {})
            code, msg = err.get("Code", "?"), err.get("Message", "")
            if code in CREDENTIAL_CODES:
                raise TargetError(
                    f"DynamoDB at {self._where_url()} rejected the AWS credentials ({code}): check "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE"
                ) from None
            if code == "AccessDeniedException":
                raise TargetError(f"the AWS identity may not do this on DynamoDB: {msg}") from None
            raise TargetError(
                f"DynamoDB at {self._where_url()} refused {fn.__name__}: {code}: {msg}"
            ) from None
        except BotoCoreError as e:
            raise TargetError(f"DynamoDB at {self._where_url()}: {e}") from None

    def _probe(self) -> None:
        """Fail at open, not mid-run, when the endpoint or credentials are wrong."""
        try:
            self._api(self.client.list_tables, Limit=1)
        except TargetError as e:
            if "may not do this" not in str(e):  # ListTables denied: the tables may still be usable
                raise

    @property
    def capacity_units(self) -> str:
        """`emulated` for the embedded server or any endpoint off AWS, else `measured`."""
        if self.target.embedded or not is_aws_endpoint(self._endpoint):
            return "emulated"
        return "measured"

    # -- names -------------------------------------------------------------------------
    def table_name(self, table: Table | str) -> str:
        """The DynamoDB table holding a feature table's rows."""
        return feature_table_name(self.namespace, self.layout, table)

    @property
    def meta_table(self) -> str:
        return f"{self.namespace}--meta"

    @property
    def where(self) -> str:
        return f"DynamoDB namespace {self.namespace!r} ({self.layout})"

    def _list_tables(self) -> set[str]:
        names: set[str] = set()
        kw: dict[str, Any] = {}
        while True:
            r = self._api(self.client.list_tables, **kw)
            names.update(r.get("TableNames", []))
            if "LastEvaluatedTableName" not in r:
                return names
            kw = {"ExclusiveStartTableName": r["LastEvaluatedTableName"]}

    def _create_table(
        self, name: str, keys: list[dict[str, str]], attrs: list[dict[str, str]]
    ) -> None:
        try:
            self._api(
                self.client.create_table,
                TableName=name,
                KeySchema=keys,
                AttributeDefinitions=attrs,
                BillingMode="PAY_PER_REQUEST",
                Tags=[{"Key": "featbench", "Value": self.namespace}],
            )
        except TargetError as e:
            if "ResourceInUseException" not in str(e):
                raise
        self._wait_status(name, "ACTIVE")

    def _wait_status(self, name: str, status: str | None, timeout: float = 300.0) -> None:
        """Poll until the table has `status` (None: until it is gone)."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                r = self.client.describe_table(TableName=name)
                if status is not None and r["Table"]["TableStatus"] == status:
                    return
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                if status is None:
                    return
            if time.monotonic() > deadline:
                raise TargetError(
                    f"DynamoDB table {name} did not become {status or 'deleted'} in {timeout:.0f} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _create_feature_table(self, spec: WorkloadSpec, t: Table) -> None:
        if self.layout == "single-table":
            self._create_table(
                self.table_name(t),
                [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
            )
            return
        kc = spec.key_column_of(t)
        at = "N" if spec.entity(t.entity).key_type == "bigint" else "S"
        self._create_table(
            self.table_name(t),
            [{"AttributeName": kc, "KeyType": "HASH"}],
            [{"AttributeName": kc, "AttributeType": at}],
        )

    # -- meta records ------------------------------------------------------------------
    def _meta_id(self, table: str) -> dict[str, str]:
        return {"S": f"{self.layout}/{table}"}

    def _metas(
        self, spec: WorkloadSpec, existing: set[str] | None = None
    ) -> dict[str, TableMeta | None]:
        out: dict[str, TableMeta | None] = {t.table_name: None for t in spec.tables}
        existing = self._list_tables() if existing is None else existing
        if self.meta_table not in existing:
            return out
        ids = [{"id": self._meta_id(n)} for n in out]
        for i in range(0, len(ids), BATCH_GET_MAX):
            req = {self.meta_table: {"Keys": ids[i : i + BATCH_GET_MAX], "ConsistentRead": True}}
            try:
                got, _ = batch_get(self.client, req, self.retry, self.stats)
            except ClientError as e:
                raise TargetError(
                    f"cannot read featbench's meta table {self.meta_table}: {e}"
                ) from None
            for item in got.get(self.meta_table, []):
                m = TableMeta.from_json(item["json"]["S"])
                if m.table in out:
                    out[m.table] = m
        return out

    def _all_metas(self) -> list[TableMeta]:
        if self.meta_table not in self._list_tables():
            return []
        out = []
        for item in self._scan(self.meta_table, ConsistentRead=True):
            m = TableMeta.from_json(item["json"]["S"])
            if m.layout == self.layout:
                out.append(m)
        return sorted(out, key=lambda m: m.table)

    def _put_meta(self, m: TableMeta) -> None:
        self._api(
            self.client.put_item,
            TableName=self.meta_table,
            Item={"id": self._meta_id(m.table), "json": {"S": m.to_json()}},
        )

    def _scan(self, table: str, **kw: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            r = self._api(self.client.scan, TableName=table, **kw)
            items.extend(r.get("Items", []))
            if "LastEvaluatedKey" not in r:
                return items
            kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    # -- describe ----------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        metas = self._all_metas()
        item_bytes = {m.table: m.stats.get("item_bytes_mean") for m in metas}
        known = [v for v in item_bytes.values() if v is not None]
        units = [
            m.stats.get(
                "read_units_per_item_eventual"
                if not self.consistent
                else "read_units_per_item_strong"
            )
            for m in metas
        ]
        return {
            "kind": self.kind,
            "target": self.target.redacted,
            "embedded": self.target.embedded,
            "server": "moto (embedded)"
            if self.target.embedded
            else ("custom endpoint" if self._endpoint else "aws"),
            "region": self._region,
            "endpoint": redact(self._endpoint) if self._endpoint else None,
            "namespace": self.namespace,
            "layout": self.layout,
            "billing_mode": "PAY_PER_REQUEST",
            "consistent_read": self.consistent,
            "strategies": list(self.strategies),
            "tables_loaded": [m.table for m in metas if m.complete],
            "item_bytes": item_bytes,
            "item_bytes_max": {m.table: m.stats.get("item_bytes_max") for m in metas},
            "item_bytes_mean": (sum(known) / len(known)) if known else None,
            # Read units one request costs when every key is found (one item per table).
            "read_units_per_full_request": (
                sum(u for u in units if u is not None) if units and None not in units else None
            ),
            # ConsumedCapacity from an emulator (moto, DynamoDB Local…) is its own
            # arithmetic, not AWS's billing: labelled emulated, and cost does not use it
            "capacity_units": self.capacity_units,
            "consumed_capacity_note": (
                "the server is an emulator: its capacity units are not AWS's billing"
                if self.capacity_units == "emulated"
                else None
            ),
            "cache_counters": None,
            "cache_counters_note": self.counters_note,
            "load_stats": dict(self.stats),
        }

    # -- load --------------------------------------------------------------------------
    # -- loading (the skeleton is KeyValueBackend.load) --------------------------------
    def _begin_load(self, spec: WorkloadSpec, force: bool) -> None:
        existing = self._list_tables()
        if self.meta_table not in existing:
            mine = {self.table_name(t) for t in spec.tables}
            foreign = sorted(mine & existing)
            if foreign and not force:
                raise FeatbenchError(
                    f"DynamoDB table {foreign[0]} exists but featbench did not create it "
                    f"(no {self.meta_table} table); choose another namespace or load with --force"
                )
            self._create_table(
                self.meta_table,
                [{"AttributeName": "id", "KeyType": "HASH"}],
                [{"AttributeName": "id", "AttributeType": "S"}],
            )
            existing.add(self.meta_table)
        self._existing = existing

    def _clear_table(self, spec: WorkloadSpec, t: Table) -> None:
        self._clear(spec, t, self._existing)

    def _create_table_for(self, spec: WorkloadSpec, t: Table) -> None:
        if self.table_name(t) not in self._existing:
            self._create_feature_table(spec, t)
            self._existing.add(self.table_name(t))

    def _row_writer(self) -> DynamoDBRows:
        return DynamoDBRows(
            *self._place(), retry=self.retry, client=self.client if self._stubbed else None
        )

    def _open_writer(self, streams: int) -> Any:
        self._sizes: dict[str, list[int]] = {}
        return self._new_client(pool=max(10, streams + 2)) if not self._stubbed else self.client

    def _absorb(self, t: Table, written: Written) -> None:
        self._sizes.setdefault(t.table_name, []).extend(written.sizes)
        for k, n in written.stats.items():
            self.stats[k] += n

    def _table_loaded(
        self, spec: WorkloadSpec, t: Table, meta: TableMeta, scale: float, seed: int
    ) -> None:
        s = self._sizes.get(t.table_name, [])
        if s:
            meta.stats.update(
                item_bytes_mean=sum(s) / len(s),
                item_bytes_max=max(s),
                items_measured=len(s),
                read_units_per_item_eventual=sum(read_units(x, False) for x in s) / len(s),
                read_units_per_item_strong=sum(read_units(x, True) for x in s) / len(s),
            )

    def _load_error(self, e: Exception, spec: WorkloadSpec, scale: float) -> Exception | None:
        if isinstance(
            e,
            (
                NoCredentialsError,
                PartialCredentialsError,
                EndpointConnectionError,
                ConnectTimeoutError,
                ClientError,
                BotoCoreError,
            ),
        ):
            return TargetError(
                f"DynamoDB at {self._where_url()} failed during the load: {e}; rows written so far "
                "are kept, run the load again to finish"
            )
        return None

    def _loaded_bytes(
        self, spec: WorkloadSpec, loaded: list[Table], metas: dict[str, TableMeta], rows: int,
        scale: float,
    ) -> int:  # fmt: skip
        return sum(
            int(metas[t.table_name].stats.get("item_bytes_mean", 0) * scaled_rows(t, scale))
            for t in loaded
        )

    @property
    def _stubbed(self) -> bool:
        return getattr(self, "_client_given", False)

    def _clear(self, spec: WorkloadSpec, t: Table, existing: set[str]) -> None:
        """Remove a feature table's rows (and meta record) before reloading it."""
        tn = self.table_name(t)
        if tn in existing:
            if self.layout == "single-table":
                items = self._scan(
                    tn,
                    ProjectionExpression="pk, sk",
                    FilterExpression="sk = :t",
                    ExpressionAttributeValues={":t": {"S": t.table_name}},
                )
                for i in range(0, len(items), BATCH_WRITE_MAX):
                    req = {
                        tn: [
                            {"DeleteRequest": {"Key": it}} for it in items[i : i + BATCH_WRITE_MAX]
                        ]
                    }
                    batch_write(self.client, req, self.retry, self.stats)
            else:
                self._api(self.client.delete_table, TableName=tn)
                self._wait_status(tn, None)
                existing.discard(tn)
        self._api(
            self.client.delete_item,
            TableName=self.meta_table,
            Key={"id": self._meta_id(t.table_name)},
        )

    # -- rows --------------------------------------------------------------------------
    def _key(self, spec: WorkloadSpec, t: Table, key: Key) -> dict[str, dict[str, str]]:
        if self.layout == "single-table":
            return {
                "pk": {"S": str(typed_key(key, spec.entity(t.entity).key_type))},
                "sk": {"S": t.table_name},
            }
        return {spec.key_column_of(t): ddb_key_value(key, spec.entity(t.entity).key_type)}

    def _decode(
        self, spec: WorkloadSpec, t: Table, key: Key, item: dict[str, Any] | None
    ) -> Row | None:
        if item is None:
            return None
        row: Row = {spec.key_column_of(t): typed_key(key, spec.entity(t.entity).key_type)}
        for c in t.columns:
            av = item.get(c.name)
            row[c.name] = None if av is None else DDB_DECODERS[c.type](av)
        return row

    def _item_key(self, spec: WorkloadSpec, t: Table, item: dict[str, Any]) -> tuple[str, str]:
        """(feature table, key as text) of a returned item, to match it to its request."""
        if self.layout == "single-table":
            return item["sk"]["S"], item["pk"]["S"]
        ((_, av),) = ((k, v) for k, v in item.items() if k == spec.key_column_of(t))
        return t.table_name, next(iter(av.values()))

    def _get_many(
        self, spec: WorkloadSpec, wanted: list[tuple[Table, Key]], *, project_keys: bool = False
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Consistent BatchGetItem of (table, key) pairs; returned items by (table, key text)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        by_tn = {self.table_name(t): t for t, _ in wanted}
        for i in range(0, len(wanted), BATCH_GET_MAX):
            req: dict[str, dict[str, Any]] = {}
            for t, k in wanted[i : i + BATCH_GET_MAX]:
                tn = self.table_name(t)
                r = req.setdefault(tn, {"Keys": [], "ConsistentRead": True})
                if project_keys:
                    names = (
                        ["pk", "sk"] if self.layout == "single-table" else [spec.key_column_of(t)]
                    )
                    r["ProjectionExpression"] = ", ".join(f"#k{j}" for j in range(len(names)))
                    r["ExpressionAttributeNames"] = {f"#k{j}": n for j, n in enumerate(names)}
                r["Keys"].append(self._key(spec, t, k))
            try:
                got, _ = batch_get(self.client, req, self.retry, self.stats)
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code")
                if code == "ResourceNotFoundException":
                    raise FeatbenchError(
                        f"a table of the spec is missing from {self.where}: {e.response['Error'].get('Message', '')}"
                    ) from None
                raise TargetError(f"DynamoDB BatchGetItem failed: {e}") from None
            except (EndpointConnectionError, ConnectTimeoutError) as e:
                raise TargetError(f"cannot reach DynamoDB at {self._where_url()}: {e}") from None
            for tn, items in got.items():
                for it in items:
                    found[self._item_key(spec, by_tn[tn], it)] = it
        return found

    # -- checks ------------------------------------------------------------------------
    def check_tables(self, spec: WorkloadSpec) -> None:
        existing = self._list_tables()
        for t in spec.tables:
            if self.table_name(t) not in existing:
                embedded = (
                    " (dynamodb://embedded keeps data only while the featbench command that "
                    "loaded it runs)"
                    if self.target.embedded
                    else ""
                )
                raise FeatbenchError(
                    f"table {t.table_name} is missing from {self.where}: no DynamoDB table "
                    f"{self.table_name(t)}{embedded}; run: featbench load --target {self.target.redacted}"
                )
        check_loaded(spec, self._metas(spec, existing), self.where, self.target.redacted)

    def verify(
        self, spec: WorkloadSpec, scale: float, seed: int, *, sample: int = 20, count: bool = True
    ) -> list[TableCheck]:
        """Meta records, row counts (Scan COUNT, up to 1 M rows a table) and sampled rows."""
        existing = self._list_tables()
        metas = self._metas(spec, existing)
        counts = self._count_rows(spec, scale, existing) if count else {}
        # Every sampled row of every table in as few BatchGetItem calls as possible
        # (100 keys each), rather than one call per table.
        wanted = [
            (t, k)
            for t in spec.tables
            if self.table_name(t) in existing and metas[t.table_name] is not None
            for k in keys_at(spec, t, seed, sample_rows(scaled_rows(t, scale), sample, seed))
        ]
        found = self._get_many(spec, wanted)

        def rows(t: Table, keys: list[Key]) -> list[Row | None]:
            return [self._decode(spec, t, k, found.get((t.table_name, str(k)))) for k in keys]

        def missing(t: Table) -> str | None:
            tn = self.table_name(t)
            return None if tn in existing else f"no DynamoDB table {tn}"

        return table_checks(spec, metas, scale, seed, counts, rows, sample, missing)

    def _count_rows(self, spec: WorkloadSpec, scale: float, existing: set[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        small = [
            t
            for t in spec.tables
            if scaled_rows(t, scale) <= COUNT_LIMIT and self.table_name(t) in existing
        ]
        if self.layout == "single-table":
            if small:
                names = {t.table_name for t in small}
                tally = {n: 0 for n in names}
                for it in self._scan(self.table_name(small[0]), ProjectionExpression="sk"):
                    if it["sk"]["S"] in tally:
                        tally[it["sk"]["S"]] += 1
                counts.update(tally)
            return counts
        for t in small:
            n = 0
            kw: dict[str, Any] = {"Select": "COUNT"}
            while True:
                r = self._api(self.client.scan, TableName=self.table_name(t), **kw)
                n += r.get("Count", 0)
                if "LastEvaluatedKey" not in r:
                    break
                kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]
            counts[t.table_name] = n
        return counts

    # -- keys and requests -------------------------------------------------------------
    def sample_keys(self, spec: WorkloadSpec, entity: str, n: int, seed: int) -> list[Key]:
        """n distinct keys, the same for the same seed wherever the data is (see RedisBackend).

        Row indexes drawn with a seeded generator over the union of the entity's tables
        (`kvstore.sample_candidates`, with the loaded scale and data seed from the meta
        records), each key then confirmed with a key-only consistent BatchGetItem; keys the
        store lacks are dropped. A seeded Scan segment was not used: Scan returns items in
        hash order of the partition key, which would make the sample depend on how the
        table is partitioned and cost a read of every item scanned.
        """
        spec.entity(entity)
        sub = spec.model_copy(update={"tables": spec.tables_for(entity)})
        self.check_tables(sub)
        m = next(iter(self._metas(sub).values()))
        assert m is not None
        cands = sample_candidates(spec, entity, n, seed, m.seed, m.scale)
        found = self._get_many(spec, cands, project_keys=True)
        return [k for t, k in cands if (t.table_name, str(k)) in found]

    def fetch(self, spec: WorkloadSpec, keys: RequestKeys) -> dict[str, Row | None]:
        wanted = [(t, k) for _, k, tables in request_tables(spec, keys) for t in tables]
        found = self._get_many(spec, wanted)
        return {
            t.table_name: self._decode(
                spec,
                t,
                k,
                found.get((t.table_name, str(typed_key(k, spec.entity(t.entity).key_type)))),
            )
            for t, k in wanted
        }

    def session(self, spec: WorkloadSpec, strategy: str) -> DynamoDBSession:
        self._check_strategy(strategy)
        client = self.client if self._stubbed else self._new_client()
        return DynamoDBSession(self, client, spec, strategy, owns=client is not self.client)

    def session_factory(self, spec: WorkloadSpec, strategy: str) -> DynamoDBSessionFactory | None:
        """A picklable factory opening sessions like `session()` in any process (None when
        the backend was given a client, e.g. a stubbed one in tests)."""
        self._check_strategy(strategy)
        if self._stubbed:
            return None
        return DynamoDBSessionFactory(
            *self._place(), consistent=self.consistent, retry=self.retry,
            spec_json=spec.model_dump(mode="json"), strategy=strategy,
        )  # fmt: skip

    def _place(self) -> tuple[str | None, str | None, str | None, bool, str, str]:
        """The fields of a `DynamoDBPlace` for this backend's tables."""
        return (
            self._endpoint, self._region, self._profile, bool(self.target.embedded),
            self.namespace, self.layout,
        )  # fmt: skip

    def probe(self, spec: WorkloadSpec, keys_by_entity: dict[str, list[Key]]) -> list[str]:
        """Before timing: each table's keys match its key schema, and the first item found
        decodes, attribute by attribute, as the spec's types (ProbeError if not)."""
        from featbench.backends.probe import ProbeError, decode_problem, first_keys, key_problem

        for t in spec.tables:
            keys = first_keys(keys_by_entity, t.entity)
            if not keys:
                continue
            where = f"{self.where} {t.table_name}"
            try:
                found = self._get_many(spec, [(t, k) for k in keys])
            except TargetError as e:
                if "does not match the schema" in str(e):
                    raise ProbeError(
                        key_problem(spec, t, where=where, db_type=None, error=str(e))
                    ) from None
                raise
            item = next(iter(found.values()), None)
            if item is not None:
                problem = decode_problem(t, item, DDB_DECODERS, where=where)
                if problem:
                    raise ProbeError(problem)
        return []

    def drop(self) -> list[str]:
        """Delete what featbench loaded in this namespace and layout; returns the tables deleted.

        Only tables named in featbench's meta records are deleted (never other tables
        that merely share the prefix); the meta table goes when no record is left.
        """
        existing = self._list_tables()
        if self.meta_table not in existing:
            return []
        metas = self._all_metas()
        mine = sorted({self.table_name(m.table) for m in metas} & existing)
        for n in mine:
            self._api(self.client.delete_table, TableName=n)
        for m in metas:
            self._api(
                self.client.delete_item,
                TableName=self.meta_table,
                Key={"id": self._meta_id(m.table)},
            )
        left = self._api(self.client.scan, TableName=self.meta_table, ConsistentRead=True, Limit=1)
        if not left.get("Items"):
            self._api(self.client.delete_table, TableName=self.meta_table)
            mine.append(self.meta_table)
        return mine

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


_UNREACHABLE = (BotoConnectionError, ConnectionClosedError)  # the endpoint, not the request


class DynamoDBSession(KeyValueSession):
    """One client; `execute` looks every key of a request up and counts the items returned."""

    store_name = "DynamoDB"

    def __init__(
        self, backend: Any, client: Any, spec: WorkloadSpec, strategy: str, *, owns: bool
    ) -> None:
        """`backend`: the DynamoDBBackend or a DynamoDBSessionFactory (retry, consistent,
        layout, table_name); `owns`: close the client with the session."""
        self.strategy = strategy
        self.stats = new_stats()
        self.stats["errors"] = 0
        self._client = client
        self._retry = backend.retry
        self._consistent = backend.consistent
        self._owns_client = owns
        self._unreachable = False  # the last request failed to reach the endpoint
        # entity -> [(dynamodb table, function key -> Key attribute map)], built once.
        self._plan: dict[str, list[tuple[str, Callable[[Key], dict[str, Any]]]]] = {}
        for e in spec.entity_names:
            kt = spec.entity(e).key_type
            steps = []
            for t in spec.tables_for(e):
                tn = backend.table_name(t)
                if backend.layout == "single-table":
                    sk = {"S": t.table_name}
                    steps.append((tn, lambda k, sk=sk: {"pk": {"S": str(k)}, "sk": sk}))
                else:
                    kc = spec.key_column_of(t)
                    if kt == "bigint":
                        steps.append((tn, lambda k, kc=kc: {kc: {"N": str(k)}}))
                    else:
                        steps.append((tn, lambda k, kc=kc: {kc: {"S": str(k)}}))
            self._plan[e] = steps

    def _steps(self, entity: str) -> list[tuple[str, Callable[[Key], dict[str, Any]]]]:
        try:
            return self._plan[entity]
        except KeyError:
            raise FeatbenchError(
                f"unknown entity {entity!r} in the request; the spec has {', '.join(self._plan)}"
            ) from None

    def execute(self, keys: RequestKeys) -> RequestResult:
        looked_up = sum(len(self._steps(e)) for e in keys)
        try:
            if self.strategy == "batch":
                return self._batch(keys, looked_up)
            return self._serial(keys, looked_up)
        except (ClientError, BotoCoreError, RetriesExhausted) as e:
            # A failed request is counted, not a crash; the client reconnects by itself.
            self.stats["errors"] += 1
            self._unreachable = isinstance(e, _UNREACHABLE)
            return RequestResult(0, looked_up, error=f"{type(e).__name__}: {e}", keys_found=0)

    def recover(self) -> None:
        """After a request that could not reach the endpoint: one cheap call (DescribeLimits,
        not charged) that must succeed before requests go on, so an outage is waited for by
        the run's reconnect policy rather than failing every request that follows. Other
        failures (throttling, a server error) need nothing: the client reconnects itself."""
        if not self._unreachable:
            return
        try:
            self._client.describe_limits()
        except _UNREACHABLE as e:
            raise FeatbenchError(f"cannot reach DynamoDB: {type(e).__name__}: {e}") from None
        except (ClientError, BotoCoreError):
            pass  # it answered: reachable (DescribeLimits may be denied by a policy)
        self._unreachable = False

    def _batch(self, keys: RequestKeys, looked_up: int) -> RequestResult:
        wanted = [(tn, build(k)) for e, k in keys.items() for tn, build in self._plan[e]]
        found = 0
        consumed: float | None = None
        for i in range(0, len(wanted), BATCH_GET_MAX):
            req: dict[str, dict[str, Any]] = {}
            for tn, key in wanted[i : i + BATCH_GET_MAX]:
                r = req.get(tn)
                if r is None:
                    r = req[tn] = {"Keys": [], "ConsistentRead": self._consistent}
                r["Keys"].append(key)
            got, units = batch_get(self._client, req, self._retry, self.stats)
            found += sum(len(v) for v in got.values())
            consumed = _add(consumed, units)
        return RequestResult(found, looked_up, consumed_units=consumed, keys_found=found)

    def _serial(self, keys: RequestKeys, looked_up: int) -> RequestResult:
        found = 0
        consumed: float | None = None
        entity_ns: dict[str, int] = {}
        get = self._client.get_item
        for e, k in keys.items():
            t0 = time.perf_counter_ns()
            for tn, build in self._plan[e]:
                r = call_with_retry(
                    get,
                    self._retry,
                    self.stats,
                    TableName=tn,
                    Key=build(k),
                    ConsistentRead=self._consistent,
                    ReturnConsumedCapacity="TOTAL",
                )
                if "Item" in r:
                    found += 1
                consumed = _add(consumed, _consumed(r))
            entity_ns[e] = time.perf_counter_ns() - t0
        return RequestResult(
            found, looked_up, entity_ns=entity_ns, consumed_units=consumed, keys_found=found
        )

    def close(self) -> None:
        if self._owns_client:
            close = getattr(self._client, "close", None)
            if close is not None:
                close()
