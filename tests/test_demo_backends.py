"""`featbench demo --backends postgres,redis,dynamodb`: one run directory, a section per
store, the same keys on each, the headline and an HTML report (issue 6 item 5, issue 7).

Runs at a tiny scale with fewer requests (the demo's constants patched) on embedded
servers in a private FEATBENCH_HOME; in-process, so the embedded DynamoDB (moto) lives
as long as the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from featbench.cli import main
from featbench.results.validate import validate_run

pytestmark = pytest.mark.slow  # ~30 s on 2 cores: three embedded servers, moto in Python


def test_demo_on_three_backends(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    featbench_home: Path,
) -> None:
    from featbench import demo
    from featbench.backends import embedded

    monkeypatch.setattr(demo, "DEMO_REQUESTS", 30)
    monkeypatch.setattr(demo, "DEMO_WARMUP", 5)
    monkeypatch.setattr(demo, "DEMO_KEYS", 500)
    monkeypatch.setattr(demo, "DYNAMODB_REQUESTS", 8)
    monkeypatch.setattr(demo, "DYNAMODB_WARMUP", 2)
    out = tmp_path / "results"
    try:
        with pytest.raises(SystemExit) as ex:
            main(["demo", "--backends", "postgres,redis,dynamodb", "--scale", "0.005",
                  "--out", str(out), "--json"])  # fmt: skip
        stdout, err = capsys.readouterr()
        assert ex.value.code in (0, None), err
    finally:
        embedded.stop()
    doc = json.loads(stdout)  # --json: nothing but JSON on stdout
    run = doc["run"]
    assert run["status"] == "complete"
    path = Path(run["path"])
    assert validate_run(path) == []
    secs = run["sections"]
    assert [(s["backend"], s["strategy"]) for s in secs] == [
        ("postgres", "union"),
        ("redis", "pipeline"),
        ("dynamodb", "batch"),
    ]
    for s in secs:
        want = 8 if s["backend"] == "dynamodb" else 30
        assert [r["requests"] for r in s["ratios"]] == [want] * 9, s["backend"]
        assert all(r["errors"] == 0 and r["keys_found_pct"] > 0 for r in s["ratios"])
    ddb = secs[2]
    assert all(r["consumed_rcu_per_request"] > 0 for r in ddb["ratios"])
    assert all(r["consumed_rcu_per_request"] is None for s in secs[:2] for r in s["ratios"])
    # same keys: DynamoDB replays the first requests of each ratio of the same plan
    req = pq.read_table(path / "requests.parquet")
    cols = ["hot_pct", "seq", "card_fingerprint_key", "customer_email_key", "cardholder_name_key"]

    def rows(target: str) -> set[tuple[object, ...]]:
        t = req.filter(pc.equal(req.column("target"), target))
        return set(zip(*(t.column(c).to_pylist() for c in cols), strict=True))

    pg, rd, dd = (rows(s["target"]) for s in secs)
    assert pg == rd and len(pg) == 9 * 30
    assert dd <= pg and len(dd) == 9 * 8
    # the report a person can open, and the headline's data
    assert doc["report"] == str(path / "report.html")
    html = (path / "report.html").read_text()
    assert "dynamodb" in html and "<script" in html
    head = doc["headline"]
    assert [s["label"] for s in head["sections"]] and len(head["sections"]) == 3
    per_m = head["cost"]["per_million_requests"]
    assert per_m and all(v is None or v > 0 for v in per_m.values())


def test_demo_rejects_an_unknown_backend(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["demo", "--backends", "postgres,cassandra"])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert "cassandra" in err and "Traceback" not in err
