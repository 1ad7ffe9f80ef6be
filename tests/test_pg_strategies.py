"""PostgreSQL strategies against a real server: same feature rows, right counts, safe install.

The expected rows come straight from the generator (`generate_batch`), so every strategy
is checked against the data's definition, not only against each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from featbench.backends import pg_strategies as S
from featbench.backends.base import RequestResult, Session
from featbench.backends.postgres import PostgresBackend
from featbench.errors import FeatbenchError
from featbench.generate import generate_batch, keys_for
from featbench.spec import WorkloadSpec, builtin_spec, scaled_rows, spec_from_dict
from featbench.target import parse_target

SEED = 7
SCALE = 0.01  # fraud-30: 220..840 rows a table

# every strategy and every measured variant of one
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("pipeline", {}),
    ("union", {}),
    ("union", {"union_rows": "jsonb"}),
    ("union", {"union_rows": "json"}),
    ("function", {}),
    ("function", {"function_language": "plpgsql"}),
    ("parallel", {}),
]
IDS = [f"{s}-{'-'.join(map(str, o.values())) or 'default'}" for s, o in VARIANTS]


def load_tables(dsn: str, schema: str, spec: WorkloadSpec, scale: float, seed: int) -> None:
    """Load the spec's generated rows into `schema` with featbench's own loader."""
    b = PostgresBackend(parse_target(dsn), schema=schema)
    try:
        b.load(spec, scale, seed, streams=1, progress=False)
    finally:
        b.close()


@pytest.fixture(scope="module")
def fraud(pg_dsn: str) -> Iterator[tuple[str, str, WorkloadSpec]]:
    """fraud-30 at a tiny scale in a schema of this module, dropped afterwards."""
    schema = f"fbt_{uuid.uuid4().hex[:10]}"
    spec = builtin_spec("fraud-30")
    load_tables(pg_dsn, schema, spec, SCALE, SEED)
    yield pg_dsn, schema, spec
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def custom_spec() -> WorkloadSpec:
    """4 entities, 7 tables, bigint keys for two of them, every column type."""

    def t(
        entity: str, family: str, window: str | None, rows: int, cols: list[dict[str, Any]]
    ) -> dict[str, Any]:
        d: dict[str, Any] = {"entity": entity, "family": family, "rows": rows, "columns": cols}
        if window:
            d["window"] = window
        return d

    counts = [
        {"name": "n", "type": "bigint", "gen": "count", "mean": 20},
        {"name": "k", "type": "integer", "gen": "int_uniform", "low": -5, "high": 5},
        {"name": "r", "type": "double", "gen": "uniform"},
        {"name": "flag", "type": "boolean", "gen": "bool", "mean": 0.3},
    ]
    stamps = [
        {"name": "first_seen", "type": "timestamptz", "gen": "first_seen"},
        {"name": "last_seen", "type": "timestamptz", "gen": "last_seen", "after": "first_seen"},
        {"name": "label", "type": "text", "gen": "category", "choices": ["a", "b", "c"]},
        {"name": "blob", "type": "text", "gen": "text", "length": 9},
    ]
    return spec_from_dict(
        {
            "name": "four-entities",
            "key_column": "id",
            "entities": [
                {"name": "user_id", "key_type": "bigint"},
                {"name": "device", "key_type": "hex64"},
                {"name": "merchant", "key_type": "bigint"},
                {"name": "ip", "key_type": "hex64"},
            ],
            "tables": [
                t("user_id", "counts", "7d", 60, counts),
                t("user_id", "counts", "30d", 120, counts),
                t("user_id", "stamps", None, 150, stamps),
                t("device", "counts", "1d", 40, counts),
                t("device", "mixed", "30d", 90, counts + stamps),
                t("merchant", "stamps", "30d", 80, stamps),
                t("ip", "counts", None, 30, counts),
            ],
        }
    )


@pytest.fixture(scope="module")
def four(pg_dsn: str) -> Iterator[tuple[str, str, WorkloadSpec]]:
    schema = f"fbt_{uuid.uuid4().hex[:10]}"
    spec = custom_spec()
    load_tables(pg_dsn, schema, spec, 1.0, SEED)
    yield pg_dsn, schema, spec
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# -- expectations from the generator ------------------------------------------------------
def key_at(spec: WorkloadSpec, entity: str, i: int) -> Any:
    """The entity's key number i (nested universes: row i of every table that has i rows)."""
    return keys_for(spec, spec.tables_for(entity)[0], SEED, i, i + 1)[0].as_py()


def expected_rows(
    spec: WorkloadSpec, scale: float, index: dict[str, int | None]
) -> dict[str, dict[str, Any] | None]:
    """Per table the generator's row for each entity's key number (None where absent)."""
    out: dict[str, dict[str, Any] | None] = {}
    for t in spec.tables:
        i = index[t.entity]
        if i is None or i >= scaled_rows(t, scale):
            out[t.table_name] = None
        else:
            out[t.table_name] = generate_batch(spec, t, SEED, i, i + 1).to_pylist()[0]
    return out


def request(spec: WorkloadSpec, index: dict[str, int | None]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for e, i in index.items():
        if i is not None:
            keys[e] = key_at(spec, e, i)
        else:  # a key in no table at all
            keys[e] = "f" * 64 if spec.entity(e).key_type == "hex64" else 4_242_424_242
    return keys


def fraud_cases(spec: WorkloadSpec) -> list[dict[str, int | None]]:
    ents = spec.entity_names
    r = {e: sorted(scaled_rows(t, SCALE) for t in spec.tables_for(e)) for e in ents}
    return [
        {e: 3 for e in ents},  # in every table
        {e: r[e][0] + 2 for e in ents},  # past the 30d tables: misses them
        {e: r[e][-1] - 1 for e in ents},  # only in the 365d tables
        {ents[0]: 5, ents[1]: r[ents[1]][0] + 1, ents[2]: None},  # mixed, one entity absent
        {e: None for e in ents},  # nothing found anywhere
    ]


# -- the tests ------------------------------------------------------------------------------
@pytest.mark.parametrize(("strategy", "options"), VARIANTS, ids=IDS)
def test_every_strategy_returns_the_generators_rows(
    fraud: tuple[str, str, WorkloadSpec], strategy: str, options: dict[str, Any]
) -> None:
    dsn, schema, spec = fraud
    with S.open_strategy_session(dsn, schema, spec, strategy, **options) as s:
        assert isinstance(s, Session)
        assert s.strategy == strategy
        for case in fraud_cases(spec):
            keys = request(spec, case)
            want = expected_rows(spec, SCALE, case)
            got = s.fetch(keys)
            assert got == want, f"{strategy} {options} differs for {case}"
            r = s.execute(keys)
            assert r.error is None
            assert r.rows_looked_up == 30
            assert r.rows_found == sum(v is not None for v in want.values())


def test_the_cases_cover_hits_and_misses(fraud: tuple[str, str, WorkloadSpec]) -> None:
    _, _, spec = fraud
    found = [
        sum(v is not None for v in expected_rows(spec, SCALE, c).values())
        for c in fraud_cases(spec)
    ]
    assert found[0] == 30 and found[-1] == 0
    assert 0 < found[1] < 30 and 0 < found[2] < found[1]


def test_strategies_agree_with_the_serial_typed_fetch(fraud: tuple[str, str, WorkloadSpec]) -> None:
    pg_requests = pytest.importorskip("featbench.backends.pg_requests")
    dsn, schema, spec = fraud
    keys = request(spec, fraud_cases(spec)[1])
    with psycopg.connect(dsn, autocommit=True) as conn:
        serial = pg_requests.fetch_rows(conn, schema, spec, keys)
    for strategy in S.STRATEGIES:
        assert S.fetch_rows_with(dsn, schema, spec, strategy, keys) == serial, strategy


@pytest.mark.parametrize(("strategy", "options"), VARIANTS, ids=IDS)
def test_four_entities_with_integer_keys(
    four: tuple[str, str, WorkloadSpec], strategy: str, options: dict[str, Any]
) -> None:
    dsn, schema, spec = four
    cases: list[dict[str, int | None]] = [
        {"user_id": 0, "device": 1, "merchant": 2, "ip": 3},
        {"user_id": 100, "device": 50, "merchant": 79, "ip": 29},  # misses the short windows
        {"user_id": 149, "device": None, "merchant": None, "ip": 10},
    ]
    with S.open_strategy_session(dsn, schema, spec, strategy, **options) as s:
        for case in cases:
            keys = request(spec, case)
            want = expected_rows(spec, 1.0, case)
            assert s.fetch(keys) == want
            r = s.execute(keys)
            assert (r.rows_found, r.rows_looked_up, r.error) == (
                sum(v is not None for v in want.values()),
                7,
                None,
            )
    # integer keys really are integers on the server, and the rows hold typed values
    row = S.fetch_rows_with(dsn, schema, spec, strategy, request(spec, cases[0]), **options)
    u = row["user_id__counts__7d"]
    assert u is not None and isinstance(u["id"], int) and isinstance(u["flag"], bool)
    assert isinstance(u["r"], float) and isinstance(u["k"], int)


def test_parallel_measures_each_entity_and_others_do_not(
    fraud: tuple[str, str, WorkloadSpec],
) -> None:
    dsn, schema, spec = fraud
    keys = request(spec, fraud_cases(spec)[0])
    with S.open_strategy_session(dsn, schema, spec, "parallel") as s:
        r = s.execute(keys)
        assert r.entity_ns is not None and set(r.entity_ns) == set(spec.entity_names)
        assert all(v > 0 for v in r.entity_ns.values())
        assert len(set(s.backend_pids)) == 3  # one connection per entity
    for strategy in ("pipeline", "union", "function"):
        with S.open_strategy_session(dsn, schema, spec, strategy) as s:
            assert s.execute(keys).entity_ns is None


def _functions(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.proname LIKE %s ORDER BY 1, 2",
            (S.FUNCTION_PREFIX + "%",),
        ).fetchall()


def test_function_is_installed_only_in_featbenchs_schema(pg_dsn: str, pg_schema: str) -> None:
    spec = custom_spec()
    load_tables(pg_dsn, pg_schema, spec, 1.0, SEED)
    before = [f for f in _functions(pg_dsn) if f[0] != pg_schema]
    assert not [f for f in _functions(pg_dsn) if f[0] == pg_schema]
    keys = request(spec, {"user_id": 1, "device": 1, "merchant": 1, "ip": 1})
    with S.open_strategy_session(pg_dsn, pg_schema, spec, "function") as s:
        assert s.execute(keys).rows_found == 7
    # opening it again (as every worker does) reuses the installed function
    with S.open_strategy_session(pg_dsn, pg_schema, spec, "function") as s:
        assert s.execute(keys).rows_found == 7
    ours = [f for f in _functions(pg_dsn) if f[0] == pg_schema]
    assert ours == [(pg_schema, s.function)]
    assert [f for f in _functions(pg_dsn) if f[0] != pg_schema] == before
    # the definition is featbench's, generated from the spec: one argument per entity
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        args = conn.execute(
            "SELECT pg_get_function_identity_arguments(p.oid) FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s AND p.proname = %s",
            (pg_schema, s.function),
        ).fetchone()
    assert args == ("k_user_id bigint, k_device text, k_merchant bigint, k_ip text",)


@pytest.mark.parametrize("strategy", ["union", "function"])
def test_one_statement_counts_found_keys_with_and_without_unique_keys(
    pg_dsn: str, pg_schema: str, strategy: str
) -> None:
    spec = custom_spec()
    load_tables(pg_dsn, pg_schema, spec, 1.0, SEED)
    keys = request(spec, {"user_id": 1, "device": 1, "merchant": 1, "ip": 1})
    with S.open_strategy_session(pg_dsn, pg_schema, spec, strategy) as s:
        # featbench's tables have a primary key: rows found are keys found, uncounted
        assert isinstance(s, S._OneStatementSession) and s._one_row_per_key
        r = s.execute(keys)
        assert (r.rows_found, r.keys_found) == (7, None)
    # a table without a unique key holding two rows for the key: 8 rows, still 7 keys
    rel = S.plan_lookups(pg_schema, spec)[0].relation
    ident = sql.SQL(rel)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            (rel,),
        ).fetchone()
        assert row is not None
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident, sql.Identifier(row[0]))
        )
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM {} WHERE id = %s").format(ident, ident),
            (keys[spec.tables[0].entity],),
        )
    with S.open_strategy_session(pg_dsn, pg_schema, spec, strategy) as s:
        assert isinstance(s, S._OneStatementSession) and not s._one_row_per_key
        r = s.execute(keys)
        assert (r.rows_found, r.keys_found) == (8, 7)


def test_function_on_a_missing_schema_is_a_clear_error(pg_dsn: str) -> None:
    with pytest.raises(FeatbenchError, match="schema fbt_nope_[0-9a-f]+ does not exist"):
        S.open_strategy_session(
            pg_dsn, f"fbt_nope_{uuid.uuid4().hex[:6]}", custom_spec(), "function"
        )


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_missing_tables_are_a_clear_error(pg_dsn: str, pg_schema: str, strategy: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
    with pytest.raises(FeatbenchError, match=r"does not exist.*load it first"):
        S.open_strategy_session(pg_dsn, pg_schema, custom_spec(), strategy)


def test_unknown_strategy_and_options_are_errors(fraud: tuple[str, str, WorkloadSpec]) -> None:
    dsn, schema, spec = fraud
    with pytest.raises(FeatbenchError, match="unknown strategy 'batch'.*serial, pipeline"):
        S.open_strategy_session(dsn, schema, spec, "batch")
    with pytest.raises(FeatbenchError, match="unknown strategy option"):
        S.open_strategy_session(dsn, schema, spec, "union", rows="typed")
    with pytest.raises(FeatbenchError, match="union rows must be one of"):
        S.open_strategy_session(dsn, schema, spec, "union", union_rows="xml")
    with pytest.raises(FeatbenchError, match="function language must be one of"):
        S.open_strategy_session(dsn, schema, spec, "function", function_language="plv8")
    with S.open_strategy_session(dsn, schema, spec, "union") as s:
        with pytest.raises(FeatbenchError, match="no key for entity 'cardholder_name'"):
            s.execute({"card_fingerprint": "a", "customer_email": "b"})


def test_the_runner_reaches_strategies_through_pg_requests(
    fraud: tuple[str, str, WorkloadSpec],
) -> None:
    pg_requests = pytest.importorskip("featbench.backends.pg_requests")
    dsn, schema, spec = fraud
    for strategy in S.STRATEGIES:
        s = pg_requests.open_session(dsn, schema, spec, strategy)
        try:
            assert s.strategy == strategy
            assert s.execute(request(spec, fraud_cases(spec)[0])).rows_found == 30
        finally:
            s.close()


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_explain_counts_blocks_per_table(
    fraud: tuple[str, str, WorkloadSpec], strategy: str
) -> None:
    dsn, schema, spec = fraud
    keys = request(spec, fraud_cases(spec)[0])
    with S.open_strategy_session(dsn, schema, spec, strategy) as s:
        io = s.explain(keys)
        assert io.shared_hit + io.shared_read >= 60  # an index and a heap page per table
        # the function strategy's plan is the union's (PostgreSQL inlines the SQL function)
        assert set(io.per_table) == {t.table_name for t in spec.tables}
        assert sum(h + r for h, r in io.per_table.values()) == io.shared_hit + io.shared_read
        # the session still works after leaving and re-entering pipeline mode
        assert s.execute(keys).rows_found == 30
        s.flush_stats()
        assert s.execute(keys).rows_found == 30


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_a_killed_connection_is_an_error_then_recovers(
    fraud: tuple[str, str, WorkloadSpec], strategy: str
) -> None:
    dsn, schema, spec = fraud
    keys = request(spec, fraud_cases(spec)[0])
    with S.open_strategy_session(dsn, schema, spec, strategy) as s:
        assert s.execute(keys).rows_found == 30
        with psycopg.connect(dsn, autocommit=True) as admin:
            for pid in s.backend_pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        r = s.execute(keys)
        assert isinstance(r, RequestResult) and r.error
        assert "\n" not in r.error
        s.recover()
        assert not s.broken
        r = s.execute(keys)
        assert (r.rows_found, r.rows_looked_up, r.error) == (30, 30, None)


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_a_failing_query_is_an_error_and_the_session_goes_on(
    four: tuple[str, str, WorkloadSpec], strategy: str
) -> None:
    dsn, schema, spec = four
    good = request(spec, {"user_id": 0, "device": 1, "merchant": 2, "ip": 3})
    bad = dict(good, user_id="not-a-number")  # the server rejects it as a bigint
    with S.open_strategy_session(dsn, schema, spec, strategy) as s:
        r = s.execute(bad)
        assert r.error and "bigint" in r.error
        assert s.execute(good).rows_found == 7


def test_union_layout_is_narrow_and_typed() -> None:
    spec = builtin_spec("fraud-30")
    lookups = S.plan_lookups("featbench", spec)
    layout = S.UnionLayout.build(lookups)
    # as wide as the widest table per type, not the sum of all columns
    widest = max(len(lk.columns) for lk in lookups)
    assert widest <= len(layout.slot_types) < sum(len(lk.columns) for lk in lookups) // 5
    for lk in lookups:
        slots = layout.table_slots[lk.index]
        assert len(set(slots)) == len(slots)
        assert [layout.slot_types[s] for s in slots] == list(lk.types)
    name, ddl = S.function_definition("featbench", spec)
    assert name.startswith(S.FUNCTION_PREFIX) and len(name) <= 63
    assert 'CREATE OR REPLACE FUNCTION "featbench".' in ddl
    assert S.function_definition("featbench", spec) == (name, ddl)  # deterministic
    assert S.function_definition("featbench", spec, "plpgsql")[0] != name
