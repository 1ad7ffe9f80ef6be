"""The load model: open-loop schedules, concurrent clients, time series, skewed key plans.

Pure parts are tested with numbers; the runner against a real PostgreSQL server. The
open-loop test reproduces coordinated omission on purpose: a table is locked for two
seconds mid-run; latency from the intended start must show the stall while service
time must not.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from featbench.backends.postgres import PostgresBackend
from featbench.cli import main
from featbench.errors import FeatbenchError
from featbench.events import (
    LevelFinished,
    LevelStarted,
    RequestBatch,
    RunFinished,
    SectionInfo,
)
from featbench.measure.histogram import parse_hlog
from featbench.results.timeseries import TimeSeries
from featbench.results.validate import validate_run
from featbench.runner import schedule
from featbench.runner.benchmark import RunConfig, run_benchmark
from featbench.spec import WorkloadSpec
from featbench.target import parse_target
from featbench.workload import distributions as dist
from featbench.workload.keys import KeySet
from featbench.workload.plan import PlanConfig
from featbench.workload.skew_plan import build_skew_plan, levels_for
from run_helpers import fill_tables, tiny_spec

SEED = 11


# -- schedules (pure) -----------------------------------------------------------------------
def test_uniform_schedule_is_exact() -> None:
    off = schedule.offsets_ns(5, 200.0, "uniform", 1)
    assert off.tolist() == [0, 5_000_000, 10_000_000, 15_000_000, 20_000_000]


def test_poisson_schedule_has_the_rate_and_is_seeded() -> None:
    off = schedule.offsets_ns(20_000, 100.0, "poisson", 3)
    gaps = np.diff(off) / 1e9
    assert gaps.mean() == pytest.approx(0.01, rel=0.03)
    assert gaps.std() == pytest.approx(0.01, rel=0.05)  # exponential: sd = mean
    np.testing.assert_array_equal(off, schedule.offsets_ns(20_000, 100.0, "poisson", 3))
    assert not np.array_equal(off, schedule.offsets_ns(20_000, 100.0, "poisson", 4))


def test_adherence_tells_on_time_from_lagging() -> None:
    sched = schedule.offsets_ns(1000, 500.0, "uniform", 0)
    ok = schedule.adherence(sched, sched + 200_000, 500.0)  # 0.2 ms after schedule
    assert ok.reached is True and ok.late == 0
    assert ok.achieved_rps == pytest.approx(500.0, rel=0.01)
    # a client that needs 4 ms a request cannot do 500 req/s: starts drift later and later
    starts = np.arange(1000) * 4_000_000
    lag = schedule.adherence(sched, starts, 500.0)
    assert lag.reached is False and lag.achieved_rps == pytest.approx(250.0, rel=0.01)
    assert lag.late > 990 and lag.max_lag_ms == pytest.approx(1998.0, rel=0.01)
    d = lag.to_dict()
    assert d["rate_reached"] is False and d["late_threshold_ms"] == 1.0


def test_schedule_bad_inputs() -> None:
    with pytest.raises(FeatbenchError, match="--rate must be"):
        schedule.check_rate(0.0)
    with pytest.raises(FeatbenchError, match="--arrival must be one of uniform, poisson"):
        schedule.check_rate(10.0, "bursty")
    with pytest.raises(FeatbenchError, match="--duration needs --rate"):
        schedule.requests_for(None, 3.0, 100)
    assert schedule.requests_for(150.0, 4.0, 100) == 600
    assert schedule.requests_for(None, None, 100) == 100


# -- skewed plans (pure) ----------------------------------------------------------------------
def _keyset(n: int = 2000, entities: tuple[str, ...] = ("a", "b")) -> KeySet:
    keys = {e: [f"{e}{i:05d}" for i in range(n)] for e in entities}
    return KeySet(entities, keys, {e: n // 100 for e in entities}, n)


def test_zipfian_plan_follows_the_distribution() -> None:
    ks = _keyset()
    cfg = PlanConfig(requests=40_000, warmup=10, seed=SEED, io_sample_every=0, sections=1)
    plan = build_skew_plan(ks, cfg, "zipfian", (0.8, 1.2))
    assert sorted(plan.order) == [0.8, 1.2]
    (sec,) = plan.sections
    for warm, meas in sec.levels:
        assert len(meas) == 40_000 and len(warm) == 10
        sampler = dist.zipfian(meas.level, 2000, seed=0)  # only the pmf's shape matters here
        for j in range(2):
            counts = np.bincount(meas.key_idx[:, j], minlength=2000)
            # the most popular key gets its share (rank 0 of the law), wherever it sits
            top = counts.max() / counts.sum()
            assert top == pytest.approx(sampler.rank_pmf()[0], rel=0.08)
            # "hot" = among the 1% most probable keys; its share matches the pmf's top 1%
            share_hot = meas.hot[:, j].mean()
            assert share_hot == pytest.approx(np.sort(sampler.pmf())[::-1][:20].sum(), abs=0.01)
    # more skew, more traffic to the top keys
    hot_by_level = {meas.level: meas.hot.mean() for _, meas in sec.levels}
    assert hot_by_level[1.2] > hot_by_level[0.8]
    # same seed, same plan
    again = build_skew_plan(ks, cfg, "zipfian", (0.8, 1.2))
    np.testing.assert_array_equal(again.sections[0].levels[0][1].key_idx, sec.levels[0][1].key_idx)


def test_uniform_and_latest_plans() -> None:
    ks = _keyset(1000)
    cfg = PlanConfig(requests=50_000, warmup=0, seed=SEED, io_sample_every=100, sections=1)
    uni = build_skew_plan(ks, cfg, "uniform", None)
    ((_, meas),) = uni.sections[0].levels
    assert meas.level == 0.0
    counts = np.bincount(meas.key_idx[:, 0][~meas.io_sample], minlength=1000)
    assert counts.min() > 0 and counts.max() < 3 * counts.mean()
    assert meas.io_sample.sum() == 500  # an EXPLAIN sample after every 100 timed requests
    lat = build_skew_plan(ks, cfg, "latest", (0.99,))
    ((_, meas),) = lat.sections[0].levels
    counts = np.bincount(meas.key_idx[:, 0], minlength=1000)
    assert counts.argmax() == 999  # the newest key is the most requested
    assert counts[900:].sum() > counts[:100].sum() * 3


def test_skew_levels_bad_inputs() -> None:
    with pytest.raises(FeatbenchError, match="zipfian needs --theta"):
        levels_for("zipfian", None)
    with pytest.raises(FeatbenchError, match="theta must be > 0"):
        levels_for("zipfian", (0.5, 0.0))
    with pytest.raises(FeatbenchError, match="not uniform"):
        levels_for("uniform", (0.5,))
    with pytest.raises(FeatbenchError, match="unknown distribution 'pareto'"):
        levels_for("pareto", None)
    assert levels_for("latest", None) == (0.99,)
    # a validated config holds the resolved levels; resolving them again gives the same
    # (run_benchmark re-resolved uniform's (0.0,) and refused it)
    for name, thetas in (("uniform", None), ("latest", None), ("zipfian", (0.5, 1.2))):
        once = levels_for(name, thetas)
        assert levels_for(name, once) == once


# -- time series (pure listener + files) ------------------------------------------------------
def test_time_series_counts_every_request_once(tmp_path: Path) -> None:
    shown: list[str] = []
    ts = TimeSeries(
        tmp_path, interval_s=0.5, clock_origin_s=1_700_000_000.0, run_id="r", show=shown.append
    )
    info = SectionInfo(0, "postgresql://h/db", "postgres", "union", ("a",))
    ts.on_section_start(info)
    ts.on_level_start(LevelStarted(0, 100.0, 300, 0))
    rng = np.random.default_rng(0)
    t0 = 5_000_000_000
    n_err = 0
    for i in range(300):  # 100 req/s for 3 s, 1-3 ms each; a 2 s stall after t=1 s
        sched = t0 + i * 10_000_000
        start = t0 + 3_000_000_000 if i >= 100 else sched  # due during the stall: start at 3 s
        end = start + int(rng.integers(1_000_000, 3_000_000))
        err = "boom" if i % 97 == 0 else None
        n_err += err is not None
        row = {"seq": i, "start_ns": start, "end_ns": end, "keys": ("k",), "hot": (True,),
               "error": err, "scheduled_ns": sched}  # fmt: skip
        ts.on_requests(RequestBatch.from_rows(0, 100.0, [row], ("a",)))
    ts.on_level_end(LevelFinished(0, 100.0, None, True))
    ts.on_run_end(RunFinished("complete"))
    rows = pq.read_table(tmp_path / "timeseries.parquet").to_pylist()
    assert sum(r["requests"] for r in rows) == 300
    assert sum(r["errors"] for r in rows) == n_err
    assert [r["interval"] for r in rows] == sorted({r["interval"] for r in rows})
    # the stall: nothing finishes between 1 s and 3 s; then the backlog finishes at once
    by_k = {r["interval"]: r for r in rows}
    assert set(by_k) == {0, 1, 6}
    assert by_k[6]["corrected_p99_ms"] >= 1900 and by_k[6]["p99_ms"] < 5
    iv = parse_hlog((tmp_path / "timeseries" / "0-postgres-union__hot100.hlog").read_text())
    assert sum(i.histogram.count for i in iv if i.tag is None) == 300 - n_err
    assert sum(i.histogram.count for i in iv if i.tag == "corrected") == 300 - n_err
    assert shown and all("req/s" in s for s in shown)


# -- against a real server -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(pg_dsn: str) -> Iterator[tuple[str, str, WorkloadSpec]]:
    schema = f"fbt_{uuid.uuid4().hex[:10]}"
    spec = tiny_spec(entities=3, tables_per_entity=(2, 2, 3), rows=300, bigint_entities=(1,))
    fill_tables(pg_dsn, schema, spec, seed=SEED)
    yield pg_dsn, schema, spec
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _run(
    dsn: str, schema: str, spec: WorkloadSpec, out: Path, cfg: RunConfig, **kw: Any
) -> tuple[Any, dict[str, Any]]:
    b = PostgresBackend(parse_target(dsn), schema=schema)
    try:
        outcome = run_benchmark([b], spec, cfg, out=out, sql_results=False, **kw)
    finally:
        b.close()
    manifest = json.loads((outcome.path / "manifest.json").read_text())
    return outcome, manifest


def test_open_loop_corrected_latency_shows_a_stall_service_time_hides(
    tiny: tuple[str, str, WorkloadSpec], tmp_path: Path
) -> None:
    dsn, schema, spec = tiny
    locked = spec.tables[0].table_name
    held: dict[str, float] = {}

    class LockMidRun:
        """Holds ACCESS EXCLUSIVE on one feature table for 2 s, 1 s into the measured level."""

        def on_level_start(self, ev: LevelStarted) -> None:
            def hold() -> None:
                time.sleep(1.0)
                with psycopg.connect(dsn) as conn:  # a transaction: the lock lasts until commit
                    conn.execute(
                        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                            sql.Identifier(schema, locked)
                        )
                    )
                    held["from"] = time.monotonic()
                    time.sleep(2.0)
                    held["to"] = time.monotonic()

            self.thread = threading.Thread(target=hold, daemon=True)
            self.thread.start()

    lock = LockMidRun()
    cfg = RunConfig(
        ratios=(100,), warmup=0, n_keys=1000, io_sample_every=0, seed=SEED, strategies=("union",),
        rate=150.0, duration_s=4.0, concurrency=1,
    )  # fmt: skip
    outcome, manifest = _run(dsn, schema, spec, tmp_path, cfg, listeners=[lock])
    lock.thread.join()
    assert held["to"] - held["from"] >= 2.0
    (ratio,) = outcome.summary["sections"][0]["ratios"]
    assert ratio["requests"] == 600 and ratio["errors"] == 0
    corrected, service = ratio["corrected_latency_ms"], ratio["latency_ms"]
    # ~300 requests were due while the table was locked: from their intended start they
    # waited up to 2 s; served, each (but the one that hit the lock) was quick
    assert corrected["p99"] >= 1000.0
    assert service["p99"] < 200.0
    assert corrected["p50"] >= service["p50"]
    (load,) = manifest["load"]
    assert load["loop"] == "open" and load["target_rps"] == 150.0
    assert load["late_requests"] > 100  # the backlog started late…
    assert load["max_lag_ms"] >= 1000.0
    # …the stall is visible in the time series too
    ts = pq.read_table(outcome.path / "timeseries.parquet").to_pylist()
    assert sum(r["requests"] for r in ts) == 600
    assert max(r["corrected_p99_ms"] for r in ts) >= 1000.0
    # service time: only the one request that hit the lock was slow, so at most the
    # interval it finished in shows it (a small interval's p99 is its max)
    assert sum(r["p99_ms"] >= 1000.0 for r in ts) <= 1
    assert sum(r["corrected_p99_ms"] >= 1000.0 for r in ts) >= 1
    assert validate_run(outcome.path) == []
    # `show` prints corrected latency beside service time (issue 11 point 9)
    from featbench.report.tables import corrected_table
    from featbench.report.terminal import wide_console
    from featbench.results.reader import read_run

    t = corrected_table(read_run(outcome.path))
    assert t is not None
    con = wide_console()
    with con.capture() as cap:
        con.print(t)
    text = cap.get()
    assert "corrected" in text and "service" in text
    assert f"{corrected['p99']:.2f}" in text and f"{service['p99']:.2f}" in text


def test_concurrent_clients_share_one_plan(
    tiny: tuple[str, str, WorkloadSpec], tmp_path: Path
) -> None:
    dsn, schema, spec = tiny
    cfg = RunConfig(
        ratios=(100, 0), requests=240, warmup=20, n_keys=2000, io_sample_every=50, seed=SEED,
        strategies=("pipeline", "parallel"), concurrency=3,
    )  # fmt: skip
    outcome, manifest = _run(dsn, schema, spec, tmp_path, cfg)
    assert outcome.status == "complete"
    assert validate_run(outcome.path) == []
    req = pq.read_table(outcome.path / "requests.parquet").to_pylist()
    for section in outcome.summary["sections"]:
        for r in section["ratios"]:
            assert r["requests"] == 240 and r["errors"] == 0
            assert r["io"]["sampled_requests"] == 4  # EXPLAIN samples ran in the clients
            assert r["io"]["hit_ratio"] is not None  # every client flushed its stats
        rows = [x for x in req if x["strategy"] == section["strategy"]]
        for lvl in (100.0, 0.0):
            seqs = [x["seq"] for x in rows if x["hot_pct"] == lvl]
            assert len(seqs) == len(set(seqs)) == 240  # each planned request ran exactly once
    # cold keys are still never reused across clients
    cold = [x[f"{e}_key"] for x in req for e in spec.entity_names if not x[f"{e}_hot"]]
    assert len(cold) == len(set(cold)) > 0
    # parallel measured every entity
    par = next(s for s in outcome.summary["sections"] if s["strategy"] == "parallel")
    assert set(par["ratios"][0]["entity_latency_ms"]) == set(spec.entity_names)
    load = manifest["load"]
    assert len(load) == 4
    for entry in load:
        assert entry["workers"] == "processes" and entry["loop"] == "closed"
        assert len(entry["client_cpu"]) == 3
        assert all(0 <= c["cpu_s"] and c["wall_s"] > 0 for c in entry["client_cpu"])
        assert entry["client_saturated"] in (True, False)


def test_zipfian_sweep_replaces_the_ratio_sweep(
    tiny: tuple[str, str, WorkloadSpec], tmp_path: Path
) -> None:
    dsn, schema, spec = tiny
    cfg = RunConfig(
        requests=400, warmup=20, n_keys=2000, io_sample_every=0, seed=SEED, strategies=("function",),
        distribution="zipfian", thetas=(0.6, 1.2),
    )  # fmt: skip
    outcome, manifest = _run(dsn, schema, spec, tmp_path, cfg)
    sec = outcome.summary["sections"][0]
    assert sec["distribution"] == "zipfian"
    assert [r["theta"] for r in sec["ratios"]] == [1.2, 0.6]
    assert all("hot_pct" not in r for r in sec["ratios"])
    by = {r["theta"]: r for r in sec["ratios"]}
    assert by[1.2]["planned_hot_fraction"] > by[0.6]["planned_hot_fraction"]
    assert manifest["level_key"] == "theta"
    assert manifest["key_distribution"]["levels"] == [0.6, 1.2]
    req = pq.read_table(outcome.path / "requests.parquet")
    assert "theta" in req.column_names
    assert validate_run(outcome.path) == []
    # keys repeat under skew: the most requested key of θ=1.2 was asked many times
    rows = [x for x in req.to_pylist() if x["theta"] == 1.2]
    e = spec.entity_names[0]
    _, counts = np.unique([x[f"{e}_key"] for x in rows], return_counts=True)
    assert counts.max() > 20


def test_unreachable_rate_is_reported(tiny: tuple[str, str, WorkloadSpec], tmp_path: Path) -> None:
    dsn, schema, spec = tiny
    cfg = RunConfig(
        ratios=(100,), warmup=0, n_keys=1000, io_sample_every=0, seed=SEED, strategies=("serial",),
        rate=20_000.0, duration_s=0.05, concurrency=1,
    )  # fmt: skip
    outcome, manifest = _run(dsn, schema, spec, tmp_path, cfg)
    (load,) = manifest["load"]
    assert load["rate_reached"] is False and load["achieved_rps"] < 0.95 * 20_000
    assert any("target rate 20000 req/s not reached" in w for w in manifest["warnings"])


def test_concurrency_above_max_connections_fails_before_running(
    tiny: tuple[str, str, WorkloadSpec], tmp_path: Path
) -> None:
    dsn, schema, spec = tiny
    with psycopg.connect(dsn) as c:
        max_conn = int(c.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
    cfg = RunConfig(
        ratios=(100,),
        requests=10,
        warmup=0,
        n_keys=500,
        strategies=("parallel",),
        concurrency=max_conn,
    )
    with pytest.raises(
        FeatbenchError,
        match=r"needs \d+ connections \(3 per client: one per entity\).*max_connections",
    ):
        _run(dsn, schema, spec, tmp_path, cfg, run_id="toomany")
    assert not (tmp_path / "toomany").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--distribution", "zipfian", "--theta", "0"], "theta must be > 0"),
        (["--distribution", "zipfian", "--thetas", "0.5,-1"], "theta must be > 0"),
        (["--distribution", "pareto"], "'pareto' is not one of 'hotcold', 'zipfian'"),
        (["--distribution", "zipfian"], "zipfian needs --theta"),
        (["--thetas", "0.5"], "need --distribution zipfian"),
        (["--rate", "-5"], "--rate must be"),
        (["--duration", "3"], "--duration needs --rate"),
        (["--warmup-seconds", "1"], "--warmup-seconds needs --rate"),
        (["--rate", "10", "--arrival", "bursty"], "'bursty' is not one of 'uniform', 'poisson'"),
        (["--concurrency", "0"], "--concurrency must be"),
    ],
)
def test_bad_load_options_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # checked before any connection: the target does not even have to exist
    code, err = _cli(
        capsys, "run", "--target", "postgresql://nobody@127.0.0.1:1/none", "--out", tmp_path, *args
    )
    assert code == 2, err
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert not any(tmp_path.iterdir())


def test_unknown_strategy_exits_2(
    tiny: tuple[str, str, WorkloadSpec], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn, schema, spec = tiny
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(spec.to_toml())
    out = tmp_path / "out"
    code, err = _cli(
        capsys, "run", "-t", dsn, "--schema", schema, "--spec", spec_file,
        "--strategy", "union,teleport", "--out", out,
    )  # fmt: skip
    assert code == 2 and "strategy 'teleport' is not available" in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def _cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ex:
        main([str(a) for a in args])
    _, err = capsys.readouterr()
    return int(ex.value.code or 0), err


def test_ctrl_c_keeps_what_the_clients_measured(
    tiny: tuple[str, str, WorkloadSpec], tmp_path: Path
) -> None:
    import os
    import signal

    dsn, schema, spec = tiny

    class InterruptMidLevel:
        def on_level_start(self, ev: LevelStarted) -> None:
            threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()

    cfg = RunConfig(
        ratios=(100,), warmup=0, n_keys=1000, io_sample_every=0, seed=SEED, strategies=("pipeline",),
        rate=100.0, duration_s=6.0, concurrency=2,
    )  # fmt: skip
    b = PostgresBackend(parse_target(dsn), schema=schema)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_benchmark(
                [b], spec, cfg, out=tmp_path, run_id="cc", sql_results=False,
                listeners=[InterruptMidLevel()],
            )  # fmt: skip
    finally:
        b.close()
    manifest = json.loads((tmp_path / "cc" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    reqs = pq.read_table(tmp_path / "cc" / "requests.parquet", columns=["start_ns"])
    rows = reqs.num_rows
    assert 30 < rows < 600
    # the clients stopped: they did not play the 6 s level out (no wall-clock bound on the
    # whole call, which a busy machine stretches; the requests' own span says it)
    span_s = (pc.max(reqs["start_ns"]).as_py() - pc.min(reqs["start_ns"]).as_py()) / 1e9
    assert span_s < 4.5
    (ratio,) = json.loads((tmp_path / "cc" / "summary.json").read_text())["ratios"]
    assert ratio["requests"] == rows


def test_a_dropped_connection_in_a_client_is_an_error_then_it_goes_on(
    tiny: tuple[str, str, WorkloadSpec], tmp_path: Path
) -> None:
    dsn, schema, spec = tiny
    killed: list[int] = []

    class KillClients:
        """Terminates this run's client backends (found by the schema in their SQL) mid-level."""

        def on_level_start(self, ev: LevelStarted) -> None:
            def kill() -> None:
                time.sleep(0.7)
                with psycopg.connect(dsn, autocommit=True) as conn:
                    rows = conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                        " AND application_name = 'featbench' AND query LIKE %s",
                        (f"%{schema}%",),
                    ).fetchall()
                    for (pid,) in rows:
                        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                        killed.append(pid)

            self.thread = threading.Thread(target=kill, daemon=True)
            self.thread.start()

    k = KillClients()
    cfg = RunConfig(
        ratios=(100,), warmup=0, n_keys=1000, io_sample_every=0, seed=SEED, strategies=("union",),
        rate=200.0, duration_s=2.0, concurrency=2,
    )  # fmt: skip
    outcome, _ = _run(dsn, schema, spec, tmp_path, cfg, listeners=[k])
    k.thread.join()
    assert len(killed) >= 2
    (ratio,) = outcome.summary["ratios"]
    assert ratio["requests"] == 400
    assert 1 <= ratio["errors"] <= 4  # the request in flight (or next) on each killed client
    assert ratio["latency_ms"]["p50"] is not None
    req = pq.read_table(outcome.path / "requests.parquet").to_pylist()
    late_ok = [
        r for r in req if r["error"] is None and r["seq"] > max(x["seq"] for x in req if x["error"])
    ]
    assert late_ok  # requests after the reconnect succeeded
    assert validate_run(outcome.path) == []


def test_single_closed_loop_client_records_its_cpu(
    tiny: tuple[str, str, WorkloadSpec], tmp_path: Path
) -> None:
    dsn, schema, spec = tiny
    cfg = RunConfig(
        ratios=(100, 50),
        requests=100,
        warmup=10,
        n_keys=1000,
        io_sample_every=0,
        strategies=("serial",),
    )
    _, manifest = _run(dsn, schema, spec, tmp_path, cfg)
    assert [e["hot_pct"] for e in manifest["load"]] == [50, 100]  # cold-first order
    for e in manifest["load"]:
        (c,) = e["client_cpu"]
        assert e["workers"] == "featbench process" and 0 < c["cpu_s"] <= c["wall_s"] * 1.05
        assert 0 < c["core_pct"] <= 105 and e["client_saturated"] == (c["core_pct"] > 90)
