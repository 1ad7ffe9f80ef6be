"""Whole runs against a real PostgreSQL server: contract, statistics, plan, failures."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from featbench.backends.base import open_backend
from featbench.errors import FeatbenchError
from featbench.measure.percentiles import interval
from featbench.results.reader import read_run
from featbench.results.validate import validate_run
from featbench.runner.benchmark import RunConfig, run_benchmark
from run_helpers import fill_tables, tiny_spec
from test_measure_stats import rank_percentile

SECRET = "s3cret-pw-4711"
SPEC3 = tiny_spec(3, rows=1500, bigint_entities=(2,), name="tiny3")
# 4 entities, 7 tables, bigint keys for two of them
SPEC4 = tiny_spec(
    4,
    tables_per_entity=(2, 2, 2, 1),
    rows=1500,
    bigint_entities=(1, 3),
    name="tiny4",
    prefix="quad",
)


def _with_password(dsn: str) -> str:
    """The same DSN with a password in it: trust auth ignores it, the files must not hold it."""
    p = urlsplit(dsn)
    user = p.username or "postgres"
    host = p.netloc.rsplit("@", 1)[-1]
    return urlunsplit((p.scheme, f"{user}:{SECRET}@{host}", p.path, p.query, p.fragment))


@pytest.fixture(scope="module")
def data_schema(pg_dsn: str) -> Iterator[str]:
    """One schema holding both small specs' tables for the whole module (filled once)."""
    name = f"fbt_run_{uuid.uuid4().hex[:8]}"
    fill_tables(pg_dsn, name, SPEC3)
    fill_tables(pg_dsn, name, SPEC4)
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def backend(pg_dsn: str, data_schema: str) -> Iterator[Any]:
    b = open_backend(_with_password(pg_dsn), schema=data_schema)
    yield b
    b.close()


def _run(backend: Any, spec: Any, tmp_path: Path, run_id: str = "r1", **cfg: Any) -> Any:
    base = dict(
        ratios=(100, 50, 0), requests=200, warmup=20, n_keys=1200, io_sample_every=50, seed=5
    )
    base.update(cfg)
    listeners = base.pop("listeners", None)
    keys_from = base.pop("keys_from", None)
    pause_every = base.pop("pause_every", 64)
    return run_benchmark(
        [backend],
        spec,
        RunConfig(**base),
        out=tmp_path,
        run_id=run_id,
        listeners=listeners,
        keys_from=keys_from,
        pause_every=pause_every,
    )


def test_a_run_follows_the_contract(
    backend: Any, tmp_path: Path, pg_dsn: str, data_schema: str
) -> None:
    out = _run(backend, SPEC3, tmp_path)
    assert out.status == "complete"
    assert validate_run(out.path) == []
    run = read_run(out.path)
    assert run.manifest["config"]["ratio_order_used"] == [0, 50, 100]
    assert [r["hot_pct"] for r in run.summary["ratios"]] == [100, 50, 0]

    # percentiles in summary.json == percentiles of requests.parquet (HDR precision)
    req = run.requests()
    for r in run.summary["ratios"]:
        t = req.filter(
            pc.and_(
                pc.equal(req.column("hot_pct"), float(r["hot_pct"])),
                pc.is_null(req.column("error")),
            )
        )
        lat = t.column("latency_us").to_numpy()
        assert r["requests"] == 200 and t.num_rows == 200 - r["errors"]
        for key, q in (("p50", 50), ("p95", 95), ("p99", 99), ("p999", 99.9)):
            exact = rank_percentile(lat, q)
            assert abs(r["latency_ms"][key] * 1000 - exact) <= exact * 1e-3 + 1, (key, r["hot_pct"])
            # its 95% interval: the raw order statistics at the binomial ranks (HDR precision)
            lo, hi = interval(lat, q / 100)
            got = r["latency_ci_ms"][key]
            for raw, hdr in ((lo, got[0]), (hi, got[1])):
                assert (raw is None) == (hdr is None), (key, got)
                if raw is not None:
                    assert abs(hdr * 1000 - raw) <= raw * 1e-3 + 1, (key, got, raw)
        # 200 requests - errors: p50 and p95 pinned down, p99 has no upper bound (needs 368)
        ci = r["latency_ci_ms"]
        assert None not in ci["p50"] and ci["p99"][1] is None and ci["p999"][1] is None
        assert abs(r["latency_ms"]["max"] * 1000 - lat.max()) <= lat.max() * 1e-3 + 1
        assert r["entity_latency_ms"].keys() == set(SPEC3.entity_names)
        assert r["io"]["sampled_requests"] == 4 and r["io"]["blocks_per_request"] > 0
        assert r["io"]["buffer_hits"] > 0 and 0 <= r["io"]["hit_ratio"] <= 1
        assert 0 < r["keys_found_pct"] <= 100
        assert r["rows_per_lookup"] == pytest.approx(r["keys_found_pct"] / 100, rel=1e-3)
        # per-entity parts add up to (a little less than) the request
        parts = sum(t.column(f"{e}_latency_us").to_numpy() for e in SPEC3.entity_names)
        assert (parts <= lat + 1).all()
    assert run.summary["ratios"][0]["latency_cache_corr"] is None  # 100% hot: constant input
    assert run.summary["ratios"][0]["fully_hot_pct"] == 100.0
    assert run.summary["ratios"][2]["fully_cold_pct"] == 100.0

    # cold keys never repeat within the run (measured requests and I/O samples together)
    io = run.io_samples()
    assert io.num_rows == 12 and pc.sum(pc.is_null(io.column("error"))).as_py() == 12
    keys = pq.read_table(out.path / "keys.parquet").to_pylist()
    hot_set = {(k["entity"], k["hash_key"]) for k in keys if k["is_hot"]}
    for e in SPEC3.entity_names:
        cold = [
            k
            for tbl in (req, io)
            for k, h in zip(
                tbl.column(f"{e}_key").to_pylist(), tbl.column(f"{e}_hot").to_pylist(), strict=True
            )
            if not h
        ]
        assert len(cold) == len(set(cold)) > 100
        assert not any((e, k) in hot_set for k in cold)

    # no secret anywhere in the run directory
    for f in out.path.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
    assert run.manifest["targets"][0]["target"].count(SECRET) == 0

    # SQL copies of the results, in featbench's schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT hot_pct, requests, p99_ms, target FROM {}.run_results WHERE run_id = %s ORDER BY hot_pct"
            ).format(sql.Identifier(data_schema)),
            ("r1",),
        ).fetchall()
        nkeys = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.run_keys WHERE run_id = %s").format(
                sql.Identifier(data_schema)
            ),
            ("r1",),
        ).fetchone()[0]
    assert [r[0] for r in rows] == [0, 50, 100] and all(r[1] == 200 for r in rows)
    assert all(SECRET not in r[3] for r in rows)
    assert nkeys == len(keys)


def test_fully_hot_share_matches_r_to_the_e_with_four_entities(
    backend: Any, tmp_path: Path
) -> None:
    n = 400
    out = _run(
        backend,
        SPEC4,
        tmp_path,
        ratios=(90, 70, 50),
        requests=n,
        warmup=0,
        io_sample_every=0,
        n_keys=2000,
    )
    assert validate_run(out.path) == []
    e = len(SPEC4.entities)
    assert e == 4 and len(SPEC4.tables) == 7
    for r in out.summary["ratios"]:
        p = (r["hot_pct"] / 100) ** e
        q = (1 - r["hot_pct"] / 100) ** e
        assert abs(r["fully_hot_pct"] / 100 - p) < 4 * math.sqrt(p * (1 - p) / n), r
        assert abs(r["fully_cold_pct"] / 100 - q) < 4 * math.sqrt(q * (1 - q) / n) + 1e-9, r
        assert abs(r["planned_hot_fraction"] - r["hot_pct"] / 100) < 4 * math.sqrt(0.25 / (n * e))
        assert r["io"]["sampled_requests"] == 0 and r["io"]["blocks_per_request"] is None
        assert r["errors"] == 0


def test_same_seed_same_keys_and_plan(backend: Any, tmp_path: Path, data_schema: str) -> None:
    kw = dict(ratios=(80, 20), requests=60, warmup=5, io_sample_every=0)
    a = _run(backend, SPEC3, tmp_path, "a", **kw)
    b = _run(backend, SPEC3, tmp_path, "b", **kw)
    c = _run(backend, SPEC3, tmp_path, "c", **{**kw, "seed": 6})
    ka, kb, kc = (pq.read_table(x.path / "keys.parquet") for x in (a, b, c))
    assert ka.equals(kb) and not ka.equals(kc)
    cols = ["hot_pct", "seq"] + [f"{e}_{s}" for e in SPEC3.entity_names for s in ("key", "hot")]
    ra, rb, rc = (pq.read_table(x.path / "requests.parquet", columns=cols) for x in (a, b, c))
    assert ra.equals(rb) and not ra.equals(rc)
    # reusing keys from a run: the same keys, and a refusal for another spec
    d = _run(backend, SPEC3, tmp_path, "d", **{**kw, "seed": 6}, keys_from=a.path)
    assert pq.read_table(d.path / "keys.parquet").equals(ka)
    assert read_run(d.path).manifest["keys"]["source"] == "run"
    with pytest.raises(FeatbenchError, match="another workload spec"):
        _run(backend, SPEC4, tmp_path, "e", **kw, keys_from=a.path)
    assert not (tmp_path / "e").exists()
    with pytest.raises(FeatbenchError, match="already exists"):
        _run(backend, SPEC3, tmp_path, "a", **kw)
    assert pq.read_table(a.path / "keys.parquet").equals(ka)  # untouched


class _StopAfter:
    def __init__(self, level: float, n: int) -> None:
        self.level, self.n, self.seen = level, n, 0

    def on_requests(self, b: Any) -> None:
        if b.level == self.level:
            self.seen += len(b)
            if self.seen >= self.n:
                raise KeyboardInterrupt


def test_an_interrupted_run_leaves_a_readable_directory(backend: Any, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        _run(backend, SPEC3, tmp_path, "int", listeners=[_StopAfter(50, 37)], pause_every=1)
    path = tmp_path / "int"
    assert validate_run(path) == []
    run = read_run(path)
    assert run.status == "interrupted" and run.manifest["finished_at"]
    by = {r["hot_pct"]: r for r in run.summary["ratios"]}
    assert set(by) == {0, 50}  # cold-first: 0 finished, 50 interrupted, 100 never started
    assert by[0]["requests"] == 200 and by[50]["requests"] == 37
    assert run.requests().num_rows == 237
    assert not (path / "requests").exists()  # parts consolidated


class _KillSession:
    """Terminates the session's backend from another connection after request #n."""

    def __init__(self, dsn: str, schema: str, n: int) -> None:
        self.dsn, self.schema, self.n, self.count, self.killed = dsn, schema, n, 0, 0

    def on_requests(self, b: Any) -> None:
        self.count += len(b)
        if self.count == self.n:
            with psycopg.connect(self.dsn, autocommit=True) as c:
                self.killed = c.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND query LIKE %s",
                    (f"%{self.schema}%",),
                ).fetchone()[0]


def test_a_dropped_connection_is_an_error_then_the_run_goes_on(
    backend: Any, tmp_path: Path, pg_dsn: str, data_schema: str
) -> None:
    killer = _KillSession(pg_dsn, data_schema, 30)
    # events delivered one by one, so the kill happens right after request 30
    out = _run(
        backend,
        SPEC3,
        tmp_path,
        "drop",
        ratios=(50,),
        requests=120,
        listeners=[killer],
        pause_every=1,
    )
    assert killer.killed >= 1
    assert out.status == "complete" and validate_run(out.path) == []
    r = out.summary["ratios"][0]
    run = read_run(out.path)
    (entry,) = run.manifest["load"]
    # The kill lands in a pause (listeners run only there), so the first request to see
    # the dead connection is the unmeasured repeat that follows every pause: it is
    # recorded (count and warning), the session reconnects, and every timed request after
    # it succeeds. A drop during a timed request is a counted error (test_load_model).
    assert r["requests"] == 120
    assert r["errors"] + entry["rewarm_errors"] == 1
    if entry["rewarm_errors"]:
        assert any("repeated after a pause failed" in w for w in run.manifest["warnings"])
    req = run.requests()
    errors = req.column("error").to_pylist()
    seqs = np.array(req.column("seq").to_pylist())
    assert all(e is None for s, e in zip(seqs, errors, strict=True) if s >= 30)


class _Boom:
    def __init__(self) -> None:
        self.n = 0

    def on_requests(self, b: Any) -> None:
        self.n += len(b)
        if self.n == 50:
            raise RuntimeError("listener bug")


def test_a_failed_run_says_so_and_keeps_what_it_measured(backend: Any, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="listener bug"):
        _run(backend, SPEC3, tmp_path, "boom", listeners=[_Boom()], pause_every=1)
    run = read_run(tmp_path / "boom")
    assert run.status == "failed" and "listener bug" in run.manifest["error"]
    assert validate_run(tmp_path / "boom") == []
    assert run.requests().num_rows >= 49


def test_stats_reset_is_opt_in(backend: Any, tmp_path: Path, pg_dsn: str) -> None:
    def stamp() -> Any:
        with psycopg.connect(pg_dsn, autocommit=True) as c:
            return c.execute(
                "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()[0]

    kw = dict(ratios=(50,), requests=20, warmup=0, io_sample_every=0)
    before = stamp()
    _run(backend, SPEC3, tmp_path, "noreset", **kw)  # the default: no reset
    assert stamp() == before
    out = _run(backend, SPEC3, tmp_path, "reset", **kw, reset_stats=True)
    superuser = backend.conn.execute(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()[0]
    if superuser:
        assert stamp() != before
    else:
        assert any("pg_stat_reset() refused" in w for w in out.warnings)


def test_a_refused_stats_reset_is_a_warning_not_a_failure(pg_dsn: str) -> None:
    from featbench.backends.pg_requests import try_reset_stats

    role = f"fbt_role_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        try:
            c.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            msg = try_reset_stats(c)
            c.execute("RESET ROLE")
        finally:
            c.execute("RESET ROLE")
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert msg is not None and "refused" in msg and "continuing" in msg


def test_several_targets_replay_the_same_plan(
    backend: Any, tmp_path: Path, pg_dsn: str, data_schema: str, pg_schema: str
) -> None:
    """Side by side: each target gets the same requests; strategies on one target do not."""
    fill_tables(pg_dsn, pg_schema, SPEC3)
    other = open_backend(pg_dsn, schema=pg_schema)
    try:
        out = run_benchmark(
            [backend, other],
            SPEC3,
            RunConfig(
                ratios=(60, 20), requests=80, warmup=5, n_keys=1200, io_sample_every=0, seed=5
            ),
            out=tmp_path,
            run_id="sbs",
        )
        with pytest.raises(FeatbenchError, match="given twice"):
            run_benchmark([backend, backend], SPEC3, RunConfig(), out=tmp_path, run_id="twice")
    finally:
        other.close()
    assert validate_run(out.path) == []
    assert len(out.summary["sections"]) == 2
    req = read_run(out.path).requests()
    cols = ["hot_pct", "seq"] + [f"{e}_key" for e in SPEC3.entity_names]
    by_target = {}
    for t in set(req.column("target").to_pylist()):
        rows = req.filter(pc.equal(req.column("target"), t)).select(cols)
        by_target[t] = sorted(zip(*[rows.column(c).to_pylist() for c in cols], strict=True))
    a, b = by_target.values()
    assert a == b and len(a) == 160
