"""Cost model: what each store costs to serve a workload. Pure functions, no I/O.

Every option is an affine function of the request rate: a fixed cost per day (compute
that runs whatever the traffic, storage) plus a cost per day per request/s (request
units). That is what makes the break-even request rate a closed form. Each result keeps
its breakdown lines with the formula used, and notes that say which inputs were
measured and which were estimated or assumed.

Units and conventions (documented once, used everywhere):
- a month is 730 hours = 365/12 days (``MONTH_DAYS``), as AWS and Databricks bill;
- GB in storage prices is 2**30 bytes (what AWS bills as a GB);
- traffic runs ``hours_per_day`` hours a day at ``qps`` requests/s; Lakebase compute
  runs (and bills) those hours only (it scales to zero), DynamoDB provisioned capacity
  and ElastiCache nodes bill 24 h a day;
- DynamoDB reads: each item costs ceil(size / 4 KB) units (minimum 1, a miss included),
  half of that for eventually consistent reads; BatchGetItem rounds per item.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from featbench.errors import FeatbenchError
from featbench.measure.prices import NodeType, PriceBook
from featbench.target import is_aws_endpoint

HOURS_PER_MONTH = 730.0
MONTH_DAYS = HOURS_PER_MONTH / 24.0  # 30.4167
GIB = 1024**3
DYNAMODB_ITEM_OVERHEAD_BYTES = 100  # per-item storage overhead DynamoDB bills (indexing)
RRU_BLOCK_BYTES = 4096


class CostInputError(FeatbenchError):
    """An input to the cost model that cannot be priced (say which and why)."""


@dataclass(frozen=True)
class CostLine:
    label: str
    per_day: float
    formula: str


@dataclass
class OptionCost:
    """One way of serving the workload, priced."""

    key: str  # lakebase | dynamodb_on_demand | dynamodb_provisioned | elasticache
    label: str
    qps: float
    hours_per_day: float
    fixed_per_day: float  # does not depend on the request rate
    per_qps_per_day: float  # added per request/s of traffic (linear part)
    lines: list[CostLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def per_day(self) -> float:
        return sum(line.per_day for line in self.lines)

    @property
    def per_month(self) -> float:
        return self.per_day * MONTH_DAYS

    @property
    def per_million_requests(self) -> float:
        return per_million(self.per_day, self.qps, self.hours_per_day)

    def as_dict(self) -> dict[str, Any]:
        return {
            "option": self.key,
            "label": self.label,
            "per_day": self.per_day,
            "per_month": self.per_month,
            "per_million_requests": self.per_million_requests,
            "fixed_per_day": self.fixed_per_day,
            "per_qps_per_day": self.per_qps_per_day,
            "lines": [asdict(x) for x in self.lines],
            "notes": list(self.notes),
            "details": dict(self.details),
        }


# -- where a capacity figure comes from -----------------------------------------------
# Hosts of AWS's own DynamoDB endpoints (regional, FIPS, VPC endpoints, China, dual-stack).
def capacity_units_label(backend: str, server: dict[str, Any]) -> str | None:
    """`measured` or `emulated` for the capacity units a DynamoDB target reported; None for
    other stores. An emulator's ConsumedCapacity is its own arithmetic, not AWS's billing:
    the embedded server (moto) and any endpoint off AWS count as emulated. Runs recorded
    before the label existed are judged from their `embedded` flag and endpoint."""
    if backend != "dynamodb":
        return None
    label = server.get("capacity_units")
    if label in ("measured", "emulated"):
        return str(label)
    if server.get("embedded"):
        return "emulated"
    return "measured" if is_aws_endpoint(server.get("endpoint")) else "emulated"


def label_capacity_units(
    sections: Sequence[dict[str, Any]], targets: Sequence[dict[str, Any]]
) -> None:
    """Set summary.json sections' `capacity_units` (`measured` | `emulated`) for DynamoDB
    sections, from the manifest's target descriptions; other sections are left alone."""
    servers = {t.get("target"): t for t in targets if isinstance(t, dict)}
    for sec in sections:
        t = servers.get(sec.get("target")) or {}
        label = capacity_units_label(str(sec.get("backend")), t.get("server") or {})
        if label is not None:
            sec["capacity_units"] = label


# -- helpers ------------------------------------------------------------------------
def _check(
    name: str, value: float, *, low: float = 0.0, strict: bool = False, high: float | None = None
) -> None:
    if value is None or not math.isfinite(value) or (value <= low if strict else value < low):
        op = ">" if strict else ">="
        raise CostInputError(f"{name} must be {op} {low:g}, got {value}")
    if high is not None and value > high:
        raise CostInputError(f"{name} must be <= {high:g}, got {value}")


def _q(x: float) -> str:
    """A quantity for a formula string: readable at any magnitude."""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.1f}"
    return f"{x:.3g}"


def _storage_line(storage_gb: float, gb_month: float) -> CostLine:
    """Storage billed per GB-month, per day."""
    return CostLine(
        "storage",
        storage_gb * gb_month / MONTH_DAYS,
        f"{_q(storage_gb)} GB × ${gb_month:g}/GB-month ÷ {MONTH_DAYS:.2f} d",
    )


def requests_per_day(qps: float, hours_per_day: float) -> float:
    return qps * 3600.0 * hours_per_day


def per_million(per_day: float, qps: float, hours_per_day: float) -> float:
    """Cost of one million requests when `per_day` buys `qps` for `hours_per_day` hours."""
    return per_day / requests_per_day(qps, hours_per_day) * 1e6


def check_traffic(qps: float, hours_per_day: float) -> None:
    _check("--qps (requests per second)", qps, strict=True)
    _check("--hours-per-day", hours_per_day, strict=True, high=24.0)


# -- Lakebase / managed PostgreSQL -------------------------------------------------
def lakebase_cost(
    prices: PriceBook,
    *,
    qps: float,
    cu: float,
    hours_per_day: float,
    storage_gb: float,
    churn: float,
    pitr_days: float,
) -> OptionCost:
    """Compute CU × hours/day × CU-hour price; storage GB × GB-month price / month;
    PITR history = storage × daily churn × retention days, priced per GB-month."""
    check_traffic(qps, hours_per_day)
    _check("--cu", cu, strict=True)
    _check("storage GB", storage_gb)
    _check("--churn", churn, high=1.0)
    _check("--pitr-days", pitr_days)
    cu_h = prices.value("lakebase.cu_hour")
    st = prices.value("lakebase.storage_gb_month")
    pitr = prices.value("lakebase.pitr_gb_month")
    pitr_gb = storage_gb * churn * pitr_days
    compute = cu * hours_per_day * cu_h
    storage = _storage_line(storage_gb, st)
    history = pitr_gb * pitr / MONTH_DAYS
    return OptionCost(
        key="lakebase",
        label="Lakebase (managed PostgreSQL)",
        qps=qps,
        hours_per_day=hours_per_day,
        fixed_per_day=compute + storage.per_day + history,
        per_qps_per_day=0.0,
        lines=[
            CostLine("compute", compute, f"{cu:g} CU × {hours_per_day:g} h × ${cu_h:g}/CU-h"),
            storage,
            CostLine(
                "PITR history",
                history,
                f"{_q(storage_gb)} GB × {churn:g} churn/day × {pitr_days:g} d = {_q(pitr_gb)} GB × ${pitr:g}/GB-month ÷ {MONTH_DAYS:.2f} d",
            ),
        ],
        notes=[
            "compute is sized by --cu, not derived from the request rate: check that the "
            "instance sustains the rate (the benchmark measures latency, not the CU needed)"
        ],
        details={"cu": cu, "storage_gb": storage_gb, "pitr_gb": pitr_gb},
    )


# -- DynamoDB ------------------------------------------------------------------------
def rru_per_item(item_bytes: float, consistency: str = "eventual") -> float:
    """Read request units one item costs: ceil(size / 4 KB), at least 1; half if eventual."""
    if consistency not in ("eventual", "strong"):
        raise CostInputError(f"consistency must be 'eventual' or 'strong', got {consistency!r}")
    _check("item size (bytes)", item_bytes)
    units = max(1, math.ceil(item_bytes / RRU_BLOCK_BYTES))
    return units * (0.5 if consistency == "eventual" else 1.0)


def rru_per_request(item_sizes: Sequence[float], consistency: str = "eventual") -> float:
    """Units for one request that reads one item of each size (per-item rounding, as
    BatchGetItem charges)."""
    if not item_sizes:
        raise CostInputError("a request must read at least one item (tables per request >= 1)")
    return sum(rru_per_item(s, consistency) for s in item_sizes)


def dynamodb_storage_gb(rows: float, mean_item_bytes: float) -> float:
    return rows * (mean_item_bytes + DYNAMODB_ITEM_OVERHEAD_BYTES) / GIB


def dynamodb_on_demand_cost(
    prices: PriceBook,
    *,
    qps: float,
    hours_per_day: float,
    rru_per_req: float,
    storage_gb: float,
    rru_source: str = "computed from item sizes",
) -> OptionCost:
    check_traffic(qps, hours_per_day)
    _check("read units per request", rru_per_req, strict=True)
    _check("storage GB", storage_gb)
    p = prices.value("dynamodb.read_request_units_million")
    st = prices.value("dynamodb.storage_gb_month")
    per_qps = rru_per_req * 3600.0 * hours_per_day * p / 1e6
    reads = per_qps * qps
    storage = _storage_line(storage_gb, st)
    return OptionCost(
        key="dynamodb_on_demand",
        label="DynamoDB on-demand",
        qps=qps,
        hours_per_day=hours_per_day,
        fixed_per_day=storage.per_day,
        per_qps_per_day=per_qps,
        lines=[
            CostLine(
                "reads",
                reads,
                f"{qps:g} req/s × {hours_per_day:g} h × 3600 × {rru_per_req:g} RRU/req × ${p:g}/M RRU",
            ),
            storage,
        ],
        notes=[f"read units per request: {rru_source}"],
        details={"rru_per_request": rru_per_req, "storage_gb": storage_gb},
    )


def dynamodb_provisioned_cost(
    prices: PriceBook,
    *,
    qps: float,
    hours_per_day: float,
    rcu_per_req: float,
    storage_gb: float,
    headroom: float = 1.5,
    rcu_source: str = "computed from item sizes",
) -> OptionCost:
    """RCUs = ceil(qps × RCU per request × headroom), billed 24 h a day."""
    check_traffic(qps, hours_per_day)
    _check("read capacity units per request", rcu_per_req, strict=True)
    _check("--headroom", headroom, low=1.0)
    _check("storage GB", storage_gb)
    p = prices.value("dynamodb.rcu_hour")
    st = prices.value("dynamodb.storage_gb_month")
    rcus = math.ceil(qps * rcu_per_req * headroom - 1e-9)
    reads = rcus * 24.0 * p
    storage = _storage_line(storage_gb, st)
    return OptionCost(
        key="dynamodb_provisioned",
        label="DynamoDB provisioned",
        qps=qps,
        hours_per_day=hours_per_day,
        fixed_per_day=storage.per_day,
        # linear in the rate, ignoring the rounding to whole RCUs
        per_qps_per_day=rcu_per_req * headroom * 24.0 * p,
        lines=[
            CostLine(
                "read capacity",
                reads,
                f"ceil({qps:g} req/s × {rcu_per_req:g} RCU/req × {headroom:g} headroom) = {rcus:,} RCU × 24 h × ${p:g}/RCU-h",
            ),
            storage,
        ],
        notes=[
            f"read capacity units per request: {rcu_source}",
            "capacity is billed 24 h a day; headroom covers peaks above the mean rate",
        ],
        details={
            "rcus": rcus,
            "rcu_per_request": rcu_per_req,
            "headroom": headroom,
            "storage_gb": storage_gb,
        },
    )


# -- ElastiCache (Redis) -------------------------------------------------------------
@dataclass(frozen=True)
class RedisSizing:
    node: NodeType
    shards: int
    nodes: int
    data_gib: float
    usable_gib_per_node: float


def size_redis(
    nodes: Sequence[NodeType],
    *,
    rows: float,
    memory_per_row: float,
    overhead: float,
    reserved_fraction: float,
    replicas: int,
) -> RedisSizing:
    """The cheapest cluster of one node type whose usable memory holds the data."""
    _check("rows", rows)
    _check("memory per row (bytes)", memory_per_row, strict=True)
    _check("--redis-overhead", overhead)
    _check("--redis-replicas", replicas)
    if not nodes:
        raise CostInputError("no ElastiCache node types in the prices file")
    data_gib = rows * memory_per_row * (1 + overhead) / GIB
    best: RedisSizing | None = None
    for n in nodes:
        usable = n.memory_gib * (1 - reserved_fraction)
        shards = max(1, math.ceil(data_gib / usable - 1e-12))
        total = shards * (1 + replicas)
        cand = RedisSizing(n, shards, total, data_gib, usable)
        if best is None or total * n.hourly < best.nodes * best.node.hourly:
            best = cand
    assert best is not None
    return best


def elasticache_cost(
    prices: PriceBook,
    *,
    qps: float,
    hours_per_day: float,
    rows: float,
    memory_per_row: float,
    overhead: float = 0.10,
    replicas: int = 0,
    memory_source: str = "measured",
) -> OptionCost:
    check_traffic(qps, hours_per_day)
    reserved = prices.value("elasticache.reserved_memory_fraction")
    s = size_redis(
        prices.nodes,
        rows=rows,
        memory_per_row=memory_per_row,
        overhead=overhead,
        reserved_fraction=reserved,
        replicas=replicas,
    )
    per_day = s.nodes * s.node.hourly * 24.0
    return OptionCost(
        key="elasticache",
        label="ElastiCache (Redis)",
        qps=qps,
        hours_per_day=hours_per_day,
        fixed_per_day=per_day,
        per_qps_per_day=0.0,
        lines=[
            CostLine(
                "nodes",
                per_day,
                f"{rows:,.0f} rows × {memory_per_row:,.0f} B × (1 + {overhead:g}) = {_q(s.data_gib)} GiB → "
                f"{s.shards} shard(s) × (1 + {replicas} replica) = {s.nodes} × {s.node.name} "
                f"({s.usable_gib_per_node:.2f} GiB usable) × 24 h × ${s.node.hourly:g}/h",
            )
        ],
        notes=[
            f"memory per row: {memory_source}",
            "sized for memory only: check the node's throughput at your rate",
        ],
        details={
            "node_type": s.node.name,
            "shards": s.shards,
            "nodes": s.nodes,
            "data_gib": s.data_gib,
            "memory_per_row_bytes": memory_per_row,
        },
    )


# -- comparisons ---------------------------------------------------------------------
@dataclass(frozen=True)
class BreakEvenRate:
    a: str
    b: str
    qps: float | None  # None: the two never cost the same at a positive rate
    cheaper_below: str | None  # which option is cheaper below the break-even rate
    note: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def break_even_qps(a: OptionCost, b: OptionCost) -> BreakEvenRate:
    """The request rate at which two options cost the same per day (affine models)."""
    dv = a.per_qps_per_day - b.per_qps_per_day
    df = b.fixed_per_day - a.fixed_per_day
    if abs(dv) < 1e-15:
        cheaper = a.key if a.fixed_per_day < b.fixed_per_day else b.key
        return BreakEvenRate(
            a.key, b.key, None, cheaper, f"{cheaper} is cheaper at every rate (same slope)"
        )
    q = df / dv
    if q <= 0:
        # One option is cheaper at every positive rate.
        cheaper = (
            a.key
            if (a.fixed_per_day + a.per_qps_per_day) < (b.fixed_per_day + b.per_qps_per_day)
            else b.key
        )
        return BreakEvenRate(a.key, b.key, None, cheaper, f"{cheaper} is cheaper at every rate")
    cheaper_below = a.key if a.per_qps_per_day > b.per_qps_per_day else b.key
    other = b.key if cheaper_below == a.key else a.key
    return BreakEvenRate(
        a.key,
        b.key,
        q,
        cheaper_below,
        f"{cheaper_below} is cheaper below {q:,.1f} req/s, {other} above",
    )


@dataclass(frozen=True)
class SkewCrossing:
    """Where PostgreSQL's p99 crosses another store's p99 along the hot % axis."""

    hot_pct: float | None  # interpolated crossing; None when the curves do not cross
    other: str  # label of the other store (or "reference")
    basis: str  # "measured" | "assumption"
    pg_faster_above: bool | None  # True when PostgreSQL wins at hotter traffic than the crossing
    note: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def break_even_skew(
    pg: Sequence[tuple[float, float | None]],
    other: Sequence[tuple[float, float | None]] | float,
    *,
    other_label: str = "reference",
) -> SkewCrossing:
    """The hot % at which PostgreSQL's p99 equals the other store's.

    `pg` and `other` are (hot_pct, p99_ms) points; `other` may instead be one reference
    p99 (a number), which makes the answer an assumption rather than a measurement. The
    crossing is linearly interpolated between the two neighbouring measured ratios where
    the difference changes sign (the first such from the hot end).
    """
    basis = "assumption" if isinstance(other, (int, float)) else "measured"
    pg_map = {float(h): v for h, v in pg if v is not None and math.isfinite(v)}
    if isinstance(other, (int, float)):
        if not math.isfinite(other) or other <= 0:
            raise CostInputError(f"--reference-p99 must be > 0 ms, got {other}")
        ref = float(other)
        oth_map = {h: ref for h in pg_map}
        desc = f"reference p99 {ref:g} ms given by the user (assumption, not measured)"
    else:
        oth_map = {float(h): v for h, v in other if v is not None and math.isfinite(v)}
        desc = f"measured p99 of {other_label}"
    common = sorted(set(pg_map) & set(oth_map), reverse=True)  # from hot to cold
    if len(common) < 1:
        return SkewCrossing(
            None, other_label, basis, None, f"no common hot % between PostgreSQL and {desc}"
        )
    diffs = [(h, pg_map[h] - oth_map[h]) for h in common]
    for (h1, d1), (h2, d2) in zip(diffs, diffs[1:], strict=False):
        if d1 == 0:
            return SkewCrossing(h1, other_label, basis, None, f"equal p99 at {h1:g}% hot ({desc})")
        if (d1 < 0) != (d2 < 0) or d2 == 0:
            x = h1 + (h2 - h1) * (d1 / (d1 - d2))
            return SkewCrossing(
                x,
                other_label,
                basis,
                d1 < 0,
                f"PostgreSQL p99 {'below' if d1 < 0 else 'above'} {other_label} at more than {x:.1f}% hot traffic ({desc})",
            )
    if diffs[-1][1] == 0 and len(diffs) == 1:
        return SkewCrossing(diffs[0][0], other_label, basis, None, f"equal p99 ({desc})")
    faster = all(d < 0 for _, d in diffs)
    where = "below" if faster else "above"
    return SkewCrossing(
        None,
        other_label,
        basis,
        None,
        f"no crossing: PostgreSQL p99 is {where} {other_label} at every measured ratio "
        f"({min(common):g}–{max(common):g}% hot; {desc})",
    )
