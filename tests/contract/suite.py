"""The one contract every backend passes (dbt-adapters style).

A backend's test module subclasses `BackendContract` and provides one class-scoped
fixture, `backend_factory`: a callable that opens the backend on a fresh namespace
(schema) and registers its cleanup. Nothing else is backend-specific: a new store is
done when this suite passes against it unchanged.

Data: fraud-30 at a tiny scale (hex keys, 30 tables, nested windows) and `CUSTOM`, a
small spec with bigint keys and every column type. Expected rows come from the
generator, so every check is against an independent source of truth.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from featbench.backends.base import Backend, IOSample, LoadReport, RequestResult, Session
from featbench.backends.kvstore import compare_row, expected_row
from featbench.errors import FeatbenchError
from featbench.generate import keys_for
from featbench.spec import WorkloadSpec, builtin_spec, scaled_rows, spec_from_dict

FRAUD_SCALE = 0.002  # 44..168 rows a table, ~2,900 in all
CUSTOM_SCALE = 1.0
SEED = 7

CUSTOM: dict[str, Any] = {
    "name": "contract-custom",
    "key_column": "entity_id",
    "key_universe": "nested",
    "entities": [
        {"name": "account", "key_type": "bigint"},
        {"name": "device", "key_type": "bigint"},
    ],
    "tables": [
        {
            "entity": "account",
            "family": "profile",
            "rows": 90,
            "columns": [
                {
                    "name": "age_days",
                    "type": "integer",
                    "gen": "int_uniform",
                    "low": 0,
                    "high": 4000,
                },
                {"name": "verified", "type": "boolean", "gen": "bool", "mean": 0.3},
                {
                    "name": "tier",
                    "type": "text",
                    "gen": "category",
                    "choices": ["free", "pro", "ünïcode"],
                },
                {"name": "score", "type": "double", "gen": "uniform", "low": -1e-7, "high": 1e17},
                {"name": "opened", "type": "timestamptz", "gen": "first_seen"},
            ],
        },
        {
            "entity": "account",
            "family": "activity",
            "window": "7d",
            "rows": 30,
            "columns": [
                {"name": "logins", "type": "bigint", "gen": "count", "mean": 5},
                {
                    "name": "failed",
                    "type": "bigint",
                    "gen": "subcount",
                    "of": "logins",
                    "mean": 0.2,
                },
                {
                    "name": "fail_rate",
                    "type": "double",
                    "gen": "rate",
                    "of": "failed",
                    "per": "logins",
                },
            ],
        },
        {
            "entity": "account",
            "family": "activity",
            "window": "30d",
            "rows": 60,
            "columns": [
                {"name": "logins", "type": "bigint", "gen": "count", "mean": 20},
                {
                    "name": "failed",
                    "type": "bigint",
                    "gen": "subcount",
                    "of": "logins",
                    "mean": 0.2,
                },
                {
                    "name": "fail_rate",
                    "type": "double",
                    "gen": "rate",
                    "of": "failed",
                    "per": "logins",
                },
            ],
        },
        {
            "entity": "device",
            "family": "risk",
            "window": "1d",
            "rows": 40,
            "columns": [
                {"name": "emulator", "type": "boolean"},
                {"name": "ip_count", "type": "integer", "gen": "int_uniform", "low": 0, "high": 50},
                {"name": "model", "type": "text", "gen": "text", "length": 10},
                {"name": "last_seen", "type": "timestamptz", "gen": "first_seen"},
            ],
        },
    ],
}


def custom_spec() -> WorkloadSpec:
    return spec_from_dict(CUSTOM, "contract-custom")


@dataclass
class Loaded:
    backend: Backend
    spec: WorkloadSpec
    scale: float
    seed: int
    report: LoadReport

    def key(self, entity: str, i: int) -> Any:
        """The entity's key number i (row i of each of its tables, nested universes)."""
        t = self.spec.tables_for(entity)[0]
        return keys_for(self.spec, t, self.seed, i, i + 1)[0].as_py()

    def universe(self, entity: str) -> int:
        return max(scaled_rows(t, self.scale) for t in self.spec.tables_for(entity))

    def probe_indexes(self, entity: str) -> list[int]:
        """Key numbers worth checking: ends of every table's range, and a few seeded others."""
        sizes = sorted({scaled_rows(t, self.scale) for t in self.spec.tables_for(entity)})
        picks = {0, 1}
        for n in sizes:
            picks.update({n - 1, n})  # last key of a table, and the first one it lacks
        rng = np.random.default_rng(SEED)
        picks.update(int(i) for i in rng.integers(0, sizes[-1], size=4))
        return sorted(i for i in picks if i < sizes[-1])


def _rows_found_in_child(factory: Any, keys: dict[str, Any]) -> tuple[int, str | None]:
    """Runs in a spawned process: open a session from the factory, execute one request."""
    s = factory()
    try:
        r = s.execute(keys)
        return r.rows_found, r.error
    finally:
        s.close()


def absent_key(spec: WorkloadSpec, entity: str) -> Any:
    return -1 if spec.entity(entity).key_type == "bigint" else "0" * 64


def rows_equal_generator(ld: Loaded) -> None:
    for e in ld.spec.entity_names:
        for i in ld.probe_indexes(e):
            got = ld.backend.fetch(ld.spec, {e: ld.key(e, i)})
            assert set(got) == {t.table_name for t in ld.spec.tables_for(e)}
            # every row of the key (`get`): one row per key and table in generated data
            every = ld.backend.fetch_all(ld.spec, {e: ld.key(e, i)})
            assert every == {t: [] if r is None else [r] for t, r in got.items()}
            for t in ld.spec.tables_for(e):
                if i < scaled_rows(t, ld.scale):
                    want = expected_row(ld.spec, t, ld.seed, i)
                    problems = compare_row(want, got[t.table_name], f"{t.table_name} row {i}")
                    assert not problems, problems[:5]
                else:
                    assert got[t.table_name] is None, f"{t.table_name} has key {i} beyond its rows"


class BackendContract:
    """Subclasses provide `backend_factory` (class scope): ns -> opened backend, cleaned up after."""

    unreachable_target: str = ""  # a target URL of this kind that nothing listens on

    @pytest.fixture(scope="class")
    @classmethod
    def backend_factory(cls) -> Callable[[], Backend]:  # pragma: no cover - overridden
        raise NotImplementedError

    @staticmethod
    def _load(factory: Callable[[], Backend], spec: WorkloadSpec, scale: float) -> Loaded:
        b = factory()
        report = b.load(spec, scale, SEED, streams=2)
        return Loaded(b, spec, scale, SEED, report)

    @pytest.fixture(scope="class")
    @classmethod
    def fraud(cls, backend_factory: Callable[[], Backend]) -> Loaded:
        return cls._load(backend_factory, builtin_spec("fraud-30"), FRAUD_SCALE)

    @pytest.fixture(scope="class")
    @classmethod
    def custom(cls, backend_factory: Callable[[], Backend]) -> Loaded:
        return cls._load(backend_factory, custom_spec(), CUSTOM_SCALE)

    @pytest.fixture(params=["fraud", "custom"])
    def loaded(self, request: pytest.FixtureRequest) -> Loaded:
        return request.getfixturevalue(request.param)

    # -- the protocol and the load -----------------------------------------------------
    def test_is_a_backend(self, fraud: Loaded) -> None:
        b = fraud.backend
        assert isinstance(b, Backend)
        assert b.kind in ("postgres", "redis", "dynamodb")
        assert b.strategies and all(isinstance(s, str) for s in b.strategies)

    def test_load_report(self, loaded: Loaded) -> None:
        r = loaded.report
        assert r.tables_loaded == len(loaded.spec.tables)
        assert r.tables_skipped == 0
        assert r.rows == sum(scaled_rows(t, loaded.scale) for t in loaded.spec.tables)
        assert r.seconds > 0
        assert all(c.ok for c in r.checks), [c for c in r.checks if not c.ok]

    def test_verify(self, loaded: Loaded) -> None:
        checks = loaded.backend.verify(loaded.spec, loaded.scale, loaded.seed, sample=8)
        assert [c.table for c in checks] == [t.table_name for t in loaded.spec.tables]
        assert all(c.ok for c in checks), [c for c in checks if not c.ok][:3]
        for c, t in zip(checks, loaded.spec.tables, strict=True):
            assert c.rows is None or c.rows == scaled_rows(t, loaded.scale)

    def test_verify_notices_another_seed(self, fraud: Loaded) -> None:
        checks = fraud.backend.verify(fraud.spec, fraud.scale, fraud.seed + 1, sample=3)
        assert not any(c.ok for c in checks)

    # -- rows ------------------------------------------------------------------------
    def test_rows_equal_generator(self, loaded: Loaded) -> None:
        rows_equal_generator(loaded)

    def test_fetch_absent_key(self, loaded: Loaded) -> None:
        e = loaded.spec.entity_names[0]
        got = loaded.backend.fetch(loaded.spec, {e: absent_key(loaded.spec, e)})
        assert got == {t.table_name: None for t in loaded.spec.tables_for(e)}

    def test_fetch_typed(self, custom: Loaded) -> None:
        row = custom.backend.fetch(custom.spec, {"account": custom.key("account", 0)})[
            "account__profile"
        ]
        assert row is not None
        assert isinstance(row["entity_id"], int) and isinstance(row["age_days"], int)
        assert isinstance(row["verified"], bool) and isinstance(row["score"], float)
        assert isinstance(row["opened"], datetime) and row["opened"].utcoffset() is not None

    # -- tables ------------------------------------------------------------------------
    def test_check_tables(self, fraud: Loaded) -> None:
        fraud.backend.check_tables(fraud.spec)

    def test_check_tables_names_missing_table(self, fraud: Loaded) -> None:
        data = fraud.spec.model_dump(mode="json")
        extra = dict(data["tables"][0], family="not_loaded_family")
        data["tables"].append(extra)
        spec = spec_from_dict(data)
        with pytest.raises(FeatbenchError, match="card_fingerprint__not_loaded_family__30d"):
            fraud.backend.check_tables(spec)

    # -- keys ------------------------------------------------------------------------
    def test_sample_keys_reproducible(self, loaded: Loaded) -> None:
        b, spec = loaded.backend, loaded.spec
        for e in spec.entity_names:
            a = b.sample_keys(spec, e, 12, seed=3)
            assert a == b.sample_keys(spec, e, 12, seed=3)
            # At least n distinct keys when the store holds that many (a backend may return
            # a few more: PostgreSQL's TABLESAMPLE gives "about n").
            assert len(a) >= 12 and len(set(a)) == len(a)
            assert a != b.sample_keys(spec, e, 12, seed=4)
            want_type = int if spec.entity(e).key_type == "bigint" else str
            assert all(type(k) is want_type for k in a)
            universe = {loaded.key(e, i) for i in range(loaded.universe(e))}
            assert set(a) <= universe
            for k in a[:4]:
                assert any(r is not None for r in b.fetch(spec, {e: k}).values())

    def test_sample_keys_more_than_exist(self, custom: Loaded) -> None:
        e = "device"
        n = custom.universe(e)
        keys = custom.backend.sample_keys(custom.spec, e, n + 50, seed=1)
        assert sorted(keys) == sorted(custom.key(e, i) for i in range(n))

    # -- requests --------------------------------------------------------------------
    def test_strategies_rows_found(self, loaded: Loaded) -> None:
        spec = loaded.spec
        ents = spec.entity_names
        tables = {e: spec.tables_for(e) for e in ents}
        looked_up = sum(len(ts) for ts in tables.values())
        requests: list[dict[str, int | None]] = []  # entity -> key number (None: absent key)
        for j, i in enumerate(loaded.probe_indexes(ents[0])):
            requests.append({e: min(i + j, loaded.universe(e) - 1) for e in ents})
        requests.append({e: None for e in ents})
        for strategy in loaded.backend.strategies:
            s = loaded.backend.session(spec, strategy)
            try:
                assert s.strategy == strategy
                for idx in requests:
                    keys = {
                        e: absent_key(spec, e) if i is None else loaded.key(e, i)
                        for e, i in idx.items()
                    }
                    r = s.execute(keys)
                    assert isinstance(r, RequestResult)
                    assert r.error is None, r.error
                    assert r.rows_looked_up == looked_up
                    want = sum(
                        1
                        for e, i in idx.items()
                        for t in tables[e]
                        if i is not None and i < scaled_rows(t, loaded.scale)
                    )
                    assert r.rows_found == want, (strategy, idx)
                    if r.entity_ns is not None:
                        assert set(r.entity_ns) == set(ents) and all(
                            v > 0 for v in r.entity_ns.values()
                        )
                    assert r.consumed_units is None or r.consumed_units >= 0
            finally:
                s.close()

    def test_sessions_open_in_another_process(self, fraud: Loaded) -> None:
        """Worker processes open sessions from a picklable factory: same answers as session()."""
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        spec, b = fraud.spec, fraud.backend
        keys = {e: fraud.key(e, 1) for e in spec.entity_names}
        factories = {s: b.session_factory(spec, s) for s in b.strategies}
        assert all(f is not None for f in factories.values())
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            got = dict(zip(factories, pool.map(_rows_found_in_child, factories.values(), [keys] * len(factories)), strict=True))  # fmt: skip
        for strategy in b.strategies:
            s = b.session(spec, strategy)
            try:
                want = s.execute(keys)
            finally:
                s.close()
            assert want.error is None and got[strategy] == (want.rows_found, None), strategy

    def test_a_concurrent_run_uses_client_processes(self, fraud: Loaded, tmp_path: Any) -> None:
        """The path real runs take: run_benchmark with two client processes."""
        from featbench.runner.benchmark import RunConfig, run_benchmark

        b = fraud.backend
        cfg = RunConfig(
            ratios=(100, 0), requests=30, warmup=5, n_keys=120, io_sample_every=10,
            seed=SEED, concurrency=2, strategies=(b.strategies[0],),
        )  # fmt: skip
        out = run_benchmark([b], fraud.spec, cfg, out=tmp_path, run_id="c2", sql_results=False)
        assert out.status == "complete"
        manifest = json.loads((out.path / "manifest.json").read_text())
        assert {e["workers"] for e in manifest["load"]} == {"processes"}
        for r in out.summary["ratios"]:
            assert r["requests"] == 30 and r["errors"] == 0
            assert r["latency_ms"]["p50"] is not None

    def test_session_hooks_the_runner_uses(self, fraud: Loaded) -> None:
        """Every hook the client calls exists on every session; a missing capability says so."""
        spec, b = fraud.spec, fraud.backend
        keys = {e: fraud.key(e, 1) for e in spec.entity_names}
        for strategy in b.strategies:
            s = b.session(spec, strategy)
            try:
                assert isinstance(s, Session)
                assert isinstance(s.stats, dict) and isinstance(s.io_sampling, bool)
                s.flush_stats()
                s.recover()  # a healthy session stays usable
                assert s.execute(keys).error is None
                if s.io_sampling:
                    sample = s.explain(keys)
                    assert isinstance(sample, IOSample)
                    assert sample.shared_hit + sample.shared_read > 0
                else:
                    with pytest.raises(FeatbenchError):
                        s.explain(keys)
            finally:
                s.close()

    def test_backend_capabilities_the_runner_uses(self, fraud: Loaded) -> None:
        b = fraud.backend
        assert isinstance(b.redacted, str) and b.redacted
        assert isinstance(b.namespace, str) and b.namespace
        b.check_capacity(fraud.spec, b.strategies, 1)  # one client is always admitted
        tables = b.result_tables()
        if tables is not None:
            from featbench.workload.keys import build_keyset

            ks = build_keyset(
                {e: [fraud.key(e, i) for i in range(3)] for e in fraud.spec.entity_names},
                fraud.spec, seed=1, hot_fraction=0.34, requested=3,
            )  # fmt: skip
            tables.write_keys("contract-run", ks.to_arrow())
        assert b.loaded_dataset(fraud.spec) == (fraud.scale, fraud.seed)

    def test_drop_removes_what_featbench_loaded(
        self, backend_factory: Callable[[], Backend]
    ) -> None:
        b = backend_factory()
        spec = custom_spec()
        b.load(spec, CUSTOM_SCALE, SEED, streams=1)
        b.check_tables(spec)
        assert b.drop()
        with pytest.raises(FeatbenchError):
            b.check_tables(spec)
        assert b.loaded_dataset(spec) is None
        assert b.drop() == []  # nothing left of featbench's

    def test_unknown_strategy(self, fraud: Loaded) -> None:
        with pytest.raises(FeatbenchError, match="nope"):
            fraud.backend.session(fraud.spec, "nope")

    def test_counters(self, fraud: Loaded) -> None:
        c = fraud.backend.counters(fraud.spec)
        assert c is None or all(isinstance(v, int) for v in c.values())

    def test_describe(self, fraud: Loaded) -> None:
        d = fraud.backend.describe()
        json.dumps(d, default=str)
        assert isinstance(d, dict) and d

    # -- bad input ---------------------------------------------------------------------
    def test_unreachable_target(self) -> None:
        from featbench.backends.base import open_backend

        with pytest.raises(FeatbenchError) as ei:
            b = open_backend(self.unreachable_target)
            b.check_tables(builtin_spec("fraud-30"))  # lazily connecting backends fail here
        assert "\n" not in str(ei.value)
