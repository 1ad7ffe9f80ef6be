"""`featbench run / show / get / compare` through the CLI, against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from featbench.cli import main
from featbench.results.validate import validate_run
from run_helpers import fill_tables, filled_schema, tiny_spec

SPEC = tiny_spec(2, rows=1200, bigint_entities=(1,), name="cli2")
OTHER = tiny_spec(2, rows=1200, name="cli-other")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ex:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(ex.value.code or 0), out, err


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert lines and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    return " ".join(lines)  # rich may wrap one long line


@pytest.fixture(scope="module")
def filled(pg_dsn: str) -> Iterator[str]:
    with filled_schema(pg_dsn, "fbt_cli", SPEC) as name:
        yield name


@pytest.fixture(scope="module")
def spec_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("specs")
    (d / "cli2.toml").write_text(SPEC.to_toml())
    (d / "other.toml").write_text(OTHER.to_toml())
    return d / "cli2.toml", d / "other.toml"


def _relations(dsn: str, schema: str) -> set[tuple[str, str]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'featbench', %s)",
            (schema,),
        ).fetchall()
    return {(a, b) for a, b in rows}


def test_run_show_get_compare(
    capsys: Any, tmp_path: Path, pg_dsn: str, filled: str, spec_files: tuple[Path, Path]
) -> None:
    spec_file = spec_files[0]
    base = ["run", "--target", pg_dsn, "--spec", spec_file, "--schema", filled, "--out", tmp_path]
    small = [
        "--ratios",
        "100,40,0",
        "--requests",
        "80",
        "--warmup",
        "10",
        "--keys",
        "600",
        "--io-sample-every",
        "40",
    ]
    code, out, err = cli(capsys, *base, *small, "--run-id", "a", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "complete" and [r["hot_pct"] for r in doc["ratios"]] == [100, 40, 0]
    assert validate_run(tmp_path / "a") == []

    code, out, err = cli(capsys, *base, *small, "--run-id", "b", "--seed", "9")
    assert code == 0, err
    assert "p99.9" in out and "ratio" in out and "status: complete" in out

    code, out, _ = cli(capsys, "show", tmp_path / "a")
    assert code == 0 and "p99.9" in out and "plan" in out and "80 requests/ratio" in out
    # 80 requests cannot bound p99 from above: its interval is open, marked and explained
    assert "95% CI" in out and "–?" in out and "? = 95% interval open" in out
    code, out, _ = cli(capsys, "show", tmp_path / "a", "--json")
    assert code == 0 and json.loads(out)["run_id"] == "a"
    ci = json.loads(out)["ratios"][0]["latency_ci_ms"]
    assert ci["p50"][0] is not None and ci["p99"][1] is None

    # get: the feature rows of one request, typed values as JSON
    keys = {}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for e in SPEC.entity_names:
            keys[e] = conn.execute(
                sql.SQL("SELECT hash_key FROM {}.{} LIMIT 1").format(
                    sql.Identifier(filled), sql.Identifier(SPEC.tables_for(e)[0].table_name)
                )
            ).fetchone()[0]
    pairs = [f"{e}={k}" for e, k in keys.items()]
    code, out, err = cli(
        capsys, "get", "--target", pg_dsn, "--spec", spec_file, "--schema", filled, *pairs, "--json"
    )
    assert code == 0, err
    got = json.loads(out)
    assert got["looked_up"] == len(SPEC.tables) and got["found"] >= 2
    (row,) = got["tables"][SPEC.tables_for("ent1")[0].table_name]  # every row of the key
    assert row["hash_key"] == keys["ent1"] and isinstance(row["txn_count"], int)
    assert row["seen"].startswith("20")  # timestamps as ISO text
    code, _, err = cli(
        capsys, "get", "--target", pg_dsn, "--spec", spec_file, "--schema", filled, "nope=1"
    )
    assert "unknown entity 'nope'" in one_line_error(code, err)
    code, _, err = cli(
        capsys, "get", "--target", pg_dsn, "--spec", spec_file, "--schema", filled, "ent1=abc"
    )
    assert "integers" in one_line_error(code, err)

    # compare
    code, out, err = cli(capsys, "compare", tmp_path / "a", tmp_path / "b", "--json")
    assert code == 0, err
    cmp = json.loads(out)
    assert len(cmp["sections"][0]["ratios"]) == 3
    assert all(r["p50"]["significant"] in (True, False) for r in cmp["sections"][0]["ratios"])
    assert all(r["p99"]["significant"] in (True, None) for r in cmp["sections"][0]["ratios"])
    code, out, _ = cli(capsys, "compare", tmp_path / "a", tmp_path / "b")
    assert code == 0 and ("noise" in out or "%" in out) and "do not overlap" in out

    # keys from a run: same spec fine, another spec refused
    code, _, err = cli(
        capsys, *base, *small, "--run-id", "c", "--keys-from", tmp_path / "a", "--json"
    )
    assert code == 0, err
    other = [
        "run",
        "--target",
        pg_dsn,
        "--spec",
        spec_files[1],
        "--schema",
        filled,
        "--out",
        tmp_path,
    ]
    code, _, err = cli(capsys, *other, *small, "--run-id", "d", "--keys-from", tmp_path / "a")
    msg = one_line_error(code, err)
    assert any(w in msg for w in ("another workload spec", "does not exist", "declares key_type"))
    assert not (tmp_path / "d").exists()

    # a run directory that exists is refused, --overwrite replaces it
    code, _, err = cli(capsys, *base, *small, "--run-id", "a")
    assert "already exists" in one_line_error(code, err) and "--overwrite" in err
    code, _, err = cli(capsys, *base, *small, "--run-id", "a", "--overwrite", "--json")
    assert code == 0, err

    # compare refuses runs of another spec unless --force
    m = json.loads((tmp_path / "c" / "manifest.json").read_text())
    m["spec_fingerprint"] = "f" * 64
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(m))
    code, _, err = cli(capsys, "compare", tmp_path / "a", tmp_path / "c")
    assert "--force" in one_line_error(code, err)
    code, _, err = cli(capsys, "compare", tmp_path / "a", tmp_path / "c", "--force", "--json")
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--ratios", "100,150"], "outside 0–100"),
        (["--ratios", "-5"], "outside 0–100"),
        (["--ratios", "fifty"], "not a number"),
        (["--requests", "0"], "--requests must be > 0"),
        (["--requests", "-3"], "--requests must be > 0"),
        (["--hot-fraction", "1.5"], "--hot-fraction"),
        (["--ratio-order", "sideways"], "--ratio-order"),
        (["--keys", "20", "--requests", "500"], "cold keys"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    capsys: Any,
    tmp_path: Path,
    pg_dsn: str,
    filled: str,
    spec_files: tuple[Path, Path],
    args: list[str],
    expected: str,
) -> None:
    before = _relations(pg_dsn, filled)
    code, _, err = cli(
        capsys,
        "run",
        "--target",
        pg_dsn,
        "--spec",
        spec_files[0],
        "--schema",
        filled,
        "--out",
        tmp_path,
        *args,
    )
    assert expected in one_line_error(code, err)
    assert list(tmp_path.iterdir()) == []
    assert _relations(pg_dsn, filled) == before  # no result tables, nothing anywhere


def test_target_missing_a_table_is_named(
    capsys: Any, tmp_path: Path, pg_dsn: str, pg_schema: str
) -> None:
    spec = tiny_spec(2, rows=50, name="partial")
    fill_tables(pg_dsn, pg_schema, spec)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}.ent1__fam__90d").format(sql.Identifier(pg_schema)))
    f = tmp_path / "partial.toml"
    f.write_text(spec.to_toml())
    before = _relations(pg_dsn, pg_schema)
    code, _, err = cli(
        capsys,
        "run",
        "--target",
        pg_dsn,
        "--spec",
        f,
        "--schema",
        pg_schema,
        "--out",
        tmp_path / "o",
    )
    assert "ent1__fam__90d" in one_line_error(code, err)
    assert not (tmp_path / "o").exists()
    assert _relations(pg_dsn, pg_schema) == before


def test_show_of_something_else_is_an_error(capsys: Any, tmp_path: Path) -> None:
    code, _, err = cli(capsys, "show", tmp_path)
    assert "not a featbench run directory" in one_line_error(code, err)
