"""Existing stores as they are (real server): uuid, bytea and text keys, several rows per key,
the store's own query, declared key types checked, warnings before measuring.

Hand-made tables in a schema of their own play an existing online store: `acct_feats`
(uuid key, three feature rows per key), `device_feats` (bytea key, four rows per key, the
shape of Feast's PostgreSQL online store) and `user_profile` (text key, one row). featbench
only reads them: a checksum of the schema is the same after the runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from featbench import api
from featbench.backends.base import open_backend
from featbench.backends.pg_lookup import param_text
from featbench.backends.typing_codec import typed_key
from featbench.cli import main
from featbench.errors import FeatbenchError, SpecError
from featbench.results.validate import validate_run
from featbench.runner.benchmark import RunConfig, run_benchmark
from featbench.spec import WorkloadSpec, spec_from_dict
from run_helpers import schema_checksum

N_KEYS = 400
ACCT_FEATURES = ("balance", "age_days", "risk")
DEVICE_FEATURES = ("f0", "f1", "f2", "f3")


@pytest.fixture(scope="module")
def store(pg_dsn: str) -> Iterator[str]:
    """The existing store's schema (featbench's own is `<it>_fb`)."""
    schema = f"fbt_es_{uuid.uuid4().hex[:8]}"
    s = sql.Identifier(schema)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for q in (
            "CREATE SCHEMA {s}",
            """CREATE TABLE {s}.acct_feats (account_id uuid, feature_name text,
                 value_num double precision, event_ts timestamptz,
                 PRIMARY KEY (account_id, feature_name))""",
            """CREATE TABLE {s}.device_feats (device_key bytea, feature_name text, value bytea,
                 value_text text, event_ts timestamptz, PRIMARY KEY (device_key, feature_name))""",
            "CREATE TABLE {s}.user_profile (user_name text PRIMARY KEY, age integer, score float8)",
            # a view with a decoded key (each lookup a scan) and a table without an index
            """CREATE VIEW {s}.device_view AS SELECT encode(device_key, 'hex') AS device_hex,
                 feature_name, value_text FROM {s}.device_feats""",
            "CREATE TABLE {s}.unindexed (user_name text, age integer)",
            "CREATE TABLE {s}.empty_t (user_name text PRIMARY KEY, age integer)",
        ):
            conn.execute(sql.SQL(q).format(s=s))
        acct, dev, user, unindexed = [], [], [], []
        for i in range(N_KEYS):
            a = uuid.UUID(int=(i + 1) * 7919)
            d = i.to_bytes(2, "big") + b"\x00\xff" + bytes([i % 251])
            acct += [(a, f, i + j / 10) for j, f in enumerate(ACCT_FEATURES)]
            dev += [(d, f, bytes([j, i % 256]), f"{f}={i}") for j, f in enumerate(DEVICE_FEATURES)]
            user.append((f"user {i}'s", 20 + i % 50, i / 3))
            unindexed.append((f"u{i}", i))
        with conn.cursor() as cur:
            for q, rows in (
                ("INSERT INTO {s}.acct_feats VALUES (%s, %s, %s, now())", acct),
                ("INSERT INTO {s}.device_feats VALUES (%s, %s, %s, %s, now())", dev),
                ("INSERT INTO {s}.user_profile VALUES (%s, %s, %s)", user),
                ("INSERT INTO {s}.unindexed VALUES (%s, %s)", unindexed),
            ):
                cur.executemany(sql.SQL(q).format(s=s), rows)
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema + "_fb")))
        conn.execute("ANALYZE")
    yield schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for name in (schema, schema + "_fb"):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def existing_table(
    schema: str, entity: str, name: str, key_column: str, columns: str, **more: Any
) -> dict[str, Any]:
    """A spec table describing `schema.name`; `columns` as "name:type name:type…"."""
    cols = [dict(zip(("name", "type"), c.split(":"), strict=True)) for c in columns.split()]
    return {"entity": entity, "family": name.split("_")[0], "name": name, "rows": N_KEYS,
            "schema_name": schema, "key_column": key_column, "columns": cols, **more}  # fmt: skip


def store_spec(schema: str, **device_table: Any) -> WorkloadSpec:
    return spec_from_dict(
        {
            "name": "existing",
            "key_universe": "independent",
            "entities": [
                {"name": "account", "key_type": "uuid"},
                {"name": "device", "key_type": "bytea"},
                {"name": "user", "key_type": "text"},
            ],
            "tables": [
                existing_table(
                    schema,
                    "account",
                    "acct_feats",
                    "account_id",
                    "feature_name:text value_num:double event_ts:timestamptz",
                ),
                existing_table(
                    schema,
                    "device",
                    "device_feats",
                    "device_key",
                    "feature_name:text value:bytea event_ts:timestamptz",
                    **device_table,
                ),
                existing_table(
                    schema, "user", "user_profile", "user_name", "age:integer score:double"
                ),
            ],
        }  # fmt: skip
    )


def run(dsn: str, schema: str, spec: WorkloadSpec, out: Path, strategies: tuple[str, ...]) -> Any:
    b = open_backend(dsn, schema=schema + "_fb")
    try:
        return run_benchmark(
            [b],
            spec,
            RunConfig(
                ratios=(100, 0),
                requests=30,
                warmup=0,
                n_keys=N_KEYS,
                io_sample_every=10,
                strategies=strategies,
            ),
            out=out,
            run_id="existing",
        )
    finally:
        b.close()


def test_uuid_bytea_text_keys_every_strategy_zero_errors(
    pg_dsn: str, store: str, tmp_path: Path
) -> None:
    before = schema_checksum(pg_dsn, store)
    strategies = ("serial", "pipeline", "union", "function", "parallel")
    out = run(pg_dsn, store, store_spec(store), tmp_path, strategies)
    assert out.status == "complete"
    per_lookup = (len(ACCT_FEATURES) + len(DEVICE_FEATURES) + 1) / 3
    for sec in out.summary["sections"]:
        for r in sec["ratios"]:
            assert r["errors"] == 0, (sec["strategy"], r)
            assert r["keys_found_pct"] == pytest.approx(100.0), (sec["strategy"], r)
            assert r["rows_per_lookup"] == pytest.approx(per_lookup, abs=1e-3), (sec["strategy"], r)
    # keys are kept in featbench's text form, with their type
    keys = pq.read_table(tmp_path / "existing" / "keys.parquet").to_pylist()
    dev = [k for k in keys if k["entity"] == "device"]
    assert dev and all(k["key_type"] == "bytea" and k["hash_key"].startswith("\\x") for k in dev)
    acct = [k for k in keys if k["entity"] == "account"]
    assert all(str(uuid.UUID(k["hash_key"])) == k["hash_key"] for k in acct)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        n = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.run_keys WHERE key_type = 'bytea'").format(
                sql.Identifier(store + "_fb")
            )
        ).fetchone()[0]  # type: ignore[index]
    assert n == len(dev)
    assert schema_checksum(pg_dsn, store) == before  # the store is only read
    assert validate_run(tmp_path / "existing") == []


def test_own_query_serial_pipeline_parallel(pg_dsn: str, store: str, tmp_path: Path) -> None:
    own = {
        "query": f"SELECT device_key, feature_name, value, event_ts FROM {store}.device_feats"
        " WHERE device_key = $1 AND feature_name = ANY($2)",
        "params": {"2": ["f0", "f2"]},
    }
    spec = store_spec(store, **own)
    out = run(pg_dsn, store, spec, tmp_path, ("serial", "pipeline", "parallel"))
    assert out.status == "complete"
    for sec in out.summary["sections"]:
        for r in sec["ratios"]:
            assert r["errors"] == 0, (sec["strategy"], r)
            assert r["keys_found_pct"] == pytest.approx(100.0)
            assert r["rows_per_lookup"] == pytest.approx((len(ACCT_FEATURES) + 2 + 1) / 3, abs=1e-3)
    with pytest.raises(
        FeatbenchError, match="union builds one statement.*device_feats has its own query"
    ):
        run(pg_dsn, store, spec, tmp_path / "u", ("union",))
    # a query that writes cannot pass as a lookup: the spec says SELECT, the session is read-only
    with pytest.raises(SpecError, match="must be a SELECT"):
        store_spec(store, query=f"DELETE FROM {store}.device_feats WHERE device_key = $1")


def test_get_every_row_ordered_decoded_and_pivoted(pg_dsn: str, store: str, tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(store_spec(store).to_toml())
    key = "\\x" + (5).to_bytes(2, "big").hex() + "00ff05"
    doc = api.fetch(pg_dsn, [f"device={key}"], spec=str(path), schema=store + "_fb")
    rows = doc["tables"]["device_feats"]
    assert [r["feature_name"] for r in rows] == list(DEVICE_FEATURES)
    assert [r["value"] for r in rows] == [bytes([j, 5]).hex() for j in range(4)]
    assert doc["found"] == 1 and doc["rows"] == 4


def test_get_pivot_cli_output(
    pg_dsn: str, store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(store_spec(store).to_toml())
    capsys.readouterr()
    try:
        main(["get", "-t", pg_dsn, "--spec", str(path), "--schema", store + "_fb",
              "--pivot", "feature_name=value_num", "account=" + str(uuid.UUID(int=7919))])  # fmt: skip
    except SystemExit as e:
        assert e.code in (0, None)
    doc = json.loads(capsys.readouterr().out)
    assert doc["tables"]["acct_feats"] == [{"age_days": 0.1, "balance": 0.0, "risk": 0.2}]


def test_declared_key_type_mismatch_refused(
    pg_dsn: str, store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = store_spec(store).model_dump(mode="json")
    spec["entities"][1]["key_type"] = "text"  # the column is bytea
    path = tmp_path / "wrong.toml"
    path.write_text(spec_from_dict(spec).to_toml())
    capsys.readouterr()
    with pytest.raises(SystemExit) as ei:
        main(["run", "-t", pg_dsn, "--spec", str(path), "--schema", store + "_fb",
              "-o", str(tmp_path / "res"), "-n", "5", "--ratios", "0"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert ei.value.code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for needle in (f"{store}.device_feats", "device_key", "bytea", "declares key_type text"):
        assert needle in err, (needle, err)
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())


def test_plain_view_and_unindexed_key_warn(pg_dsn: str, store: str) -> None:
    spec = spec_from_dict(
        {
            "name": "warned",
            "key_universe": "independent",
            "entities": [{"name": "dev", "key_type": "text"}, {"name": "user", "key_type": "text"}],
            "tables": [
                existing_table(store, "dev", "device_view", "device_hex", "feature_name:text"),
                existing_table(store, "user", "unindexed", "user_name", "age:integer"),
            ],
        }
    )
    b = open_backend(pg_dsn, schema=store + "_fb")
    try:
        b.check_tables(spec)
        keys = {e: b.sample_keys(spec, e, 5, 1) for e in spec.entity_names}
        warnings = b.probe(spec, keys)
    finally:
        b.close()
    text = "\n".join(warnings)
    assert f"{store}.device_view is a plain view" in text, text
    assert (
        f"table {store}.unindexed has no index whose leading column is its key column user_name"
        in text
    )
    assert (
        f"EXPLAIN of the lookup of {store}.device_view shows no index scan (Seq Scan on device_feats)"
        in text
    )
    # an empty table, and a query that filters every row out, say so
    spec3 = store_spec(
        store,
        query=f"SELECT * FROM {store}.device_feats WHERE device_key = $1 AND feature_name = ANY($2)",
        params={"2": ["no_such_feature"]},
    )
    empty = spec_from_dict(
        {
            "name": "empty",
            "entities": [{"name": "user", "key_type": "text"}],
            "tables": [existing_table(store, "user", "empty_t", "user_name", "age:integer")],
        }
    )
    b = open_backend(pg_dsn, schema=store + "_fb")
    try:
        keys = {e: b.sample_keys(spec3, e, 5, 1) for e in spec3.entity_names}
        text = "\n".join(b.probe(spec3, keys))
        assert f"lookup of table {store}.device_feats found no row, not even for a key" in text
        assert f"table {store}.empty_t is empty" in "\n".join(b.probe(empty, {"user": ["x"]}))
    finally:
        b.close()
    # an indexed table warns of nothing
    b = open_backend(pg_dsn, schema=store + "_fb")
    try:
        spec2 = store_spec(store)
        keys = {e: b.sample_keys(spec2, e, 5, 1) for e in spec2.entity_names}
        assert b.probe(spec2, keys) == []
    finally:
        b.close()


# -- pure parts ----------------------------------------------------------------------------
def test_keys_in_featbench_form() -> None:
    assert typed_key(b"\x01\xff", "bytea") == "\\x01ff"
    assert typed_key("01FF", "bytea") == typed_key("\\x01ff", "bytea") == "\\x01ff"
    assert typed_key("7", "integer") == 7
    u = uuid.uuid4()
    assert typed_key(str(u).upper(), "uuid") == str(u)
    with pytest.raises(FeatbenchError, match="not hex bytes"):
        typed_key("xyz", "bytea")
    assert param_text(["a", 'b"c', None]) == b'{"a","b\\"c",NULL}'


def test_spec_query_and_params_checked(tmp_path: Path) -> None:
    base = store_spec("s")
    for extra, msg in (
        ({"query": "SELECT * FROM t WHERE k = $2", "params": {"2": 1}}, "must use \\$1"),
        ({"query": "SELECT * FROM t WHERE k = $1 AND f = ANY($2)"}, "\\$2, which has no value"),
        ({"query": "SELECT * FROM t WHERE k = $1", "params": {"3": 1}}, "\\$3, which `query` does not use"),
        ({"params": {"2": 1}}, "`params` needs `query`"),
    ):  # fmt: skip
        with pytest.raises(SpecError, match=msg):
            store_spec("s", **extra)
    with pytest.raises(SpecError, match="describes existing tables"):
        base.check_generatable()


def test_get_refuses_a_key_of_the_wrong_form(
    pg_dsn: str, store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(store_spec(store).to_toml())
    for pair, needle in (("device=xyz", "not hex bytes"), ("account=12", "not a uuid")):
        capsys.readouterr()
        with pytest.raises(SystemExit) as ei:
            main(["get", "-t", pg_dsn, "--spec", str(path), "--schema", store + "_fb", pair])
        err = capsys.readouterr().err.strip()
        assert ei.value.code == 2 and len(err.splitlines()) == 1 and needle in err, err
