"""Key sampling (real server) and request plans (pure)."""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from featbench.backends import pg_requests
from featbench.errors import FeatbenchError
from featbench.spec import spec_from_dict
from featbench.workload.keys import KeySet, build_keyset, hot_count, sample_keyset
from featbench.workload.plan import PlanConfig, build_plan, parse_ratios
from run_helpers import fill_tables, tiny_spec


def _keyset(
    entities: int = 3, n: int = 10_000, hot_fraction: float = 0.01, seed: int = 1
) -> KeySet:
    spec = tiny_spec(entities)
    sampled = {e: [f"{e}-{i:06d}" for i in range(n)] for e in spec.entity_names}
    return build_keyset(sampled, spec, seed=seed, hot_fraction=hot_fraction, requested=n)


# -- plans (pure) ----------------------------------------------------------------------------
def test_same_seed_same_plan_other_seed_other_plan() -> None:
    ks = _keyset()
    cfg = PlanConfig(requests=300, warmup=50, seed=7)
    a, b = build_plan(ks, cfg), build_plan(ks, cfg)
    c = build_plan(ks, PlanConfig(requests=300, warmup=50, seed=8))
    for (wa, ma), (wb, mb), (_, mc) in zip(
        a.sections[0].levels, b.sections[0].levels, c.sections[0].levels, strict=True
    ):
        assert np.array_equal(ma.hot, mb.hot) and np.array_equal(ma.key_idx, mb.key_idx)
        assert np.array_equal(wa.key_idx, wb.key_idx)
        if 0 < ma.level < 100:
            assert not np.array_equal(ma.hot, mc.hot)
    assert list(a.requests(a.sections[0].levels[3][1])) == list(
        b.requests(b.sections[0].levels[3][1])
    )


def test_cold_keys_never_repeat_across_ratios_warmup_samples_and_sections() -> None:
    ks = _keyset()
    plan = build_plan(
        ks, PlanConfig(requests=400, warmup=60, io_sample_every=25, sections=2, seed=3)
    )
    for j, e in enumerate(ks.entities):
        cold_ranks: list[int] = []
        for sec in plan.sections:
            for warm, meas in sec.levels:
                for lp in (warm, meas):
                    idx = lp.key_idx[:, j]
                    cold = idx[~lp.hot[:, j]]
                    hot = idx[lp.hot[:, j]]
                    assert (cold >= ks.n_hot[e]).all() and (hot < ks.n_hot[e]).all()
                    cold_ranks += cold.tolist()
        assert len(cold_ranks) == len(set(cold_ranks)), f"a cold key of {e} repeats"
        assert len(cold_ranks) == plan.cold_used[e]["measured"] + plan.cold_used[e]["warmup"]


@pytest.mark.parametrize("ratio", [90, 70, 50, 30])
@pytest.mark.parametrize("entities", [3, 4])
def test_fully_hot_share_is_r_to_the_e(ratio: int, entities: int) -> None:
    n = 20_000
    ks = _keyset(entities, n=60_000)
    plan = build_plan(
        ks, PlanConfig(ratios=(ratio,), requests=n, warmup=0, io_sample_every=0, seed=11)
    )
    hot = plan.sections[0].levels[0][1].hot
    p = (ratio / 100) ** entities
    sd = math.sqrt(p * (1 - p) / n)
    assert abs(hot.all(axis=1).mean() - p) < 4 * sd
    q = (1 - ratio / 100) ** entities
    assert abs((~hot).all(axis=1).mean() - q) < 4 * math.sqrt(q * (1 - q) / n) + 1e-9
    assert abs(hot.mean() - ratio / 100) < 0.01


def test_io_samples_are_extra_slots() -> None:
    plan = build_plan(
        _keyset(), PlanConfig(ratios=(50,), requests=1000, warmup=0, io_sample_every=100)
    )
    lp = plan.sections[0].levels[0][1]
    assert lp.timed == 1000 and len(lp) == 1010
    assert np.flatnonzero(lp.io_sample).tolist() == [100 + 101 * i for i in range(10)]


def test_too_few_cold_keys_fails_before_running_and_says_how_many() -> None:
    ks = _keyset(n=500)
    with pytest.raises(FeatbenchError, match=r"needs [\d,]+ cold keys .* --keys \d+"):
        build_plan(ks, PlanConfig(requests=1000))


def test_ratio_order_choices() -> None:
    ks = _keyset()
    cfg = dict(ratios=(100, 50, 0, 90), requests=10, warmup=0)
    assert build_plan(ks, PlanConfig(**cfg)).order == [0, 50, 90, 100]  # cold-first default
    assert build_plan(ks, PlanConfig(**cfg, ratio_order="given")).order == [100, 50, 0, 90]
    r1 = build_plan(ks, PlanConfig(**cfg, ratio_order="random", seed=5)).order
    assert sorted(r1) == [0, 50, 90, 100]
    assert r1 == build_plan(ks, PlanConfig(**cfg, ratio_order="random", seed=5)).order


@pytest.mark.parametrize("text", ["101", "-1", "50,abc", "", "50,50"])
def test_bad_ratios(text: str) -> None:
    with pytest.raises(FeatbenchError, match="--ratios"):
        parse_ratios(text)


def test_parse_ratios_ok() -> None:
    assert parse_ratios("100, 90,12.5%,0") == (100.0, 90.0, 12.5, 0.0)


def test_hot_count_and_keyset_roundtrip() -> None:
    assert hot_count(10_000, 0.01) == 100
    assert hot_count(50, 0.01) == 1 and hot_count(2, 0.9) == 1
    spec = tiny_spec(2, bigint_entities=(1,))
    ks = build_keyset(
        {"ent0": ["b", "a", "c", "a"], "ent1": [5, 3, 9, 11]},
        spec,
        seed=2,
        hot_fraction=0.3,
        requested=10,
    )
    assert sorted(ks.keys["ent0"]) == ["a", "b", "c"]  # deduplicated
    back = KeySet.from_arrow(ks.to_arrow(), spec)
    assert back.keys == ks.keys and back.n_hot == ks.n_hot
    assert all(isinstance(k, int) for k in back.keys["ent1"])
    # the ranking depends on the set of keys and the seed, not the order they came in
    again = build_keyset(
        {"ent0": ["c", "a", "b"], "ent1": [11, 9, 5, 3]},
        spec,
        seed=2,
        hot_fraction=0.3,
        requested=10,
    )
    assert again.keys == ks.keys


# -- sampling on a real server --------------------------------------------------------------
@pytest.fixture
def pg_conn(pg_dsn: str) -> Any:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn


def test_sampling_is_seeded_and_covers_all_tables(
    pg_dsn: str, pg_schema: str, pg_conn: Any
) -> None:
    spec = tiny_spec(2, rows=3000, bigint_entities=(1,))
    fill_tables(pg_dsn, pg_schema, spec)
    a = pg_requests.sample_keys(pg_conn, pg_schema, spec, "ent0", 600, 7)
    b = pg_requests.sample_keys(pg_conn, pg_schema, spec, "ent0", 600, 7)
    c = pg_requests.sample_keys(pg_conn, pg_schema, spec, "ent0", 600, 8)
    assert a == b and set(a) != set(c)
    assert len(a) >= 600 and len(set(a)) == len(a)
    ints = pg_requests.sample_keys(pg_conn, pg_schema, spec, "ent1", 300, 7)
    assert all(isinstance(k, int) for k in ints)
    # keys come from every table: some are only in the 90d table (rows 3000..5999)
    only_long = pg_conn.execute(
        sql.SQL("SELECT count(*) FROM {}.{} WHERE hash_key = ANY(%s)").format(
            sql.Identifier(pg_schema), sql.Identifier("ent0__fam__30d")
        ),
        (a,),
    ).fetchone()[0]
    assert 0 < only_long < len(a)
    ks = sample_keyset(
        lambda e, n, s: pg_requests.sample_keys(pg_conn, pg_schema, spec, e, n, s),
        spec,
        n=500,
        seed=3,
        hot_fraction=0.01,
    )
    ks2 = sample_keyset(
        lambda e, n, s: pg_requests.sample_keys(pg_conn, pg_schema, spec, e, n, s),
        spec,
        n=500,
        seed=3,
        hot_fraction=0.01,
    )
    assert ks.keys == ks2.keys and ks.n_hot == {"ent0": 5, "ent1": 5}


def test_sampling_a_table_smaller_than_the_sample(
    pg_dsn: str, pg_schema: str, pg_conn: Any
) -> None:
    spec = tiny_spec(1, tables_per_entity=(2,), rows=40)  # 40 and 80 rows
    fill_tables(pg_dsn, pg_schema, spec)
    keys = pg_requests.sample_keys(pg_conn, pg_schema, spec, "ent0", 500, 1)
    assert len(keys) == 80  # every key there is, no error
    assert keys == pg_requests.sample_keys(pg_conn, pg_schema, spec, "ent0", 500, 1)
    # and with statistics unknown (never analyzed) it still works
    pg_conn.execute(sql.SQL("CREATE TABLE {}.fresh AS SELECT * FROM {}.ent0__fam__90d").format(
        sql.Identifier(pg_schema), sql.Identifier(pg_schema)))  # fmt: skip
    t = spec.tables[1].model_copy(update={"name": "fresh"})
    spec2 = spec.model_copy(update={"tables": [t]})
    fresh = pg_requests.sample_keys(pg_conn, pg_schema, spec2, "ent0", 30, 1)
    assert 30 <= len(fresh) <= 80 and len(set(fresh)) == len(fresh)


def test_sampling_tables_featbench_did_not_generate(
    pg_dsn: str, pg_schema: str, pg_conn: Any, tmp_path: Any
) -> None:
    """Bring your own feature store: another schema, another key column, TABLESAMPLE path."""
    own = f"byo_{uuid.uuid4().hex[:8]}"
    try:
        pg_conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(own)))
        pg_conn.execute(
            sql.SQL(
                "CREATE TABLE {}.card_stats AS SELECT 'card-' || g AS card_id, g % 97 AS n_txn, "
                "random() AS score FROM generate_series(1, 20000) g"
            ).format(sql.Identifier(own))
        )
        pg_conn.execute(
            sql.SQL("ALTER TABLE {}.card_stats ADD PRIMARY KEY (card_id)").format(
                sql.Identifier(own)
            )
        )
        pg_conn.execute(sql.SQL("ANALYZE {}.card_stats").format(sql.Identifier(own)))
        spec = spec_from_dict(
            {
                "name": "byo",
                "entities": [{"name": "card"}],
                "tables": [
                    {
                        "entity": "card", "family": "stats", "name": "card_stats", "rows": 20000,
                        "schema_name": own, "key_column": "card_id",
                        "columns": [{"name": "n_txn", "type": "integer"}, {"name": "score", "type": "double"}],
                    }
                ],
            }
        )  # fmt: skip
        pg_requests.check_tables(pg_conn, pg_schema, spec)
        keys = pg_requests.sample_keys(pg_conn, pg_schema, spec, "card", 200, 9)
        assert len(keys) >= 200 and all(k.startswith("card-") for k in keys)
        assert keys == pg_requests.sample_keys(pg_conn, pg_schema, spec, "card", 200, 9)
        rows = pg_requests.fetch_rows(pg_conn, pg_schema, spec, {"card": keys[0]})
        assert rows["card_stats"]["card_id"] == keys[0]
        s = pg_requests.open_session(pg_dsn, pg_schema, spec, "serial")
        try:
            res = s.execute({"card": keys[0]})
            assert (res.rows_found, res.rows_looked_up, res.error) == (1, 1, None)
            assert s.execute({"card": "no-such-card"}).rows_found == 0
        finally:
            s.close()
        bad = spec.model_copy(
            update={"tables": [spec.tables[0].model_copy(update={"key_column": "nope"})]}
        )
        with pytest.raises(FeatbenchError, match="no key column 'nope'"):
            pg_requests.check_tables(pg_conn, pg_schema, bad)
    finally:
        pg_conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(own)))
