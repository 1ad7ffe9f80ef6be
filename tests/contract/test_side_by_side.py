"""Side by side: one `featbench run` against PostgreSQL, Redis and DynamoDB, one run directory.

Runs in-process (`featbench.cli.main`) so that `dynamodb://embedded`, which lives as long
as the process, holds the data loaded a moment before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from featbench.backends.base import open_backend
from featbench.cli import main
from featbench.results.validate import validate_run

from .conftest import unique_namespace
from .test_postgres import drop_schema

SCALE = "0.002"


def _cli(args: list[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(args)
    assert ei.value.code == 0, args[:3]


pytestmark = pytest.mark.slow  # ~20 s on 2 cores: moto handles each DynamoDB call in Python


@pytest.fixture(scope="module")
def side_by_side(
    pg_dsn: str, redis_url: str, dynamodb_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    ns = unique_namespace()
    sep = "&" if "?" in redis_url else "?"
    dsep = "&" if "?" in dynamodb_url else "?"
    targets = [pg_dsn, f"{redis_url}{sep}namespace={ns}", f"{dynamodb_url}{dsep}namespace={ns}"]
    out = tmp_path_factory.mktemp("runs")
    try:
        for t in targets:
            _cli(
                [
                    "load",
                    "--target",
                    t,
                    "--schema",
                    ns,
                    "--scale",
                    SCALE,
                    "--seed",
                    "7",
                    "--streams",
                    "2",
                ]
            )
        args = [
            "run", "--schema", ns, "--scale", SCALE, "--seed", "7", "--ratios", "100,0",
            "--requests", "10", "--warmup", "3", "--keys", "100", "--strategy", "serial",
            "--out", str(out), "--run-id", "side-by-side",
        ]  # fmt: skip
        for t in targets:
            args += ["--target", t]
        _cli(args)
        yield out / "side-by-side", targets
    finally:
        drop_schema(pg_dsn, ns)
        for t in targets[1:]:
            b = open_backend(t)
            b.drop()  # type: ignore[attr-defined]
            b.close()


def test_one_run_directory_with_a_section_per_target(side_by_side: tuple[Path, list[str]]) -> None:
    run, targets = side_by_side
    assert validate_run(run) == []
    manifest = json.loads((run / "manifest.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert manifest["status"] == "complete"
    assert [t["backend"] for t in manifest["targets"]] == ["postgres", "redis", "dynamodb"]
    assert [s["backend"] for s in summary["sections"]] == ["postgres", "redis", "dynamodb"]
    for sec in summary["sections"]:
        for r in sec["ratios"]:
            assert r["requests"] == 10 and r["errors"] == 0
            assert 0 < r["keys_found_pct"] <= 100 and r["rows_per_lookup"] > 0
            assert set(r["entity_latency_ms"]) == {
                "card_fingerprint",
                "customer_email",
                "cardholder_name",
            }  # serial measures each entity's part, on every store
        if sec["backend"] != "postgres":  # no buffer cache: null, never 0
            assert all(v is None for r in sec["ratios"] for v in r["io"].values())
    kv = {t["backend"]: t["server"] for t in manifest["targets"]}
    assert kv["redis"]["memory_per_row_mean_bytes"] > 0
    assert kv["dynamodb"]["item_bytes_mean"] > 0
    req = pq.read_table(run / "requests.parquet")
    assert set(req.column("target").to_pylist()) == {
        json.loads(json.dumps(t["target"])) for t in manifest["targets"]
    }


def test_every_target_gets_the_same_keys(side_by_side: tuple[Path, list[str]]) -> None:
    """Issue 6: the same plan (same requests, same keys) against each target."""
    run, _ = side_by_side
    req = pq.read_table(run / "requests.parquet")
    cols = ["hot_pct", "seq"] + [
        f"{e}_{x}"
        for e in ("card_fingerprint", "customer_email", "cardholder_name")
        for x in ("key", "hot")
    ]
    per_target = {}
    for t in set(req.column("target").to_pylist()):
        rows = req.filter(pc.equal(req.column("target"), t))
        per_target[t] = sorted(zip(*(rows.column(c).to_pylist() for c in cols), strict=True))
    assert len(per_target) == 3
    first, *rest = per_target.values()
    assert len(first) == 2 * 10  # two ratios x 10 measured requests
    assert all(r == first for r in rest)
