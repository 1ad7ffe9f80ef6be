"""The compiled timed path (backends/pg_native.py) against a real PostgreSQL server.

It must record exactly what the Python path records for the same requests — rows and
keys found, lookups, per-entity times where the session measures them, errors — and
recover the same way when a request fails. Timing itself is never asserted here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from featbench.backends import pg_native
from featbench.backends.base import open_backend
from featbench.backends.pg_requests import SerialSession
from featbench.results.reader import read_run
from featbench.results.validate import validate_run
from featbench.runner.benchmark import RunConfig, run_benchmark
from featbench.runner.client import Client
from run_helpers import filled_schema, tiny_spec

SPEC = tiny_spec(3, rows=900, bigint_entities=(1,), name="cpath", prefix="cp")

pytestmark = pytest.mark.skipif(
    pg_native.unavailable() is not None, reason=f"no compiled path: {pg_native.unavailable()}"
)


@pytest.fixture(scope="module")
def schema(pg_dsn: str) -> Iterator[str]:
    with filled_schema(pg_dsn, "fbt_cpath", SPEC) as name:
        yield name


@pytest.fixture
def python_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(pg_native.ENV, "python")
    pg_native._compiled.cache_clear()
    yield
    monkeypatch.delenv(pg_native.ENV)
    pg_native._compiled.cache_clear()


def _run(pg_dsn: str, schema: str, out: Path, strategies: tuple[str, ...], **load: Any) -> Any:
    backend = open_backend(pg_dsn, schema=schema)
    try:
        cfg = RunConfig(ratios=(100, 0), requests=300, warmup=10, n_keys=900,
                        io_sample_every=40, seed=11, strategies=strategies, **load)  # fmt: skip
        # pauses every 64 requests: the compiled blocks are cut by pauses and I/O samples
        res = run_benchmark([backend], SPEC, cfg, out=out, run_id="r", pause_every=64)
    finally:
        backend.close()
    assert res.status == "complete" and validate_run(res.path) == []
    return read_run(res.path)


def _table(run: Any) -> dict[str, list[Any]]:
    """requests.parquet in a fixed order, without the times; a per-entity time only as
    present or not (the serial strategy measures it, the one-statement ones don't)."""
    t = run.requests().sort_by([("strategy", "ascending"), ("hot_pct", "ascending"),
                                ("seq", "ascending")])  # fmt: skip
    out: dict[str, list[Any]] = {}
    for c in t.column_names:
        if c.endswith("_latency_us") and c != "latency_us":
            out[c] = [v is not None for v in t.column(c).to_pylist()]
        elif not c.endswith("_ns") and c not in ("latency_us", "client"):
            out[c] = t.column(c).to_pylist()
    return out


def _counts(run: Any) -> list[tuple[Any, ...]]:
    """Per level: requests, errors, keys found, rows per lookup, entities timed."""
    return [
        (r.get("strategy"), r["hot_pct"], r["requests"], r["errors"], r["keys_found_pct"],
         r["rows_per_lookup"], sorted(r.get("entity_latency_ms") or {}))
        for r in run.summary["ratios"]
    ]  # fmt: skip


def _paths(run: Any) -> set[str]:
    return {e["timed_path"] for e in run.manifest["load"]}


OPEN = {"rate": 3000.0, "duration_s": 0.1}  # an open loop of 300 requests per level


@pytest.mark.parametrize(
    ("strategies", "load"),
    [(("serial", "function"), {}), (("union",), {}), (("serial", "function"), OPEN)],
    ids=["serial+function", "union", "open-loop"],
)
def test_the_compiled_path_records_what_the_python_path_records(
    pg_dsn: str,
    schema: str,
    tmp_path: Path,
    strategies: tuple[str, ...],
    load: dict[str, Any],
    request: Any,
) -> None:
    compiled = _run(pg_dsn, schema, tmp_path / "c", strategies, **load)
    request.getfixturevalue("python_path")
    python = _run(pg_dsn, schema, tmp_path / "p", strategies, **load)
    assert _paths(compiled) == {"compiled"} and _paths(python) == {"python"}
    a = _table(compiled)
    assert a == _table(python)  # the same requests, keys, errors (none), entities timed
    assert len(a["seq"]) == 600 * len(strategies) and not any(a["error"])
    if load:  # an open loop: every request has its intended start and never starts early
        t = compiled.requests()
        sched, start = t.column("scheduled_ns").to_pylist(), t.column("start_ns").to_pylist()
        assert None not in sched and all(b >= s for s, b in zip(sched, start, strict=True))
    counts = _counts(compiled)
    assert counts == _counts(python)  # keys found and rows per lookup, level by level
    assert all(0 < c[4] < 100 for c in counts)  # some keys found and some not: it counts
    timed = {c[0]: c[6] for c in counts}
    assert timed.get("serial", list(SPEC.entity_names)) == list(SPEC.entity_names)


def _client(pg_dsn: str, schema: str) -> tuple[Client, list[Any], np.ndarray]:
    def factory() -> SerialSession:
        return SerialSession(pg_dsn, schema, SPEC)

    with psycopg.connect(pg_dsn) as c:
        cols = []
        for e in SPEC.entity_names:
            t = SPEC.tables_for(e)[0]
            cols.append([r[0] for r in c.execute(
                sql.SQL("SELECT {} FROM {}.{} ORDER BY 1 LIMIT 50").format(
                    sql.Identifier(SPEC.key_column_of(t)), sql.Identifier(schema),
                    sql.Identifier(t.table_name)))])  # fmt: skip
    chunks: list[Any] = []
    progress = np.zeros(1, dtype=np.int64)
    client = Client(factory, SPEC.entity_names, cols, sink=chunks.append, warn=lambda m: None,
                    pause_every=1000, progress=progress)  # fmt: skip
    return client, chunks, progress


def test_a_request_that_fails_in_a_compiled_block_is_recorded_and_the_session_recovers(
    pg_dsn: str, schema: str
) -> None:
    client, chunks, progress = _client(pg_dsn, schema)
    assert client.timed_path == "compiled"
    n_e = len(SPEC.entity_names)
    rng = np.random.default_rng(3)
    key_idx = rng.integers(0, 50, size=(600, n_e))
    io = np.zeros(600, dtype=bool)
    killed: list[int] = []

    def stop() -> bool:  # asked between compiled blocks: kill the backend once, mid-run
        if progress[0] >= 200 and not killed:
            with psycopg.connect(pg_dsn, autocommit=True) as c:
                pid = client.session.backend_pid  # type: ignore[attr-defined]
                c.execute("SELECT pg_terminate_backend(%s)", (pid,))
                killed.append(pid)
        return False

    st = client.run(key_idx, io, measured=True, stop=stop)
    client.close()
    assert killed and st.timed_path == "compiled"
    assert st.requests == 600 and st.errors == 1
    errors = {s: e for c in chunks for s, e in ((int(c.seq[i]), m) for i, m in c.errors.items())}
    ((seq, msg),) = errors.items()
    assert "terminat" in msg.lower() or "closed" in msg.lower() or "server" in msg.lower()
    seqs = np.concatenate([c.seq for c in chunks])
    assert sorted(seqs.tolist()) == list(range(600))  # every request recorded, once
    looked = np.concatenate([c.lookups for c in chunks])
    # serial counts the lookups that answered: all 6 but for the failed request
    assert set(looked[seqs != seq].tolist()) == {len(SPEC.tables)}
    assert looked[seqs == seq][0] < len(SPEC.tables)
    ent = np.concatenate([c.entity_ns for c in chunks])
    assert (ent[seqs != seq] > 0).all()  # every entity timed in every good request
    assert client.session.backend_pid != killed[0]  # type: ignore[attr-defined]


def test_the_python_path_is_used_where_asked(pg_dsn: str, schema: str, python_path: None) -> None:
    client, _, _ = _client(pg_dsn, schema)
    try:
        assert client.timed_path == "python"
        assert "FEATBENCH_TIMED_PATH=python" in (pg_native.unavailable() or "")
    finally:
        client.close()


def test_without_the_built_loop_the_python_path_runs(
    pg_dsn: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an install without a C compiler has no _timedloop library: runs still work
    monkeypatch.setattr(pg_native, "_loop_library", lambda: None)
    pg_native._compiled.cache_clear()
    try:
        assert "not built" in (pg_native.unavailable() or "")
        client, _, _ = _client(pg_dsn, schema)
        try:
            assert client.timed_path == "python"
            st = client.run(np.zeros((20, len(SPEC.entity_names)), dtype=np.int64),
                            np.zeros(20, dtype=bool), measured=True)  # fmt: skip
            assert st.requests == 20 and st.errors == 0 and st.timed_path == "python"
        finally:
            client.close()
    finally:
        monkeypatch.undo()
        pg_native._compiled.cache_clear()


def test_a_compiled_block_runs_without_the_gil(pg_dsn: str, schema: str) -> None:
    """While a block runs, another Python thread runs too: the loop holds no GIL, so no
    Python code — featbench's or a notebook's — can hold the timed requests back."""
    import threading
    import time

    client, _, _ = _client(pg_dsn, schema)
    try:
        plan, out, keys = client._plan, client._out, client._keys
        assert plan is not None
        rows = np.zeros((1000, len(SPEC.entity_names)), dtype=np.int64)  # the client's slots
        ticks: list[int] = []
        go = threading.Event()
        done = threading.Event()

        def count() -> None:
            go.set()
            while not done.is_set():
                ticks.append(time.perf_counter_ns())

        th = threading.Thread(target=count)
        th.start()
        go.wait()
        t0 = time.perf_counter_ns()
        n, err = plan.run(rows, 0, 2**62, out, keys, True)
        t1 = time.perf_counter_ns()
        done.set()
        th.join()
        assert err is None and n > 0
        inside = [t for t in ticks if t0 < t < t1]
        # the other thread kept running during the call (its ticks span the call)
        assert inside and inside[0] - t0 < (t1 - t0) / 4 and t1 - inside[-1] < (t1 - t0) / 4
    finally:
        client.close()


def test_a_block_that_does_not_fit_the_arrays_is_refused(pg_dsn: str, schema: str) -> None:
    client, _, _ = _client(pg_dsn, schema)
    try:
        plan = client._plan
        assert plan is not None
        rows = np.zeros((10, len(SPEC.entity_names)), dtype=np.int64)
        with pytest.raises(ValueError, match="does not fit"):
            plan.run(rows, 995, 2**62, client._out, client._keys, True)
        with pytest.raises(ValueError, match="outside"):
            plan.run(rows + 50, 0, 2**62, client._out, client._keys, True)  # 50 keys each
    finally:
        client.close()
