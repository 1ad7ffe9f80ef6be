"""Words a reader understands: no "seed" for the original benchmark; `verify` says what it
checked against, one line per failing table with the reason, and what to fix."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from featbench.backends.base import TableCheck
from featbench.cli import main
from featbench.report.load_text import check_line, implied_scale
from featbench.spec import builtin_spec, scaled_rows

ROOT = Path(__file__).resolve().parents[1]
# "the seed" meaning the original Lakebase benchmark, which a reader takes for the random seed
SEED_AS_BENCHMARK = re.compile(r"\bthe seed(?:'s)?\b(?! of)|\bseed (?:study|benchmark)\b", re.I)


def test_no_seed_for_the_original_benchmark_in_readme_and_help() -> None:
    readme = ROOT / "README.md"
    hits = [ln for ln in readme.read_text().splitlines() if SEED_AS_BENCHMARK.search(ln)]
    assert [h for h in hits if "random seed" not in h] == []
    prices = (ROOT / "src/featbench/data/prices.toml").read_text()
    assert not SEED_AS_BENCHMARK.search(prices)
    for cmd in (["run"], ["demo"], ["load"], ["verify"], ["report"], ["cost"]):
        out = subprocess.run(
            [sys.executable, "-m", "featbench", *cmd, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        ).stdout
        assert not SEED_AS_BENCHMARK.search(" ".join(out.split())), cmd


def test_check_line_is_the_reason_and_a_count() -> None:
    c = TableCheck("t", False, ["29 rows, expected 32", "row 0 is missing", "row 7 is missing"])
    assert check_line(c) == "t: 29 rows, expected 32 (+2 more problems)"
    assert check_line(TableCheck("u", False, ["no primary key"])) == "u: no primary key"


def test_implied_scale_only_when_every_table_tells_the_same_story() -> None:
    spec = builtin_spec("fraud-30")
    at = [TableCheck(t.table_name, False, ["x"], scaled_rows(t, 0.002)) for t in spec.tables]
    assert implied_scale(at, spec, 1.0) == pytest.approx(0.002)
    at[0].rows = (at[0].rows or 0) // 2  # one table disagrees: no guess
    assert implied_scale(at, spec, 1.0) is None
    ok = [TableCheck(t.table_name, True, [], scaled_rows(t, 1.0)) for t in spec.tables]
    assert implied_scale(ok, spec, 1.0) is None


def test_verify_without_record_one_line_per_table_and_the_fix(
    capsys: pytest.CaptureFixture[str], pg_dsn: str, pg_schema: str
) -> None:
    """Data loaded at 0.001 whose load record is gone: verify checks the default scale 1,
    says so, prints one FAIL line per table, and names the scale the data looks loaded at."""
    with pytest.raises(SystemExit) as ei:
        main(["load", "-t", pg_dsn, "--schema", pg_schema, "--scale", "0.001"])
    assert ei.value.code in (0, None)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DELETE FROM {}._meta").format(sql.Identifier(pg_schema)))
    capsys.readouterr()
    with pytest.raises(SystemExit) as ei:
        main(["verify", "-t", pg_dsn, "--schema", pg_schema])
    err = capsys.readouterr().err
    assert ei.value.code == 2
    lines = err.strip().splitlines()
    assert lines[0].startswith("verify against scale 1 (default: the target holds no record")
    fails = [ln for ln in lines if ln.strip().startswith("FAIL ")]
    tables = builtin_spec("fraud-30").tables
    assert len(fails) == len(tables)
    assert len({ln.split(":")[0] for ln in fails}) == len(tables)  # one per table, each named
    assert all(re.search(r": \d+ rows, expected [\d,]+", ln) for ln in fails), fails
    assert "try --scale 0.001" in " ".join(err.split())
