"""From runs (or explicit sizes) to priced options: the glue between run directories and
the pure cost model in ``featbench.measure.cost``.

Every input is a ``CostInput`` carrying where it came from: its ``basis`` is one of
``measured`` (a run recorded it), ``computed`` (derived: from the workload spec, from
item sizes, …), ``given`` (a flag) or ``default``, and ``source`` says exactly how. So a
cost table always shows its inputs beside its results, and a figure that was computed
is never presented as measured. Capacity units an emulator reported (moto, DynamoDB
Local: summary.json labels them ``emulated``) are never used: the units are computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from featbench.errors import FeatbenchError
from featbench.measure import cost as cm
from featbench.measure.prices import PriceBook
from featbench.results.reader import Run, Section
from featbench.spec import Table, WorkloadSpec, builtin_spec, check_scale, scaled_rows

# Keys other parts of featbench may record, in a target's describe() output (manifest
# targets[].server), in summary.json (top level or per section) or in ratio objects.
MEASURED_ITEM_BYTES = "item_bytes"
MEASURED_MEMORY_PER_ROW = "memory_per_row_bytes"
MEASURED_CONSUMED = "consumed_rcu_per_request"
# The columns of requests.parquet the report reads (charts and costs); others are not read.
REQUEST_COLUMNS = (
    "hot_pct",
    "theta",
    "start_ns",
    "end_ns",
    "latency_us",
    "error",
    "hot_entities",
    "target",
    "strategy",
    "consumed_units",
)
# Size of featbench's own tables (not the whole database, which may hold anything else).
MEASURED_PG_BYTES = ("schema_bytes", "total_bytes", "relation_bytes")

DEFAULTS = {
    "hours_per_day": 24.0,
    "cu": 1.0,
    "churn": 0.10,  # the original Lakebase benchmark's assumption: 10 % a day
    "pitr_days": 7.0,  # its 7-day point-in-time-recovery window
    "consistency": "eventual",
    "headroom": 1.5,
    "redis_overhead": 0.10,
    "redis_replicas": 0,
}


def basis_of(source: str) -> str:
    """measured | given | default when the source says so, else computed (an estimate from
    the spec, a figure derived from other inputs)."""
    s = source.lower()
    return next((b for b in ("measured", "given", "default") if s.startswith(b)), "computed")


@dataclass
class CostInput:
    name: str
    value: Any
    unit: str
    source: str  # how exactly: "measured (run …)", "estimated from spec …", "given", …
    basis: str = ""  # measured | computed | given | default (from `source` when empty)

    def __post_init__(self) -> None:
        if not self.basis:
            self.basis = basis_of(self.source)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "basis": self.basis,
            "source": self.source,
        }


@dataclass
class CostResult:
    inputs: list[CostInput]
    options: list[cm.OptionCost]
    break_even_rates: list[cm.BreakEvenRate]
    break_even_skew: list[cm.SkewCrossing]
    prices: PriceBook
    notes: list[str] = field(default_factory=list)

    def option(self, key: str) -> cm.OptionCost | None:
        return next((o for o in self.options if o.key == key), None)

    def input(self, name: str) -> CostInput | None:
        return next((i for i in self.inputs if i.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month_days": cm.MONTH_DAYS,
            "currency": self.prices.currency,
            "inputs": [i.as_dict() for i in self.inputs],
            # every cost and break-even figure is computed from the inputs and prices
            "options": [{**o.as_dict(), "basis": "computed"} for o in self.options],
            "break_even_qps": [{**b.as_dict(), "basis": "computed"} for b in self.break_even_rates],
            "break_even_skew": [
                {
                    **s.as_dict(),
                    "basis": "computed",
                    "p99_basis": "measured" if s.basis == "measured" else "given",
                }
                for s in self.break_even_skew
            ],
            "prices": self.prices.as_dict(),
            "notes": list(self.notes),
        }


# -- size estimates from a spec (used when a run did not measure them) ---------------
_DDB_VALUE_BYTES = {"bigint": 6, "integer": 4, "double": 10, "timestamptz": 10, "boolean": 1}
_TEXT_VALUE_BYTES = {"bigint": 5, "integer": 3, "double": 18, "timestamptz": 16, "boolean": 1}


def dynamodb_item_bytes_estimate(spec: WorkloadSpec, table: Table) -> float:
    """DynamoDB item size rules: attribute name bytes + value bytes (numbers ~1 byte per
    two significant digits + 1, strings their UTF-8 length)."""
    key = spec.key_column_of(table)
    key_val = 64 if spec.entity(table.entity).key_type == "hex64" else 8
    total = len(key) + key_val
    for c in table.columns:
        v = c.estimated_bytes() - 1 if c.type == "text" else _DDB_VALUE_BYTES[c.type]
        total += len(c.name) + v
    return float(total)


def redis_row_bytes_estimate(
    spec: WorkloadSpec, table: Table, namespace: str = "featbench"
) -> float:
    """One small hash (listpack encoding) per row: key string + ~96 B of object and
    dictionary overhead + per field name, value text and ~4 B of entry header, +10 %
    allocator rounding."""
    key_val = 64 if spec.entity(table.entity).key_type == "hex64" else 12
    key_len = len(namespace) + 1 + len(table.table_name) + 1 + key_val
    fields = 0
    for c in table.columns:
        v = c.estimated_bytes() - 1 if c.type == "text" else _TEXT_VALUE_BYTES[c.type]
        fields += len(c.name) + v + 4
    return (96 + key_len + fields) * 1.10


def pg_bytes_estimate(spec: WorkloadSpec, scale: float) -> float:
    """Heap (spec.row_bytes) + primary-key index entries (8 B header + key, 8-aligned,
    + 4 B line pointer) at 90 % leaf fill."""
    total = 0.0
    for t in spec.tables:
        n = scaled_rows(t, scale)
        key = 65 if spec.entity(t.entity).key_type == "hex64" else 8
        idx = (8 + math.ceil(key / 8) * 8 + 4) / 0.9
        total += n * (spec.row_bytes(t) + idx)
    return total


# -- finding measured figures in runs ------------------------------------------------
def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) and v >= 0 else None


def find_measured(runs: list[Run], key: str, backend: str | None = None) -> tuple[Any, str] | None:
    """The first place a run recorded `key`: target server info, then summary, then
    sections, then ratio objects (mean weighted by requests)."""
    for run in runs:
        for t in run.targets:
            if backend and t["backend"] != backend:
                continue
            if key in t["server"] and t["server"][key] is not None:
                return t["server"][key], f"measured (run {run.run_id}, {t['backend']} server)"
        if key in run.summary and run.summary[key] is not None:
            return run.summary[key], f"measured (run {run.run_id})"
        for s in run.sections:
            if backend and s.backend != backend:
                continue
            raw = next(
                (
                    x
                    for x in run.summary.get("sections") or []
                    if isinstance(x, dict)
                    and x.get("strategy") == s.strategy
                    and x.get(key) is not None
                ),
                None,
            )
            if raw is not None:
                return raw[key], f"measured (run {run.run_id}, {s.label or s.backend})"
            vals = [(_num(r.get(key)), r.get("requests") or 0) for r in s.levels]
            vals = [(v, n) for v, n in vals if v is not None and n]
            if vals:
                mean = sum(v * n for v, n in vals) / sum(n for _, n in vals)
                return (
                    mean,
                    f"measured ConsumedCapacity (run {run.run_id}, {s.label or s.backend})"
                    if key == MEASURED_CONSUMED
                    else f"measured (run {run.run_id})",
                )
        if key == MEASURED_CONSUMED:
            logged = _consumed_from_log(run, backend)
            if logged is not None:
                return (
                    logged,
                    f"measured ConsumedCapacity (run {run.run_id}, mean of the request log)",
                )
    return None


def emulated_dynamodb(run: Run) -> str | None:
    """What emulated the run's DynamoDB target(s), when its capacity units are `emulated`
    (the embedded moto server, or an endpoint off AWS); None when measured or absent."""
    for t in run.targets:
        if cm.capacity_units_label(t["backend"], t["server"]) == "emulated":
            srv = t["server"]
            return str(srv.get("server") or srv.get("endpoint") or t["target"])
    return None


def _consumed_from_log(run: Run, backend: str | None) -> float | None:
    """Mean `consumed_units` per request from requests.parquet, when the run logged it."""
    t = run.requests(REQUEST_COLUMNS)
    if "consumed_units" not in t.column_names:
        return None
    from featbench.target import redact

    targets = {x["target"] for x in run.targets if backend is None or x["backend"] == backend}
    tcol = t["target"].to_pylist() if "target" in t.column_names else [None] * t.num_rows
    vals = [
        float(v)
        for v, tg in zip(t["consumed_units"].to_pylist(), tcol, strict=False)
        if v is not None and (tg is None or redact(str(tg)) in targets)
    ]
    return sum(vals) / len(vals) if vals else None


def _per_table(value: Any, spec: WorkloadSpec | None) -> dict[str, float] | None:
    """A per-table mapping of measured numbers covering every table of the spec, else None."""
    if not isinstance(value, dict) or spec is None:
        return None
    out = {t.table_name: _num(value.get(t.table_name)) for t in spec.tables}
    return out if all(v is not None for v in out.values()) else None  # type: ignore[return-value]


def _row_weighted(per_table: dict[str, float], spec: WorkloadSpec, scale: float) -> float:
    rows = {t.table_name: scaled_rows(t, scale) for t in spec.tables}
    return sum(per_table[k] * rows[k] for k in per_table) / sum(rows.values())


def _mean_of(value: Any) -> float | None:
    """A measured size may be one number or a per-table mapping (mean taken)."""
    if isinstance(value, dict):
        nums = [_num(v) for v in value.values()]
        nums = [v for v in nums if v is not None]
        return sum(nums) / len(nums) if nums else None
    return _num(value)


# -- resolving inputs ------------------------------------------------------------------
def check_pricing(
    qps: float | None, reference_p99: float | None = None, consistency: str | None = None
) -> None:
    """The pricing options a user gives, checked before any run is read."""
    if qps is not None and not qps > 0:
        raise FeatbenchError(f"--qps must be > 0 (requests per second), got {qps:g}")
    if reference_p99 is not None and not reference_p99 > 0:
        raise FeatbenchError(f"--reference-p99 must be > 0 ms, got {reference_p99:g}")
    if consistency is not None and consistency not in ("eventual", "strong"):
        raise FeatbenchError(f"--consistency must be eventual or strong, got {consistency!r}")


NOT_LAKEBASE = (
    "default: the runs are not against Lakebase and --cu was not given (give the capacity "
    "you would run)"
)


def lakebase_capacity(runs: list[Run]) -> tuple[float, str] | None:
    """The compute a run against a lakebase:// target recorded (capacity per node × nodes)
    and where it comes from; None when no run was against Lakebase."""
    for run in runs:
        for t in run.targets:
            lb = (t.get("server") or {}).get("lakebase") or {}
            per_node = lb.get("capacity_cu")
            if not isinstance(per_node, (int, float)):
                continue
            nodes = lb.get("node_count")
            n = nodes if isinstance(nodes, int) and nodes > 0 else 1
            how = f"{nodes} node(s)" if n == nodes else "node count not recorded: 1 assumed"
            return float(per_node) * n, (
                f"measured (run {run.run_id}: Lakebase instance {lb.get('instance')}, "
                f"{lb.get('capacity')} × {how})"
            )
    return None


def check_priceable(runs: list[Run]) -> None:
    """A failed run's requests mostly errored: nothing measured in it prices a request."""
    for r in runs:
        if r.status == "failed":
            reason = r.manifest.get("error") or "see its manifest.json"
            raise FeatbenchError(
                f"run {r.run_id} failed ({reason}): featbench prices no failed run; fix the "
                "cause and run again, or price sizes given with --rows, --item-bytes and --tables"
            )


def resolve_inputs(
    runs: list[Run],
    *,
    qps: float,
    qps_source: str = "given",
    hours_per_day: float | None = None,
    cu: float | None = None,
    storage_gb: float | None = None,
    churn: float | None = None,
    pitr_days: float | None = None,
    rows: float | None = None,
    item_bytes: float | None = None,
    tables: int | None = None,
    memory_per_row: float | None = None,
    consistency: str | None = None,
    headroom: float | None = None,
    redis_overhead: float | None = None,
    redis_replicas: int | None = None,
    scale: float | None = None,
    spec: WorkloadSpec | None = None,
) -> dict[str, CostInput]:
    """Every input of the cost model with its provenance; flags win over runs, runs over
    spec estimates."""
    cm.check_traffic(qps, hours_per_day if hours_per_day is not None else DEFAULTS["hours_per_day"])
    check_priceable(runs)
    for name, v in (
        ("--rows", rows),
        ("--item-bytes", item_bytes),
        ("--storage-gb", storage_gb),
        ("--memory-per-row", memory_per_row),
    ):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise FeatbenchError(f"{name} must be > 0, got {v:g}")
    if tables is not None and tables < 1:
        raise FeatbenchError(f"--tables must be >= 1, got {tables}")
    if scale is not None:
        check_scale(scale)
    out: dict[str, CostInput] = {}

    def put(name: str, value: Any, unit: str, source: str) -> None:
        out[name] = CostInput(name, value, unit, source)

    def opt(name: str, value: Any, unit: str) -> None:
        put(
            name,
            DEFAULTS[name] if value is None else value,
            unit,
            "default" if value is None else "given",
        )

    # a rate measured by the run (the demo prices at it) is a measurement, not an input
    out["qps"] = CostInput(
        "qps", qps, "requests/s", qps_source, "given" if qps_source == "given" else "measured"
    )
    opt("hours_per_day", hours_per_day, "h/day of traffic")
    recorded = lakebase_capacity(runs) if cu is None else None
    if recorded is not None:
        put("cu", recorded[0], "capacity units (Lakebase)", recorded[1])
    elif cu is None and runs:
        put("cu", DEFAULTS["cu"], "capacity units (Lakebase)", NOT_LAKEBASE)
    else:
        opt("cu", cu, "capacity units (Lakebase)")
    opt("churn", churn, "fraction of data changed per day")
    opt("pitr_days", pitr_days, "days of point-in-time recovery")
    opt("consistency", consistency, "DynamoDB reads")
    opt("headroom", headroom, "× mean rate (provisioned)")
    opt("redis_overhead", redis_overhead, "× data (fragmentation)")
    opt("redis_replicas", redis_replicas, "replicas per shard")

    # The workload: from a run's spec and scale, else a given spec, else the built-in one.
    run = runs[0] if runs else None
    wspec: WorkloadSpec | None = None
    wscale = 1.0
    where = ""
    if run is not None and run.spec is not None:
        wspec = run.spec
        wscale = scale if scale is not None else (run.scale or 1.0)
        where = f"run {run.run_id}: spec {wspec.name} at scale {wscale:g}"
    elif spec is not None or rows is None:
        wspec = spec or builtin_spec("fraud-30")
        wscale = scale if scale is not None else 1.0
        where = f"spec {wspec.name} at scale {wscale:g}"
    if run is not None and run.spec is None and rows is None:
        raise FeatbenchError(
            f"run {run.run_id}: its manifest holds no valid spec; give --rows, --item-bytes and --tables"
        )

    if rows is not None:
        put("rows", rows, "rows in all tables", "given")
    else:
        assert wspec is not None
        put(
            "rows",
            float(sum(scaled_rows(t, wscale) for t in wspec.tables)),
            "rows in all tables",
            f"estimated from {where}",
        )
    if tables is not None:
        put("tables", tables, "items read per request", "given")
    elif wspec is not None:
        put(
            "tables",
            len(wspec.tables),
            "items read per request",
            f"from {where} (one item per table)",
        )
    else:
        raise FeatbenchError("give --tables (tables, i.e. items, read per request) with --rows")

    n_tables = int(out["tables"].value)
    # DynamoDB item sizes: measured > given > estimated.
    sizes: list[float]
    measured = (
        None if item_bytes is not None else find_measured(runs, MEASURED_ITEM_BYTES, "dynamodb")
    )
    if item_bytes is not None:
        sizes = [item_bytes] * n_tables
        put("item_bytes", item_bytes, "bytes per item (mean)", "given")
    elif measured is not None and _mean_of(measured[0]) is not None:
        per = _per_table(measured[0], wspec)
        if per is not None and tables is None:
            sizes = list(per.values())  # one item of every table per request
        else:
            sizes = [_mean_of(measured[0]) or 0.0] * n_tables
        put("item_bytes", sum(sizes) / len(sizes), "bytes per item (mean)", measured[1])
    elif wspec is not None and tables is None:
        sizes = [dynamodb_item_bytes_estimate(wspec, t) for t in wspec.tables]
        put(
            "item_bytes",
            sum(sizes) / len(sizes),
            "bytes per item (mean)",
            f"estimated from {where} (DynamoDB item size rules)",
        )
    elif wspec is not None:
        est = [dynamodb_item_bytes_estimate(wspec, t) for t in wspec.tables]
        sizes = [sum(est) / len(est)] * n_tables
        put("item_bytes", sizes[0], "bytes per item (mean)", f"estimated from {where}")
    else:
        raise FeatbenchError("give --item-bytes (mean item size in bytes) with --rows")
    out["_item_sizes"] = CostInput("_item_sizes", sizes, "bytes", out["item_bytes"].source)

    # Read units per request: measured ConsumedCapacity wins, unless an emulator reported
    # it (its arithmetic is not AWS's billing): then the units are computed.
    emulated = {r.run_id: e for r in runs if (e := emulated_dynamodb(r))}
    cons = find_measured(
        [r for r in runs if r.run_id not in emulated], MEASURED_CONSUMED, "dynamodb"
    )
    ignored = (
        "; run "
        + ", ".join(
            f"{rid}'s read units came from an emulator ({e})" for rid, e in emulated.items()
        )
        + ": not AWS's billing, not used"
        if emulated
        else ""
    )
    if cons is not None and _num(_mean_of(cons[0])) and (_mean_of(cons[0]) or 0) > 0:
        put(
            "rru_per_request",
            _mean_of(cons[0]),
            "read units per request",
            cons[1]
            if "ConsumedCapacity" in cons[1]
            else cons[1].replace("measured", "measured ConsumedCapacity"),
        )
    else:
        put(
            "rru_per_request",
            cm.rru_per_request(sizes, str(out["consistency"].value)),
            "read units per request",
            f"computed: {n_tables} items × ceil(size/4 KB)"
            + (" × 0.5 (eventually consistent)" if out["consistency"].value == "eventual" else "")
            + ignored,
        )

    # PostgreSQL storage.
    if storage_gb is not None:
        put("storage_gb", storage_gb, "GB (PostgreSQL data + indexes)", "given")
    else:
        pgm = None
        for key in MEASURED_PG_BYTES:
            pgm = find_measured(runs, key, "postgres")
            if pgm is not None and _num(pgm[0]):
                break
            pgm = None
        if pgm is not None and run is not None and rows is None:
            factor = (wscale / run.scale) if (scale is not None and run.scale) else 1.0
            put(
                "storage_gb",
                float(pgm[0]) * factor / cm.GIB,
                "GB (PostgreSQL data + indexes)",
                pgm[1] + (f", scaled ×{factor:g}" if factor != 1 else ""),
            )
        elif rows is not None:
            per_row = (item_bytes or out["item_bytes"].value) + 28 + 91
            put(
                "storage_gb",
                rows * per_row / cm.GIB,
                "GB (PostgreSQL data + indexes)",
                "estimated from --rows × (item bytes + tuple and index overhead)",
            )
        else:
            assert wspec is not None
            put(
                "storage_gb",
                pg_bytes_estimate(wspec, wscale) / cm.GIB,
                "GB (PostgreSQL data + indexes)",
                f"estimated from {where}",
            )
    mean_item = sum(sizes) / len(sizes)
    if wspec is not None and rows is None and len(sizes) == len(wspec.tables) and tables is None:
        # storage weighs each table's item size by its rows
        mean_item = _row_weighted(
            {t.table_name: b for t, b in zip(wspec.tables, sizes, strict=True)}, wspec, wscale
        )
    put(
        "dynamodb_storage_gb",
        cm.dynamodb_storage_gb(out["rows"].value, mean_item),
        "GB (DynamoDB items + 100 B each)",
        f"computed from rows × (item bytes + {cm.DYNAMODB_ITEM_OVERHEAD_BYTES} B)",
    )

    # Redis memory per row.
    if memory_per_row is not None:
        put("memory_per_row", memory_per_row, "bytes per row in Redis", "given")
    else:
        mm = find_measured(runs, MEASURED_MEMORY_PER_ROW, "redis")
        per = _per_table(mm[0], wspec) if mm is not None else None
        if mm is not None and per is not None and rows is None and wspec is not None:
            put(
                "memory_per_row", _row_weighted(per, wspec, wscale), "bytes per row in Redis", mm[1]
            )
        elif mm is not None and _mean_of(mm[0]):
            put("memory_per_row", _mean_of(mm[0]), "bytes per row in Redis", mm[1])
        elif wspec is not None and rows is None:
            est = [
                (scaled_rows(t, wscale), redis_row_bytes_estimate(wspec, t)) for t in wspec.tables
            ]
            put(
                "memory_per_row",
                sum(n * b for n, b in est) / sum(n for n, _ in est),
                "bytes per row in Redis",
                f"estimated from {where}",
            )
        else:
            put(
                "memory_per_row",
                mean_item + 110.0,
                "bytes per row in Redis",
                "estimated: item bytes + 110 B hash and key overhead",
            )
    return out


def compute_costs(
    inputs: dict[str, CostInput],
    prices: PriceBook,
    *,
    runs: list[Run] | None = None,
    reference_p99: float | None = None,
) -> CostResult:
    v = {k: i.value for k, i in inputs.items()}
    traffic = {"qps": float(v["qps"]), "hours_per_day": float(v["hours_per_day"])}
    units, units_source = float(v["rru_per_request"]), inputs["rru_per_request"].source
    items_gb = float(v["dynamodb_storage_gb"])
    opts = [
        cm.lakebase_cost(
            prices, **traffic, cu=float(v["cu"]), storage_gb=float(v["storage_gb"]),
            churn=float(v["churn"]), pitr_days=float(v["pitr_days"]),
        ),
        cm.dynamodb_on_demand_cost(
            prices, **traffic, rru_per_req=units, storage_gb=items_gb, rru_source=units_source
        ),
        cm.dynamodb_provisioned_cost(
            prices, **traffic, rcu_per_req=units, storage_gb=items_gb,
            headroom=float(v["headroom"]), rcu_source=units_source,
        ),
        cm.elasticache_cost(
            prices, **traffic, rows=float(v["rows"]), memory_per_row=float(v["memory_per_row"]),
            overhead=float(v["redis_overhead"]), replicas=int(v["redis_replicas"]),
            memory_source=inputs["memory_per_row"].source,
        ),
    ]  # fmt: skip
    pairs = [cm.break_even_qps(a, b) for i, a in enumerate(opts) for b in opts[i + 1 :]]
    skew = skew_crossings(runs or [], reference_p99)
    notes = []
    if reference_p99 is not None and not any(
        s.backend == "postgres" for r in runs or [] for s in r.sections
    ):
        notes.append(
            "--reference-p99 needs a run with PostgreSQL results (--run RUN_DIR) to find the break-even skew"
        )
    if inputs["storage_gb"].source == "given" and inputs["rows"].source != "given":
        notes.append(
            "--storage-gb sizes PostgreSQL only; DynamoDB and Redis are sized from rows × bytes per row "
            "(give --rows or --scale to size them for the same data)"
        )
    if inputs["cu"].source == NOT_LAKEBASE:
        notes.append(
            f"Lakebase compute is priced at the default {DEFAULTS['cu']:g} CU: no run was "
            "against a lakebase:// target; give --cu for the instance you would run"
        )
    if any(i.source.startswith("estimated") for i in inputs.values()):
        notes.append(
            "some inputs are estimated from the workload spec, not measured: see the source column"
        )
    return CostResult(
        inputs=[i for k, i in inputs.items() if not k.startswith("_")],
        options=opts,
        break_even_rates=pairs,
        break_even_skew=skew,
        prices=prices,
        notes=notes,
    )


def _p99_points(s: Section) -> list[tuple[float, float | None]]:
    return [
        (float(r["hot_pct"]), (r.get("latency_ms") or {}).get("p99"))
        for r in s.levels
        if "hot_pct" in r
    ]


def skew_crossings(runs: list[Run], reference_p99: float | None) -> list[cm.SkewCrossing]:
    """PostgreSQL sections against every other store's sections (measured), and against
    a user's reference p99 (assumption)."""
    sections = [s for r in runs for s in r.sections if s.level_key == "hot_pct"]
    pg = [s for s in sections if s.backend == "postgres"]
    others = [s for s in sections if s.backend != "postgres"]
    out = []
    for a in pg:
        for b in others:
            c = cm.break_even_skew(_p99_points(a), _p99_points(b), other_label=b.label or b.backend)
            out.append(_tag(c, a))
        if reference_p99 is not None:
            out.append(
                _tag(
                    cm.break_even_skew(
                        _p99_points(a),
                        float(reference_p99),
                        other_label=f"reference {reference_p99:g} ms",
                    ),
                    a,
                )
            )
    return out


def _tag(c: cm.SkewCrossing, pg: Section) -> cm.SkewCrossing:
    label = pg.label or f"postgres · {pg.strategy}"
    return cm.SkewCrossing(c.hot_pct, f"{label} vs {c.other}", c.basis, c.pg_faster_above, c.note)


def headline_qps(run: Run) -> tuple[float, str] | None:
    """A request rate to price a run at when the user gave none: the rate the run itself
    sustained while measuring (requests ÷ the summed wall time of each ratio, so pauses
    between ratios for warm-up and counters do not count)."""
    t = run.requests(REQUEST_COLUMNS)
    if t.num_rows < 2 or not {"start_ns", "end_ns"} <= set(t.column_names):
        return None
    import numpy as np

    start = t["start_ns"].to_numpy(zero_copy_only=False).astype("float64")
    end = t["end_ns"].to_numpy(zero_copy_only=False).astype("float64")
    group_cols = [c for c in ("target", "strategy", "hot_pct", "theta") if c in t.column_names]
    keys = (
        [tuple(x) for x in zip(*(t[c].to_pylist() for c in group_cols), strict=False)]
        if group_cols
        else [()] * t.num_rows
    )
    spans: dict[tuple[Any, ...], list[float]] = {}
    for k, a, b in zip(keys, start, end, strict=False):
        if np.isnan(a) or np.isnan(b):
            continue
        lo_hi = spans.setdefault(k, [a, b])
        lo_hi[0] = min(lo_hi[0], a)
        lo_hi[1] = max(lo_hi[1], b)
    seconds = sum(hi - lo for lo, hi in spans.values()) / 1e9
    if seconds <= 0:
        return None
    at = [i for i, c in enumerate(group_cols) if c in ("target", "strategy")]
    n_series = len({tuple(k[i] for i in at) for k in spans})
    what = "the run's measured request rate"
    if n_series > 1:  # e.g. the demo's serial and function: say the rate is their blend
        what += f", its {n_series} target/strategy series together"
    return t.num_rows / seconds, what
