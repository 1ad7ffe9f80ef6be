"""Validate a run directory against the documented contract (README "Results").

`validate_run(path)` returns a list of problems (empty = valid), for tests and for
anyone checking a directory before trusting it (`results.reader` is what commands use
to read one). It checks structure, types and the cross-file invariants that
make the numbers trustworthy: summary counts equal request rows, histograms hold
the successful requests, the spec fingerprint matches the spec, no NaN anywhere and
no credentials in target URLs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from featbench.measure.histogram import ENTITY_KEYS, LATENCY_KEYS, parse_hlog
from featbench.measure.percentiles import QUANTILES
from featbench.results import rundir
from featbench.results.reader import LEVEL_KEYS, migrate, version_problem
from featbench.target import redact

MANIFEST_KEYS = {
    "schema_version": int,
    "featbench_version": str,
    "run_id": str,
    "started_at": str,
    "status": str,
    "config": dict,
    "spec": dict,
    "spec_fingerprint": str,
    "seed": int,
    "targets": list,
    "client": dict,
}
CONFIG_KEYS = (
    "ratios",
    "requests",
    "warmup",
    "seed",
    "io_sample_every",
    "hot_fraction",
    "n_keys",
    "strategies",
    "distribution",
    "ratio_order",
    "scale",
)
CLIENT_KEYS = ("host", "python", "cpus", "os")
SUMMARY_KEYS = ("schema_version", "run_id", "backend", "strategy", "ratios", "sections")
SECTION_KEYS = ("target", "backend", "strategy", "distribution", "ratios")
LEVEL_FIELDS = (
    "requests",
    "errors",
    "latency_ms",
    "corrected_latency_ms",
    "entity_latency_ms",
    "planned_hot_fraction",
    "fully_hot_pct",
    "fully_cold_pct",
    "mixed_pct",
    "latency_cache_corr",
    "io",
    "keys_found_pct",
    "rows_per_lookup",
)
# Added after schema version 1 shipped: validated when present, not required, so runs
# written before them stay valid.
OPTIONAL_LEVEL_FIELDS = ("consumed_rcu_per_request", "latency_ci_ms", "corrected_latency_ci_ms")
# Runs written before keys_found_pct/rows_per_lookup replaced it carry rows_found_pct
# instead (a share of rows, which could exceed 100 with several rows per key).
LEGACY_LEVEL_FIELDS = {"rows_found_pct": ("keys_found_pct", "rows_per_lookup")}
# summary key of a percentile's 95% interval -> the key of the percentiles it bounds
CI_PERCENTILES = tuple(QUANTILES)  # p50, p95, p99, p999
CI_KEYS = {"latency_ci_ms": "latency_ms", "corrected_latency_ci_ms": "corrected_latency_ms"}
IO_KEYS = ("buffer_hits", "buffer_reads", "hit_ratio", "blocks_per_request", "sampled_requests")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
REQUEST_COLUMNS: dict[str, tuple[str, ...]] = {
    # column -> acceptable Arrow type names
    "seq": ("int64", "int32"),
    "scheduled_ns": ("int64", "null"),
    "start_ns": ("int64",),
    "end_ns": ("int64",),
    "latency_us": ("double", "int64"),
    "error": ("string", "large_string", "null"),
    "hot_entities": ("int32", "int64", "int8", "int16"),
    "target": ("string", "large_string"),
    "strategy": ("string", "large_string"),
}
KEY_COLUMNS = {
    "entity": ("string",),
    "hash_key": ("string",),
    "is_hot": ("bool",),
    "rank": ("int32", "int64"),
}


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def _opt_num(x: Any, lo: float | None = None, hi: float | None = None, eps: float = 1e-9) -> bool:
    if x is None:
        return True
    if not _num(x):
        return False
    if lo is not None and x < lo - eps:
        return False
    return not (hi is not None and x > hi + eps)


def _type_ok(t: pa.DataType, names: tuple[str, ...]) -> bool:
    return str(t) in names


def validate_manifest(m: Any, path: Path | None = None) -> list[str]:
    p: list[str] = []
    if not isinstance(m, dict):
        return ["manifest.json: not an object"]
    for k, typ in MANIFEST_KEYS.items():
        if k not in m:
            p.append(f"manifest.json: missing {k!r}")
        elif not isinstance(m[k], typ) or (typ is int and isinstance(m[k], bool)):
            p.append(f"manifest.json: {k!r} should be {typ.__name__}")
    if p:
        return p
    version = version_problem(m["schema_version"])
    if version:
        p.append(f"manifest.json: {version}")
    if m["status"] not in rundir.STATUSES:
        p.append(
            f"manifest.json: status {m['status']!r} is not one of {', '.join(rundir.STATUSES)}"
        )
    if path is not None and m["run_id"] != path.name:
        p.append(
            f"manifest.json: run_id {m['run_id']!r} differs from the directory name {path.name!r}"
        )
    if m["status"] == "failed" and not (isinstance(m.get("error"), str) and m["error"].strip()):
        p.append("manifest.json: status failed without a reason (`error`)")
    if not ISO.match(m["started_at"]):
        p.append("manifest.json: started_at is not a UTC ISO timestamp")
    fin = m.get("finished_at")
    if m["status"] != "running" and (not isinstance(fin, str) or not ISO.match(fin)):
        p.append("manifest.json: finished_at is missing or not an ISO timestamp")
    for k in CONFIG_KEYS:
        if k not in m["config"]:
            p.append(f"manifest.json: config lacks {k!r}")
    for k in CLIENT_KEYS:
        if k not in m["client"]:
            p.append(f"manifest.json: client lacks {k!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", m["spec_fingerprint"]):
        p.append("manifest.json: spec_fingerprint is not a sha256 hex digest")
    else:
        from featbench.errors import SpecError
        from featbench.spec import spec_from_dict

        try:
            if (
                spec_from_dict(m["spec"], "manifest.json spec").fingerprint()
                != m["spec_fingerprint"]
            ):
                p.append("manifest.json: spec_fingerprint does not match the spec it holds")
        except SpecError as e:
            p.append(f"manifest.json: the spec is invalid: {e}")
    if not m["targets"]:
        p.append("manifest.json: targets is empty")
    for i, t in enumerate(m["targets"]):
        if not isinstance(t, dict) or not all(k in t for k in ("target", "backend", "server")):
            p.append(f"manifest.json: targets[{i}] needs target, backend, server")
            continue
        if not isinstance(t["target"], str) or redact(t["target"]) != t["target"]:
            p.append(f"manifest.json: targets[{i}].target holds credentials")
        p.extend(_validate_cold(t, f"manifest.json: targets[{i}]", m))
    return p


_EVICTION_INTS = ("files", "bytes", "resident_before_bytes", "resident_after_bytes")


def _validate_cold(t: dict[str, Any], where: str, m: dict[str, Any]) -> list[str]:
    """`cache` (the data vs the buffer cache) and `os_cache_eviction` of one target: both
    optional (older runs, stores without them); when present, typed and consistent, and a
    data set that fits in shared_buffers must have been said in `warnings`."""
    p: list[str] = []
    cache = t.get("cache")
    if cache is not None and not isinstance(cache, dict):
        p.append(f"{where}.cache should be an object or null")
    elif isinstance(cache, dict) and "error" not in cache:
        ints = ("data_bytes", "shared_buffers_bytes", "effective_cache_size_bytes")
        bools = ("fits_shared_buffers", "fits_effective_cache_size")
        if not all(isinstance(cache.get(k), int) and cache[k] >= 0 for k in ints) or not all(
            isinstance(cache.get(k), bool) for k in bools
        ):
            p.append(f"{where}.cache needs {', '.join(ints + bools)}")
        else:
            if cache["fits_shared_buffers"] != (
                cache["data_bytes"] <= cache["shared_buffers_bytes"]
            ):
                p.append(f"{where}.cache.fits_shared_buffers disagrees with the sizes")
            said = any("fit in shared_buffers" in str(w) for w in m.get("warnings") or [])
            if cache["fits_shared_buffers"] and "warnings" in m and not said:
                p.append(f"{where}: the data fits in shared_buffers but no warning says so")
    ev = t.get("os_cache_eviction")
    if ev is None:
        return p
    if not isinstance(ev, dict) or not isinstance(ev.get("enabled"), bool):
        return [*p, f"{where}.os_cache_eviction needs enabled (bool) and reason"]
    if not isinstance(ev.get("reason"), str):
        p.append(f"{where}.os_cache_eviction.reason should be text")
    levels = ev.get("levels", [])
    if not isinstance(levels, list):
        return [*p, f"{where}.os_cache_eviction.levels should be a list"]
    if ev["enabled"] and m.get("status") == "complete" and not levels:
        p.append(f"{where}: eviction enabled but no level records it")
    for j, rec in enumerate(levels):
        w = f"{where}.os_cache_eviction.levels[{j}]"
        if not isinstance(rec, dict) or not _num(rec.get("level")):
            p.append(f"{w} needs section and level")
        elif "error" not in rec and not all(
            isinstance(rec.get(k), int) and rec[k] >= 0 for k in _EVICTION_INTS
        ):
            p.append(f"{w} needs {', '.join(_EVICTION_INTS)} (non-negative integers) or error")
    return p


def validate_level(r: Any, where: str, entities: list[str] | None = None) -> list[str]:
    p: list[str] = []
    if not isinstance(r, dict):
        return [f"{where}: not an object"]
    levels = [k for k in LEVEL_KEYS if k in r]
    if len(levels) != 1:
        p.append(f"{where}: needs exactly one of {', '.join(LEVEL_KEYS)}")
    expected = set(LEVEL_FIELDS) | set(levels) | set(OPTIONAL_LEVEL_FIELDS)
    replaced = {n for old, new in LEGACY_LEVEL_FIELDS.items() if old in r for n in new}
    expected |= {old for old in LEGACY_LEVEL_FIELDS if old in r}
    missing = [k for k in LEVEL_FIELDS if k not in r and k not in replaced]
    extra = sorted(set(r) - expected)
    if missing:
        p.append(f"{where}: missing {', '.join(missing)}")
    if extra:
        p.append(f"{where}: unexpected {', '.join(extra)}")
    if missing:
        return p
    if levels == ["hot_pct"] and not _opt_num(r["hot_pct"], 0, 100):
        p.append(f"{where}: hot_pct must be a number in 0–100")
    for k in ("requests", "errors"):
        if not isinstance(r[k], int) or isinstance(r[k], bool) or r[k] < 0:
            p.append(f"{where}: {k} must be a non-negative integer")
    if (
        isinstance(r["errors"], int)
        and isinstance(r["requests"], int)
        and r["errors"] > r["requests"]
    ):
        p.append(f"{where}: more errors than requests")
    for name in ("latency_ms", "corrected_latency_ms"):
        lat = r[name]
        if lat is None and name == "corrected_latency_ms":
            continue
        if not isinstance(lat, dict) or set(lat) != set(LATENCY_KEYS):
            p.append(f"{where}: {name} must have exactly {', '.join(LATENCY_KEYS)}")
            continue
        vals = [lat[k] for k in LATENCY_KEYS]
        if not all(_opt_num(v, 0) for v in vals):
            p.append(f"{where}: {name} values must be non-negative numbers or null")
            continue
        ordered = [lat[k] for k in ("p50", "p95", "p99", "p999", "max") if lat[k] is not None]
        if any(a > b + 1e-9 for a, b in zip(ordered, ordered[1:], strict=False)):
            p.append(f"{where}: {name} percentiles are not non-decreasing")
    for name, of in CI_KEYS.items():
        if name in r:
            p += _validate_ci(r[name], r[of], f"{where}: {name}")
    ent = r["entity_latency_ms"]
    if not isinstance(ent, dict):
        p.append(f"{where}: entity_latency_ms must be an object")
    else:
        for e, v in ent.items():
            if entities is not None and e not in entities:
                p.append(f"{where}: entity_latency_ms names unknown entity {e!r}")
            if (
                not isinstance(v, dict)
                or set(v) != set(ENTITY_KEYS)
                or not all(_opt_num(x, 0) for x in v.values())
            ):
                p.append(f"{where}: entity_latency_ms[{e!r}] must have p50, p95, p99")
    if not _opt_num(r["planned_hot_fraction"], 0, 1):
        p.append(f"{where}: planned_hot_fraction must be in [0, 1] or null")
    pcts = [r[k] for k in ("fully_hot_pct", "fully_cold_pct", "mixed_pct")]
    if not all(_opt_num(x, 0, 100) for x in pcts):
        p.append(f"{where}: fully_hot/fully_cold/mixed % must be in 0–100 or null")
    elif all(x is not None for x in pcts) and abs(sum(pcts) - 100.0) > 0.01:
        p.append(f"{where}: fully_hot + fully_cold + mixed % is {sum(pcts)}, not 100")
    if not _opt_num(r["latency_cache_corr"], -1, 1):
        p.append(f"{where}: latency_cache_corr must be in [-1, 1] or null")
    io = r["io"]
    if not isinstance(io, dict) or set(io) != set(IO_KEYS):
        p.append(f"{where}: io must have exactly {', '.join(IO_KEYS)}")
    else:
        for k in ("buffer_hits", "buffer_reads", "sampled_requests"):
            if io[k] is not None and (
                not isinstance(io[k], int) or isinstance(io[k], bool) or io[k] < 0
            ):
                p.append(f"{where}: io.{k} must be a non-negative integer or null")
        if not _opt_num(io["hit_ratio"], 0, 1):
            p.append(f"{where}: io.hit_ratio must be in [0, 1] or null")
        if not _opt_num(io["blocks_per_request"], 0):
            p.append(f"{where}: io.blocks_per_request must be >= 0 or null")
    if not _opt_num(r.get("keys_found_pct"), 0, 100):
        p.append(f"{where}: keys_found_pct must be in 0–100 or null")
    if not _opt_num(r.get("rows_per_lookup"), 0):
        p.append(f"{where}: rows_per_lookup must be >= 0 or null")
    if not _opt_num(r.get("rows_found_pct"), 0):
        p.append(f"{where}: rows_found_pct (older runs) must be >= 0 or null")
    if not _opt_num(r.get("consumed_rcu_per_request"), 0):
        p.append(f"{where}: consumed_rcu_per_request must be >= 0 or null")
    return p


THRESHOLD_KEYS = ("expression", "section", "ratio", "metric", "limit", "unit", "value", "passed")


def validate_thresholds(rows: Any, sections: list[Any]) -> list[str]:
    """summary.json `thresholds`: the shape, and each verdict re-derived from its expression
    and the ratio it names (so a file cannot claim a pass its numbers do not support)."""
    from featbench.measure.thresholds import ThresholdError, measured_value, parse_threshold

    if not isinstance(rows, list):
        return ["summary.json: thresholds must be a list"]
    p: list[str] = []
    for i, x in enumerate(rows):
        where = f"summary.json: thresholds[{i}]"
        if not isinstance(x, dict) or any(k not in x for k in THRESHOLD_KEYS):
            p.append(f"{where} needs {', '.join(THRESHOLD_KEYS)}")
            continue
        if not isinstance(x["passed"], bool) or x["unit"] not in ("ms", "%"):
            p.append(f"{where}: passed must be true/false and unit ms or %")
            continue
        if not _opt_num(x["value"], 0) or not _num(x["limit"]):
            p.append(f"{where}: value must be a number >= 0 or null, limit a number")
            continue
        try:
            t = parse_threshold(str(x["expression"]))
        except ThresholdError as e:
            p.append(f"{where}: {e}")
            continue
        want = x["value"] is not None and t.holds(float(x["value"]))
        if x["passed"] != want:
            p.append(
                f"{where}: passed is {x['passed']} but {x['expression']} on {x['value']} is {want}"
            )
        sec = x["section"]
        if sec is None:
            if x["passed"] or x["value"] is not None:
                p.append(f"{where}: a threshold matching no ratio has no value and fails")
            continue
        if not isinstance(sec, int) or not 0 <= sec < len(sections):
            p.append(f"{where}: section {sec!r} is not a section of the summary")
            continue
        key = "theta" if x.get("level_key") == "theta" else "hot_pct"
        r = next(
            (
                r
                for r in sections[sec].get("ratios", [])
                if isinstance(r, dict) and r.get(key) == x["ratio"]
            ),
            None,
        )
        if r is None:
            p.append(f"{where}: section {sec} has no ratio {key}={x['ratio']}")
            continue
        got = measured_value(t, r)
        if (got is None) != (x["value"] is None) or (
            got is not None and abs(got - float(x["value"])) > 1e-6 * max(1.0, got)
        ):
            p.append(f"{where}: value {x['value']} differs from the ratio's {got}")
    return p


def _validate_ci(ci: Any, lat: Any, where: str) -> list[str]:
    """{p50, p95, p99, p999: [lo, hi]}, bounds null or numbers with lo <= value <= hi;
    null as a whole exactly when the percentiles it bounds are null (closed loop)."""
    if ci is None or lat is None:
        return (
            []
            if ci is None and lat is None
            else [f"{where} is null but the percentiles are not (or the reverse)"]
        )
    if not isinstance(ci, dict) or set(ci) != set(CI_PERCENTILES):
        return [f"{where} must have exactly {', '.join(CI_PERCENTILES)}"]
    p: list[str] = []
    for k in CI_PERCENTILES:
        b = ci[k]
        if not isinstance(b, list) or len(b) != 2 or not all(_opt_num(x, 0) for x in b):
            p.append(f"{where}.{k} must be [lo, hi], each a non-negative number or null")
            continue
        lo, hi = b
        v = lat.get(k) if isinstance(lat, dict) else None
        if v is None and (lo is not None or hi is not None):
            p.append(f"{where}.{k} has bounds but the percentile is null")
        elif v is not None and _num(v):
            if lo is not None and lo > v + 1e-9:
                p.append(f"{where}.{k}: lower bound {lo} is above the value {v}")
            if hi is not None and hi < v - 1e-9:
                p.append(f"{where}.{k}: upper bound {hi} is below the value {v}")
    return p


def validate_summary(s: Any, run_id: str | None, entities: list[str] | None) -> list[str]:
    p: list[str] = []
    if not isinstance(s, dict):
        return ["summary.json: not an object"]
    for k in SUMMARY_KEYS:
        if k not in s:
            p.append(f"summary.json: missing {k!r}")
    if p:
        return p
    if run_id is not None and s["run_id"] != run_id:
        p.append("summary.json: run_id differs from the manifest's")
    if not isinstance(s["sections"], list):
        return p + ["summary.json: sections must be a list"]
    for i, sec in enumerate(s["sections"]):
        if not isinstance(sec, dict) or any(k not in sec for k in SECTION_KEYS):
            p.append(f"summary.json: sections[{i}] needs {', '.join(SECTION_KEYS)}")
            continue
        if redact(str(sec["target"])) != sec["target"]:
            p.append(f"summary.json: sections[{i}].target holds credentials")
        bs = sec.get("backend_stats")
        if bs is not None and (
            not isinstance(bs, dict)
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in bs.values()
            )
        ):
            p.append(
                f"summary.json: sections[{i}].backend_stats must be null or counts (integers >= 0)"
            )
        cu = sec.get("capacity_units")
        if cu is not None and cu not in ("measured", "emulated"):
            p.append(f"summary.json: sections[{i}].capacity_units must be measured or emulated")
        for j, r in enumerate(sec["ratios"]):
            p += validate_level(r, f"summary.json: sections[{i}].ratios[{j}]", entities)
    if "thresholds" in s:
        p += validate_thresholds(s["thresholds"], s["sections"])
    if s["sections"]:
        first = s["sections"][0]
        if isinstance(first, dict) and (
            s["ratios"] != first.get("ratios")
            or s["backend"] != first.get("backend")
            or s["strategy"] != first.get("strategy")
        ):
            p.append("summary.json: top-level backend/strategy/ratios must be the first section's")
    return p


def _check_columns(t: pa.Table, cols: dict[str, tuple[str, ...]], name: str) -> list[str]:
    p = []
    for c, types in cols.items():
        if c not in t.column_names:
            p.append(f"{name}: missing column {c!r}")
        elif not _type_ok(t.schema.field(c).type, types):
            p.append(
                f"{name}: column {c!r} has type {t.schema.field(c).type}, expected {' or '.join(types)}"
            )
    return p


def validate_run(path: str | Path) -> list[str]:
    """Every way the run directory departs from the contract; [] when it is valid.

    Files of an older schema version are checked as `results.reader.migrate` upgrades them."""
    path = Path(path)
    if not (path / rundir.MANIFEST).exists():
        return [f"{path}: no {rundir.MANIFEST}"]
    try:
        manifest = rundir.read_json(path / rundir.MANIFEST)
    except ValueError as e:
        return [f"manifest.json: {e}"]
    try:
        summary = rundir.read_json(path / rundir.SUMMARY)
    except FileNotFoundError:
        summary = None
    except ValueError as e:
        summary = e
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if (
        isinstance(summary, dict)
        and version_problem(version) is None
        and summary.get("schema_version") == version
    ):
        migrate(manifest, summary, version)
    problems = validate_manifest(manifest, path)
    if problems:
        return problems
    entities = [e["name"] for e in manifest["spec"].get("entities", [])]
    running = manifest["status"] == "running"
    if summary is None:
        return problems + ["summary.json: missing"]
    if isinstance(summary, ValueError):
        return problems + [f"summary.json: {summary}"]
    problems += validate_summary(summary, manifest["run_id"], entities)

    # keys.parquet
    kp = path / rundir.KEYS
    if not kp.exists():
        problems.append("keys.parquet: missing")
    else:
        keys = pq.read_table(kp)
        problems += _check_columns(keys, KEY_COLUMNS, "keys.parquet")
        if "entity" in keys.column_names:
            present = set(keys.column("entity").to_pylist())
            for e in entities:
                if e not in present:
                    problems.append(f"keys.parquet: no keys of entity {e!r}")

    if not running:  # a finished run leaves no half-written file and no reserved space
        left = sorted(p.relative_to(path) for p in path.rglob("*" + rundir.TMP_SUFFIX))
        left += [Path(rundir.RESERVE)] if (path / rundir.RESERVE).exists() else []
        problems += [f"{p}: left behind by an unfinished write" for p in left]

    # requests.parquet, or the parts of a run that stopped before consolidating them
    rp = path / rundir.REQUESTS
    parts = rundir.part_files(path / rundir.REQUEST_PARTS)
    if not rp.exists() and not parts:
        if not running and any(
            r.get("requests") for sec in summary.get("sections") or [] for r in sec["ratios"]
        ):
            problems.append(
                "requests.parquet: missing (the run finished, it should be consolidated)"
            )
        return problems
    if rp.exists():
        req = pq.read_table(rp)
    else:
        if manifest["status"] == "complete":
            problems.append("requests.parquet: missing (a complete run consolidates its parts)")
        req = pa.concat_tables([pq.read_table(p) for p in parts])
    cols = dict(REQUEST_COLUMNS)
    for e in entities:
        cols[f"{e}_key"] = ("string", "large_string")
        cols[f"{e}_hot"] = ("bool",)
        cols[f"{e}_latency_us"] = ("double", "null")
    sections = summary.get("sections") or []
    level_key = "hot_pct"
    for sec in sections:
        for r in sec.get("ratios", []):
            if isinstance(r, dict) and "theta" in r:
                level_key = "theta"
    cols[level_key] = ("double", "int64", "int32")
    if "consumed_units" in req.column_names:  # optional: runs before it was logged lack it
        cols["consumed_units"] = ("double", "null")
    col_problems = _check_columns(req, cols, "requests.parquet")
    problems += col_problems
    if col_problems:
        return problems
    import numpy as np

    start = req.column("start_ns").to_numpy()
    end = req.column("end_ns").to_numpy()
    lat = req.column("latency_us").to_numpy(zero_copy_only=False)
    if req.num_rows and not np.allclose(lat, (end - start) / 1000.0, atol=0.002):
        problems.append("requests.parquet: latency_us != (end_ns - start_ns) / 1000")
    if req.num_rows and (end < start).any():
        problems.append("requests.parquet: a request ends before it starts")
    counts: dict[tuple[str, str, float], int] = {}
    tg = req.column("target").to_pylist()
    st = req.column("strategy").to_pylist()
    lv = req.column(level_key).to_pylist()
    for a, b, c in zip(tg, st, lv, strict=False):
        counts[(a, b, float(c))] = counts.get((a, b, float(c)), 0) + 1
    # consumed units of successful requests, per ratio: their mean is the summary's figure
    units: dict[tuple[str, str, float], list[float]] = {}
    if "consumed_units" in req.column_names:
        errs = req.column("error").to_pylist()
        for a, b, c, u, er in zip(
            tg, st, lv, req.column("consumed_units").to_pylist(), errs, strict=False
        ):
            if u is not None and er is None:
                units.setdefault((a, b, float(c)), []).append(float(u))
    # summary counts == rows; histogram counts == successful rows
    hist_dir = path / rundir.HISTOGRAMS
    for i, sec in enumerate(sections):
        for r in sec.get("ratios", []):
            if not isinstance(r, dict) or level_key not in r:
                continue
            lvl = float(r[level_key])
            n = counts.get((sec["target"], sec["strategy"], lvl), 0)
            if n != r.get("requests"):
                problems.append(
                    f"summary.json: sections[{i}] {level_key}={lvl:g} says {r.get('requests')} requests, "
                    f"requests.parquet has {n}"
                )
            if "consumed_rcu_per_request" in r and "consumed_units" in req.column_names:
                u = units.get((sec["target"], sec["strategy"], lvl))
                want = sum(u) / len(u) if u else None
                got = r["consumed_rcu_per_request"]
                if (want is None) != (got is None) or (
                    want is not None and _num(got) and abs(want - got) > 1e-5 * max(1.0, want)
                ):
                    problems.append(
                        f"summary.json: sections[{i}] {level_key}={lvl:g} consumed_rcu_per_request "
                        f"is {got}, requests.parquet's mean is {want}"
                    )
            label = f"{i}-{sec['backend']}-{sec['strategy']}"
            hp = hist_dir / rundir.histogram_name(label, lvl, level_key)
            if not hp.exists():
                problems.append(f"histograms/{hp.name}: missing")
                continue
            try:
                ivs = parse_hlog(hp.read_text())
            except (ValueError, IndexError) as e:
                problems.append(f"histograms/{hp.name}: not a valid HdrHistogram log ({e})")
                continue
            total = sum(iv.histogram.count for iv in ivs if iv.tag is None)
            ok = (r.get("requests") or 0) - (r.get("errors") or 0)
            if total != ok:
                problems.append(
                    f"histograms/{hp.name}: holds {total} values, expected {ok} successful requests"
                )
    return problems
