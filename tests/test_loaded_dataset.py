"""The data that was loaded: run, get, verify and cost --run take scale and seed from what
featbench recorded in the target (real PostgreSQL and Redis servers, issue 11 point 4).

Before, `run` without --scale recorded scale 1.0 over data loaded at 0.01, and
`cost --run` then sized storage for 100x the real rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from featbench.backends.base import open_backend
from featbench.spec import builtin_spec, scaled_rows
from run_helpers import fill_tables, tiny_spec
from test_run_cli import cli, one_line_error

SCALE = 0.01
SEED = 7
FRAUD = builtin_spec("fraud-30")
SMALL = ["--ratios", "100,0", "--requests", "20", "--warmup", "0", "--keys", "200"]
SMALL += ["--io-sample-every", "0"]


@pytest.fixture(scope="module")
def loaded(pg_dsn: str) -> Iterator[str]:
    """fraud-30 loaded by featbench at scale 0.01, seed 7."""
    schema = f"fbt_ld_{uuid.uuid4().hex[:8]}"
    b = open_backend(pg_dsn, schema=schema)
    try:
        b.load(FRAUD, SCALE, SEED, streams=2, progress=False)  # type: ignore[call-arg]
    finally:
        b.close()
    yield schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_a_run_records_the_loaded_scale_and_cost_sizes_from_it(
    capsys: Any, tmp_path: Path, pg_dsn: str, loaded: str
) -> None:
    code, out, err = cli(capsys, "run", "--target", pg_dsn, "--schema", loaded,
                         "--out", tmp_path, "--run-id", "atscale", "--json", *SMALL)  # fmt: skip
    assert code == 0, err
    cfg = json.loads((tmp_path / "atscale" / "manifest.json").read_text())["config"]
    assert cfg["scale"] == SCALE and cfg["data_seed"] == SEED
    assert cfg["scale_source"] == "recorded in the target"
    # cost --run sizes storage for the rows that were there
    code, out, err = cli(capsys, "cost", "--run", tmp_path / "atscale", "--qps", "100", "--json")
    assert code == 0, err
    inputs = {i["name"]: i for i in json.loads(out)["inputs"]}
    assert inputs["rows"]["value"] == sum(scaled_rows(t, SCALE) for t in FRAUD.tables)
    assert "scale 0.01" in inputs["rows"]["source"]


def test_an_explicit_scale_that_disagrees_is_an_error_naming_both(
    capsys: Any, tmp_path: Path, pg_dsn: str, loaded: str
) -> None:
    code, _, err = cli(capsys, "run", "--target", pg_dsn, "--schema", loaded, "--scale", "1",
                       "--out", tmp_path, *SMALL)  # fmt: skip
    msg = one_line_error(code, err)
    assert "--scale 1 " in msg and "scale 0.01" in msg, msg
    assert not any(tmp_path.iterdir())
    # the same value is fine
    code, _, err = cli(capsys, "run", "--target", pg_dsn, "--schema", loaded, "--scale", "0.01",
                       "--out", tmp_path, "--run-id", "same", "--json", *SMALL)  # fmt: skip
    assert code == 0, err


def test_verify_and_get_take_the_loaded_data(capsys: Any, pg_dsn: str, loaded: str) -> None:
    code, out, err = cli(capsys, "verify", "--target", pg_dsn, "--schema", loaded, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["scale"], doc["seed"], doc["ok"]) == (SCALE, SEED, True)
    assert doc["scale_source"] == "recorded in the target"
    code, _, err = cli(capsys, "verify", "--target", pg_dsn, "--schema", loaded, "--seed", "42")
    msg = one_line_error(code, err)
    assert "--seed 42" in msg and "seed 7" in msg, msg
    code, _, err = cli(capsys, "verify", "--target", pg_dsn, "--schema", loaded, "--scale", "0.2")
    assert "--scale 0.2" in one_line_error(code, err)
    code, out, err = cli(capsys, "get", "--target", pg_dsn, "--schema", loaded,
                         "card_fingerprint=00")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["data"] == {"scale": SCALE, "seed": SEED}


def test_tables_featbench_did_not_load_keep_the_default(
    capsys: Any, tmp_path: Path, pg_dsn: str, pg_schema: str
) -> None:
    spec = tiny_spec(2, rows=400, name="notours")
    fill_tables(pg_dsn, pg_schema, spec)  # plain CREATE + COPY: no featbench record
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(spec.to_toml())
    b = open_backend(pg_dsn, schema=pg_schema)
    try:
        assert b.loaded_dataset(spec) is None
    finally:
        b.close()
    out_dir = tmp_path / "runs"
    code, _, err = cli(capsys, "run", "--target", pg_dsn, "--schema", pg_schema, "--spec",
                       spec_file, "--scale", "3", "--out", out_dir, "--run-id", "given",
                       "--json", *SMALL)  # fmt: skip
    assert code == 0, err
    cfg = json.loads((out_dir / "given" / "manifest.json").read_text())["config"]
    assert (cfg["scale"], cfg["scale_source"], cfg["data_seed"]) == (3.0, "given", None)


def test_redis_records_its_loaded_scale(redis_url: str) -> None:
    ns = f"fbt_ld_{uuid.uuid4().hex[:8]}"
    spec = tiny_spec(2, rows=200, name="kvld")
    sep = "&" if "?" in redis_url else "?"
    b = open_backend(f"{redis_url}{sep}namespace={ns}")
    try:
        assert b.loaded_dataset(spec) is None
        b.load(spec, 0.5, 11, streams=1)
        assert b.loaded_dataset(spec) == (0.5, 11)
        other = tiny_spec(2, rows=300, name="kvld")  # another definition of the tables
        assert b.loaded_dataset(other) is None
    finally:
        b.drop()  # type: ignore[attr-defined]
        b.close()
