"""The headline at the end of `featbench run` and in `featbench show` (issue 7 item 3),
per-store strategies (`--strategy postgres=union,…`) and the prefix a slow store replays."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from featbench.cli import main
from featbench.errors import FeatbenchError
from featbench.runner.benchmark import prefix_level
from featbench.runner.config import parse_strategies
from featbench.workload.plan import LevelPlan
from run_helpers import filled_schema, tiny_spec

SPEC = tiny_spec(2, rows=800, name="headline2")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ex:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(ex.value.code or 0), out, err


@pytest.fixture(scope="module")
def filled(pg_dsn: str) -> Iterator[str]:
    with filled_schema(pg_dsn, "fbt_head", SPEC) as name:
        yield name


def test_run_and_show_print_the_headline_and_json_stays_json(
    pg_dsn: str, filled: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.to_toml())
    base = ["run", "--target", pg_dsn, "--schema", filled, "--spec", spec, "--ratios", "100,0",
            "--requests", "30", "--warmup", "5", "--keys", "300", "--out", tmp_path]  # fmt: skip
    code, out, err = cli(capsys, *base, "--run-id", "a")
    assert code == 0, err
    run_dir = tmp_path / "a"
    for text in (out,) + (cli(capsys, "show", run_dir)[1],):
        # one table (the levels'), then the headline's line: p99 and hit ratio at the ends
        assert re.search(r"p99 [\d.]+ ms \[.*\] at 100% hot, hit ratio", text), text
        assert "cost per million requests at" in text  # priced at the run's own rate
        assert "report:" in text  # not written yet: says how to write it
    code, out, _ = cli(capsys, "report", run_dir)
    assert code == 0
    code, out, _ = cli(capsys, "show", run_dir)
    assert f"report: {run_dir / 'report.html'}" in out.replace("\n", "")
    # --json: stdout is one JSON document, no headline mixed in
    code, out, err = cli(capsys, *base, "--run-id", "b", "--json")
    assert code == 0, err
    json.loads(out)
    code, out, _ = cli(capsys, "show", tmp_path / "b", "--json")
    assert json.loads(out)["run_id"] == "b"


def test_per_store_strategies_in_one_run(
    pg_dsn: str, filled: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.to_toml())
    code, out, err = cli(
        capsys, "run", "--target", pg_dsn, "--schema", filled, "--spec", spec, "--ratios",
        "50", "--requests", "10", "--warmup", "2", "--keys", "300", "--out", tmp_path,
        "--strategy", "postgres=union,postgres=serial,redis=pipeline", "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert [s["strategy"] for s in doc["sections"]] == ["union", "serial"]


def test_parse_strategies() -> None:
    assert parse_strategies("serial") == (("serial",), {})
    assert parse_strategies("pg=union, redis=pipeline") == (
        ("serial",),
        {"postgres": ("union",), "redis": ("pipeline",)},
    )
    assert parse_strategies("pipeline,dynamodb=batch") == (("pipeline",), {"dynamodb": ("batch",)})
    for bad in ("", "mongo=find", "redis="):
        with pytest.raises(FeatbenchError):
            parse_strategies(bad)


def test_prefix_level_keeps_io_slots_and_counts_timed_requests() -> None:
    n = 12
    io = np.zeros(n, dtype=bool)
    io[[3, 7, 11]] = True  # an I/O sample after every 3 timed requests
    lp = LevelPlan(50.0, "measure", np.ones((n, 2), dtype=bool), np.arange(2 * n).reshape(n, 2), io)
    assert lp.timed == 9
    p = prefix_level(lp, 4)
    assert p.timed == 4 and len(p) == 5  # 3 timed, 1 I/O slot, 1 timed
    assert (p.key_idx == lp.key_idx[:5]).all() and (p.io_sample == io[:5]).all()
    assert prefix_level(lp, 100) is lp
    assert len(prefix_level(lp, 0)) == 0
