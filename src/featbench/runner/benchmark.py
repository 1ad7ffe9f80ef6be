"""A whole benchmark run: check, sample keys, plan, run every section, keep the results.

Order of work, chosen so that bad input writes nothing: the config, targets' tables,
strategies, keys and the plan (which fails when there are too few cold keys) are all
checked before the run directory is created or any result row is written. Then:
manifest (`status: running`), keys (file and SQL), `pg_stat_reset()` attempt, sections
one after another, and the final status: `complete`, `interrupted` (Ctrl-C: what was
measured is kept and KeyboardInterrupt is re-raised) or `failed` (the exception is
re-raised after the directory is made consistent).
"""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from featbench.backends.base import Backend
from featbench.errors import FeatbenchError, WriteError
from featbench.events import RunEvents, RunFinished, SectionInfo
from featbench.measure.histogram import prepare_tables
from featbench.measure.stats import StatsCollector
from featbench.results import rundir
from featbench.results.reader import read_run
from featbench.results.timeseries import TimeSeries
from featbench.results.writer import ResultSink, ResultsWriter
from featbench.runner.client import PAUSE_EVERY, PAUSE_INTERVAL_S
from featbench.runner.cold import prepare_cold
from featbench.runner.config import RunConfig, manifest_extra
from featbench.runner.context import DriverContext
from featbench.runner.deliver import key_strings
from featbench.runner.inline import InlineDriver
from featbench.runner.live import LiveCounters
from featbench.runner.pool import PoolDriver, PoolOptions, workers_for
from featbench.runner.reconnect import ReconnectPolicy, RetryingSink
from featbench.runner.signals import interrupt_on_signals
from featbench.spec import WorkloadSpec
from featbench.workload.keys import KeySet, sample_keyset
from featbench.workload.plan import LevelPlan, SectionPlan, build_plan


@dataclass
class RunOutcome:
    path: Path
    run_id: str
    status: str
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def check_targets(
    backends: list[Backend],
    spec: WorkloadSpec,
    strategies: tuple[str, ...],
    config: RunConfig | None = None,
) -> None:
    for b in backends:
        b.check_tables(spec)
        for s in config.strategies_for(b.kind) if config is not None else strategies:
            if s not in b.strategies:
                raise FeatbenchError(
                    f"strategy {s!r} is not available for {b.kind} (it has {', '.join(b.strategies)})"
                )


def _section_target_names(backends: list[Backend]) -> dict[int, str]:
    """A unique, credential-free name per target (sections are told apart by it).

    Two targets on one server differ by namespace (schema): it goes in the URL fragment
    (`…/db#schema=s2`). The same target twice is refused: every target replays the same
    keys, so the second would find the first one's cold keys cached.
    """
    base = [b.redacted for b in backends]
    out: dict[int, str] = {}
    for b, name in zip(backends, base, strict=True):
        if base.count(name) > 1:
            name = f"{name}#schema={b.namespace}"
        if name in out.values():
            raise FeatbenchError(
                f"target {name} is given twice: every target replays the same keys, so the "
                "second would find the first one's cold keys cached"
            )
        out[id(b)] = name
    return out


def prefix_level(lp: LevelPlan, timed: int) -> LevelPlan:
    """The first requests of a level holding `timed` non-I/O requests (I/O slots kept in place)."""
    if lp.timed <= timed:
        return lp
    n = int(np.searchsorted(np.cumsum(~lp.io_sample), timed) + 1) if timed > 0 else 0
    return LevelPlan(lp.level, lp.phase, lp.hot[:n], lp.key_idx[:n], lp.io_sample[:n])


def prefix_section(sp: SectionPlan, requests: int, warmup: int) -> SectionPlan:
    """A section plan replaying only the first requests of each level (same keys, fewer)."""
    return SectionPlan(
        sp.index,
        sp.touch,
        [(prefix_level(w, warmup), prefix_level(m, requests)) for w, m in sp.levels],
    )


def keys_from_run(run_dir: Path, spec: WorkloadSpec) -> tuple[KeySet, str]:
    """Reuse a run's keys; refuses a run made with another spec (fingerprint differs)."""
    run = read_run(run_dir)
    fp = run.spec_fingerprint
    if fp != spec.fingerprint():
        raise FeatbenchError(
            f"--keys-from {run_dir}: that run used another workload spec (fingerprint "
            f"{str(fp)[:12]}…, this one {spec.fingerprint()[:12]}…); use the same --spec"
        )
    return KeySet.from_arrow(run.keys(), spec), run.run_id


@interrupt_on_signals()  # SIGTERM/SIGHUP end the run like Ctrl-C (runner/signals.py)
def run_benchmark(
    backends: list[Backend],
    spec: WorkloadSpec,
    config: RunConfig,
    *,
    out: Path,
    run_id: str | None = None,
    overwrite: bool = False,
    keys_from: Path | None = None,
    listeners: list[Any] | None = None,
    live: LiveCounters | None = None,
    sql_results: bool = True,
    timeseries_show: Callable[[str], None] | None = None,
    pause_every: int = PAUSE_EVERY,
    pause_interval_s: float = PAUSE_INTERVAL_S,
    driver: Callable[[SectionInfo, RunEvents, DriverContext], Any] | None = None,
    engine: dict[str, Any] | None = None,
) -> RunOutcome:
    """Run the whole benchmark against `backends` (keys come from the first).

    `listeners` get every run event (`featbench.events`); `live` receives counters a
    display process can read while requests are timed. `pause_every` /
    `pause_interval_s` set how often a client hands its records over (at most that many
    requests, at most that long apart in a closed loop; tests use 1 to see each request).
    `driver` builds each section's driver instead of the local ones (e.g. Spark tasks,
    `featbench.spark.run`); `engine` describes it in the manifest.
    """
    if not backends:
        raise FeatbenchError("no target to run against")
    config.validate()  # every check of the configuration, once (runner/config.py)
    skewed = config.distribution != "hotcold"
    level_key = "theta" if skewed else "hot_pct"
    # (backend, strategy, plan index): the i-th strategy of every target replays plan i
    sections = [(b, s, i) for b in backends for i, s in enumerate(config.strategies_for(b.kind))]
    # One section plan per strategy; every target replays the same plans (same requests,
    # same keys: README "side by side"). Targets have separate caches, so a cold key is
    # cold on each of them; strategies on one target get disjoint cold keys.
    n_plans = max(len(config.strategies_for(b.kind)) for b in backends)
    config.plan_config(n_plans).validate()
    names = _section_target_names(backends)
    from featbench.measure.thresholds import parse_thresholds

    thresholds = parse_thresholds(config.thresholds)
    run_id = rundir.check_run_id(run_id) if run_id else rundir.new_run_id()
    target_dir = out / run_id
    if target_dir.exists() and not overwrite:
        raise FeatbenchError(
            f"run directory {target_dir} already exists: choose another --run-id or pass --overwrite"
        )
    check_targets(backends, spec, config.strategies, config)
    for b in backends:
        b.check_capacity(spec, config.strategies_for(b.kind), config.concurrency)
    cold = {id(b): prepare_cold(b, spec, config.evict_os_cache, names[id(b)]) for b in backends}

    # -- keys and plan: everything that can fail on input fails here, before writing ------
    keys_source: dict[str, Any]
    if keys_from is not None:
        keyset, src_run = keys_from_run(keys_from, spec)
        keys_source = {"source": "run", "run_id": src_run, "path": str(keys_from)}
    else:
        first = backends[0]
        keyset = sample_keyset(
            lambda e, n, seed: first.sample_keys(spec, e, n, seed),
            spec,
            n=config.n_keys,
            seed=config.seed,
            hot_fraction=config.hot_fraction,
        )
        keys_source = {"source": "sampled", "target": first.redacted}
    keys_source["per_entity"] = {
        e: {"keys": len(keyset.keys[e]), "hot": keyset.n_hot[e]} for e in keyset.entities
    }
    if skewed:
        from featbench.workload.skew_plan import build_skew_plan

        plan = build_skew_plan(
            keyset, config.plan_config(n_plans), config.distribution, config.thetas
        )
    else:
        plan = build_plan(keyset, config.plan_config(n_plans))
    load_report: list[dict[str, Any]] = []  # per-level client CPU / rate adherence
    # Before timing, one lookup per table with a sampled key: a key that does not bind or
    # values that do not decode as the spec says stop the run here (nothing written).
    probe_notes: list[str] = []
    for b in backends:
        probe_notes += b.probe(spec, {e: list(keyset.keys[e]) for e in keyset.entities})

    # -- the run directory ------------------------------------------------------------------
    started = rundir.utc_now()
    origin_ns = time.perf_counter_ns()
    origin_wall = time.time()
    path = rundir.prepare_run_dir(out, run_id, overwrite=overwrite)
    warnings: list[str] = list(probe_notes)
    for e in keyset.entities:
        if len(keyset.keys[e]) < config.n_keys and keys_from is None:
            warnings.append(
                f"entity {e!r}: the target holds only {len(keyset.keys[e]):,} keys, sampled all of them"
            )
    targets_doc = []
    for b in backends:
        try:
            server = b.describe()
        except Exception as e:  # noqa: BLE001 - a description is nice to have, not required
            server = {"error": f"describe() failed: {type(e).__name__}"}
        targets_doc.append({"target": names[id(b)], "backend": b.kind, "server": server})
        warnings.extend(cold[id(b)].check_fit(b, spec, keyset.n_hot))
        targets_doc[-1].update(cache=cold[id(b)].cache, os_cache_eviction=cold[id(b)].eviction)
    manifest = rundir.new_manifest(
        run_id=run_id,
        started_at=started,
        config=config.to_dict(plan),
        spec_json=spec.model_dump(mode="json"),
        spec_fingerprint=spec.fingerprint(),
        seed=config.seed,
        targets=targets_doc,
        extra={
            "clock_origin_utc": rundir.iso(started),
            "keys": keys_source,
            "plan": {
                "cold_keys": plan.cold_used,  # per target: every target replays the same plan
                "sections": "one plan per strategy (disjoint cold keys); each target replays it",
            },
            "level_key": level_key,
            "load": load_report,
            **manifest_extra(config, keyset),
            **({"engine": engine} if engine else {}),
        },
        # a reader on another host calls the run crashed after this long without a
        # heartbeat; an outage may hold one back for up to the reconnect budget
        stale_after_s=max(120.0, config.reconnect_timeout_s + 60.0),
    )
    events = RunEvents()
    stats = StatsCollector()
    events.listen(stats)  # statistics first: the writer reads them on level_end
    sinks: list[ResultSink] = []
    try:  # the files first: a directory that cannot hold them is removed, no SQL row written
        rundir.write_parquet(path / rundir.KEYS, keyset.to_arrow())
        writer = ResultsWriter(
            path,
            run_id=run_id,
            manifest=manifest,
            entities=keyset.entities,
            stats=stats,
            sinks=sinks,
            level_key=level_key,
            clock_origin_s=origin_wall,
            thresholds=thresholds,
        )
        timeseries = TimeSeries(
            path,
            interval_s=config.interval_s,
            clock_origin_s=origin_wall,
            run_id=run_id,
            show=timeseries_show,
        )
    except WriteError as e:
        shutil.rmtree(path, ignore_errors=True)
        raise WriteError(e.what, rundir.NOT_STARTED) from None
    # a copy of the results in the first target's own tables, where it has any
    tables = backends[0].result_tables() if sql_results else None
    policy = ReconnectPolicy(config.reconnect_timeout_s)
    if tables is not None:
        try:
            tables.write_keys(run_id, keyset.to_arrow())
            sinks.append(RetryingSink(tables, policy))
        except Exception as e:  # noqa: BLE001 - the run directory is the record
            warnings.append(f"could not write SQL result tables: {e}")
    events.listen(writer)
    events.listen(timeseries)
    for lst in listeners or []:
        events.listen(lst)
    for w in warnings:  # after the caller's listeners: a display shows them before timing
        events.warning.fire(w)

    for b in backends if config.reset_stats else []:
        msg = b.reset_stats()
        if msg:
            events.warning.fire(msg)

    status = "failed"
    error: str | None = None
    key_str = key_strings(keyset.keys, keyset.entities)
    driver_kind = workers_for(config.concurrency, config.rate)
    prepare_tables()  # not in the first interval of the time series, while clients measure
    # Objects made during set-up stay out of the collector's way while requests are timed;
    # the clients switch automatic collection off while a level is measured (README).
    gc.collect()
    gc.freeze()
    try:
        for index, (b, strategy, plan_index) in enumerate(sections):
            sec_plan = plan.sections[plan_index]  # the same plan for the same strategy slot
            cap = (config.requests_by_backend or {}).get(b.kind)
            if cap is not None:
                sec_plan = prefix_section(sec_plan, cap[0], cap[1])
            info = SectionInfo(
                index=index,
                target=names[id(b)],
                backend=b.kind,
                strategy=strategy,
                entities=keyset.entities,
                distribution=config.distribution,
                level_key=level_key,
            )
            ctx = DriverContext(
                open_session=lambda b=b, s=strategy: b.session(spec, s),
                keys=keyset.keys,
                key_str=key_str,
                read_counters=(lambda b=b: b.counters(spec)),
                clock_origin_ns=origin_ns,
                report=load_report,
                live=live,
                before_level=cold[id(b)].before_level(index, events.warning.fire),
                pause_every=pause_every,
                pause_interval_s=pause_interval_s,
                process_factory=b.session_factory(spec, strategy),
                reconnect=policy,
            )
            if driver is not None:
                driver(info, events, ctx).run(sec_plan)
            elif driver_kind == "inline":
                InlineDriver(info, events, ctx).run(sec_plan)
            else:
                PoolDriver(
                    info,
                    events,
                    ctx,
                    PoolOptions(config.concurrency, config.rate, config.arrival, config.seed),
                ).run(sec_plan)
        from featbench.measure.status import run_status

        # complete, or failed when a ratio's error rate exceeds --max-error-rate
        status, error = run_status(writer.summary(), config.max_error_rate)
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except FeatbenchError as e:
        error = str(e)
        raise
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        raise
    finally:
        gc.unfreeze()
        events.run_end.fire(RunFinished(status, error))
    return RunOutcome(path, run_id, status, writer.summary(), list(writer.warnings))
