"""DynamoDB's ConsumedCapacity, from the store to the cost table (issue 6 item 2, issue 7).

A real run against `dynamodb://embedded` (moto): every measured request logs the read
units the store charged (`requests.parquet` `consumed_units`), each ratio's mean is in
summary.json (`consumed_rcu_per_request`), the session's own counts per section
(`backend_stats`), the validator checks all of it. moto's units are its own arithmetic,
not AWS's billing: the section says `capacity_units: emulated` and the cost code computes
read units from item sizes instead (measured units from AWS are used: tests/test_cost.py).
PostgreSQL in the same run reports none: null.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from featbench.backends.base import open_backend
from featbench.cli import main
from featbench.report.build import cost_for_runs
from featbench.results.reader import read_run
from featbench.results.validate import validate_run

from .conftest import unique_namespace
from .test_postgres import drop_schema

SCALE = "0.002"


def _cli(args: list[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(args)
    assert ei.value.code == 0, args[:3]


@pytest.fixture(scope="module")
def consumed_run(pg_dsn: str, dynamodb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ns = unique_namespace()
    sep = "&" if "?" in dynamodb_url else "?"
    ddb = f"{dynamodb_url}{sep}namespace={ns}"
    out = tmp_path_factory.mktemp("runs")
    try:
        for t in (pg_dsn, ddb):
            _cli(["load", "--target", t, "--schema", ns, "--scale", SCALE, "--seed", "3",
                  "--streams", "2"])  # fmt: skip
        _cli([
            "run", "--target", ddb, "--target", pg_dsn, "--schema", ns, "--scale", SCALE,
            "--seed", "3", "--ratios", "100,0", "--requests", "8", "--warmup", "2",
            "--keys", "60", "--strategy", "serial", "--out", str(out), "--run-id", "consumed",
            "--json",
        ])  # fmt: skip
        yield out / "consumed"
    finally:
        drop_schema(pg_dsn, ns)
        b = open_backend(ddb)
        b.drop()  # type: ignore[attr-defined]
        b.close()


def test_consumed_units_logged_and_summarised(consumed_run: Path) -> None:
    assert validate_run(consumed_run) == []
    req = pq.read_table(consumed_run / "requests.parquet")
    assert req.schema.field("consumed_units").type == "double"
    summary = json.loads((consumed_run / "summary.json").read_text())
    by_backend = {s["backend"]: s for s in summary["sections"]}
    ddb, pg = by_backend["dynamodb"], by_backend["postgres"]
    rows = req.to_pylist()
    ddb_units = [r["consumed_units"] for r in rows if r["target"] == ddb["target"]]
    pg_units = [r["consumed_units"] for r in rows if r["target"] == pg["target"]]
    # serial GetItem of up to 30 items per request, each charged >= 0.5 unit when found
    assert len(ddb_units) == 16 and all(u is not None and u > 0 for u in ddb_units)
    assert pg_units and all(u is None for u in pg_units)  # not reported: null, never 0
    for r in ddb["ratios"]:
        mine = [
            x["consumed_units"]
            for x in rows
            if x["target"] == ddb["target"] and x["hot_pct"] == r["hot_pct"]
        ]
        assert r["consumed_rcu_per_request"] == pytest.approx(sum(mine) / len(mine), rel=1e-6)
    assert all(r["consumed_rcu_per_request"] is None for r in pg["ratios"])
    # the session's own counts, per section: DynamoDB keeps throttles/retries/…
    bs = ddb["backend_stats"]
    assert bs is not None
    assert {"throttles", "retries", "unprocessed_keys", "errors"} <= set(bs)
    assert bs["errors"] == 0 and bs["throttles"] == 0
    assert pg["backend_stats"] is None  # PostgreSQL sessions keep none


def test_emulated_units_are_labelled_and_cost_computes_its_own(consumed_run: Path) -> None:
    """The embedded DynamoDB is moto: its ConsumedCapacity is labelled `emulated` (not
    measured) in summary.json, and cost computes read units from item sizes instead,
    labelled computed and saying why."""
    summary = json.loads((consumed_run / "summary.json").read_text())
    ddb = next(s for s in summary["sections"] if s["backend"] == "dynamodb")
    pg = next(s for s in summary["sections"] if s["backend"] == "postgres")
    assert ddb["capacity_units"] == "emulated"
    assert "capacity_units" not in pg
    manifest = json.loads((consumed_run / "manifest.json").read_text())
    srv = next(t["server"] for t in manifest["targets"] if t["backend"] == "dynamodb")
    assert srv["capacity_units"] == "emulated"
    # both targets recorded the data they hold: the run says where its scale came from
    assert manifest["config"]["scale"] == float(SCALE)
    assert manifest["config"]["scale_source"] == "recorded in the target"
    assert manifest["config"]["data_seed"] == 3
    run = read_run(consumed_run)
    cost = cost_for_runs([run], qps=100.0)
    rru = next(i for i in cost.inputs if i.name == "rru_per_request")
    assert rru.basis == "computed" and rru.source.startswith("computed"), rru.source
    assert "emulator" in rru.source and "not used" in rru.source
    assert rru.value == 30 * 0.5  # 30 items of < 4 KB, eventually consistent
    assert {i.basis for i in cost.inputs} <= {"measured", "computed", "given", "default"}


def test_validator_catches_a_summary_that_disagrees_with_the_log(
    consumed_run: Path, tmp_path: Path
) -> None:
    import shutil

    bad = tmp_path / consumed_run.name  # the validator checks the name
    shutil.copytree(consumed_run, bad)
    s = json.loads((bad / "summary.json").read_text())
    for sec in s["sections"]:
        if sec["backend"] == "dynamodb":
            sec["ratios"][0]["consumed_rcu_per_request"] += 1.0
    if s["sections"][0]["backend"] == "dynamodb":
        s["ratios"] = s["sections"][0]["ratios"]
    (bad / "summary.json").write_text(json.dumps(s))
    problems = validate_run(bad)
    assert any("consumed_rcu_per_request" in p for p in problems), problems
