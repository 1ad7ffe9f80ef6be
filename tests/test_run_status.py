"""A failed run is not complete; SLO thresholds; the probe before timing (real server, CLI).

- a spec over an existing table whose key is `bytea` (hex64 in the spec): the probe
  refuses before anything is written, one line naming table, column and types, exit 2;
- a run whose lookups all fail (the server raises on every row): status `failed` with
  the reason in the manifest, exit 1, `show` says so first, no cost is priced;
- `--threshold`: a failed one exits 99 after everything is written, passed ones exit 0,
  a bad expression is one line, exit 2, before anything runs.
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

from featbench.measure.status import run_status
from featbench.measure.thresholds import (
    ThresholdError,
    check_levels,
    evaluate_thresholds,
    parse_threshold,
)
from featbench.results.validate import validate_run
from run_helpers import fill_tables, tiny_spec
from test_run_cli import cli, one_line_error

SPEC = tiny_spec(2, tables_per_entity=(2, 1), rows=400, name="status2")
SMALL = ["--ratios", "100,0", "--requests", "30", "--warmup", "5", "--keys", "300"]
SMALL += ["--io-sample-every", "0"]


def _schema_with(dsn: str, alter: str | None = None) -> str:
    name = f"fbt_st_{uuid.uuid4().hex[:8]}"
    fill_tables(dsn, name, SPEC)
    if alter:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(alter.format(s=sql.Identifier(name).as_string(conn)))
    return name


def _drop(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def good(pg_dsn: str) -> Iterator[str]:
    name = _schema_with(pg_dsn)
    yield name
    _drop(pg_dsn, name)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("spec") / "status2.toml"
    p.write_text(SPEC.to_toml())
    return p


# -- the probe: a bytea key where the spec says hex64 (issue 11's first bullet) -----------
@pytest.mark.parametrize(
    "alter, words",
    [
        # the key column is bytea, the spec says hex64: every lookup would fail
        (
            "ALTER COLUMN hash_key TYPE bytea USING decode(hash_key, 'hex')",
            ("hash_key", "bytea", "hex64"),
        ),
        # a count stored as text: the lookup works, the value is of another type
        ("ALTER COLUMN txn_count TYPE text USING txn_count::text", ("txn_count", "text", "bigint")),
    ],
    ids=["bytea-key", "text-column"],
)
def test_probe_refuses_a_spec_that_does_not_describe_the_table(
    capsys: Any, tmp_path: Path, pg_dsn: str, spec_file: Path, alter: str, words: tuple[str, ...]
) -> None:
    t0 = SPEC.tables[0].table_name
    schema = _schema_with(pg_dsn, f'ALTER TABLE {{s}}."{t0}" {alter}')
    try:
        code, _, err = cli(capsys, "run", "--target", pg_dsn, "--spec", spec_file,
                           "--schema", schema, "--out", tmp_path, *SMALL)  # fmt: skip
    finally:
        _drop(pg_dsn, schema)
    msg = one_line_error(code, err)
    assert t0 in msg and all(w in msg for w in words), msg
    assert not any(tmp_path.iterdir())  # stopped before the run directory


# -- a run whose every lookup fails --------------------------------------------------------
@pytest.fixture(scope="module")
def broken(pg_dsn: str) -> Iterator[str]:
    """Every table is a view whose rows raise a server-side error when read (the key binds
    and the probe goes on with a warning: the failures are the server's, so the run
    measures them)."""
    name = _schema_with(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        s = sql.Identifier(name)
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {}.fb_unavailable(k text) RETURNS bigint LANGUAGE plpgsql STABLE "
                "AS $$BEGIN RAISE EXCEPTION 'feature service unavailable'; END$$"
            ).format(s)
        )
        for t in SPEC.tables:
            base = sql.Identifier(f"{t.table_name}_base")
            conn.execute(
                sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(
                    s, sql.Identifier(t.table_name), base
                )
            )
            conn.execute(
                sql.SQL(
                    "CREATE VIEW {s}.{v} AS SELECT hash_key, {s}.fb_unavailable(hash_key) AS "
                    "txn_count, rate, seen, label FROM {s}.{b}"
                ).format(s=s, v=sql.Identifier(t.table_name), b=base)
            )
    yield name
    _drop(pg_dsn, name)


def test_a_run_whose_lookups_all_fail_is_failed_exit_1(
    capsys: Any, tmp_path: Path, pg_dsn: str, broken: str, spec_file: Path
) -> None:
    code, out, err = cli(capsys, "run", "--target", pg_dsn, "--spec", spec_file,
                         "--schema", broken, "--out", tmp_path, "--run-id", "allfail",
                         *SMALL)  # fmt: skip
    assert code == 1, err
    run_dir = tmp_path / "allfail"
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "failed"
    assert "--max-error-rate" in m["error"] and "30 of 30 requests failed" in m["error"]
    assert any("probe lookup" in w for w in m["warnings"])
    s = json.loads((run_dir / "summary.json").read_text())
    assert all(r["errors"] == r["requests"] == 30 for r in s["ratios"])
    assert validate_run(run_dir) == []
    # the first line printed says so, and no cost per request is priced from it
    first = next(x for x in out.splitlines() if x.strip())
    assert "FAILED" in first and "max-error-rate" in first
    assert "cost per million requests: —" in out + err
    code, out, _ = cli(capsys, "show", run_dir)
    assert code == 0
    assert "FAILED" in next(x for x in out.splitlines() if x.strip())
    code, out, err = cli(capsys, "cost", "--run", run_dir, "--qps", "100")
    assert "failed" in one_line_error(code, err)
    code, out, err = cli(capsys, "report", run_dir)
    html = (run_dir / "report.html").read_text()
    main = html[html.index("<main>") :]
    assert main.index("FAILED") < main.index("<h2>Run ")  # the report's first line


def test_max_error_rate_1_keeps_a_failing_run_complete(
    capsys: Any, tmp_path: Path, pg_dsn: str, broken: str, spec_file: Path
) -> None:
    code, out, err = cli(capsys, "run", "--target", pg_dsn, "--spec", spec_file,
                         "--schema", broken, "--out", tmp_path, "--run-id", "tolerant",
                         "--max-error-rate", "1", "--json", *SMALL)  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["status"] == "complete"


# -- thresholds ----------------------------------------------------------------------------
def test_thresholds_exit_99_on_a_failed_one_and_0_when_all_pass(
    capsys: Any, tmp_path: Path, pg_dsn: str, good: str, spec_file: Path
) -> None:
    base = ["run", "--target", pg_dsn, "--spec", spec_file, "--schema", good, "--out", tmp_path]
    code, out, err = cli(capsys, *base, "--run-id", "pass", *SMALL,
                         "--threshold", "p99<60s", "--threshold", "errors<=0.1%",
                         "--threshold", "p99.9<60000ms@hot=0")  # fmt: skip
    assert code == 0, err
    s = json.loads((tmp_path / "pass" / "summary.json").read_text())
    rows = s["thresholds"]
    assert len(rows) == 2 + 2 + 1  # two ratios each for the first two, one for @hot=0
    assert all(r["passed"] for r in rows)
    assert {r["ratio"] for r in rows if r["expression"].endswith("@hot=0")} == {0}
    assert "thresholds: 5 passed, 0 failed" in out
    assert validate_run(tmp_path / "pass") == []

    code, out, err = cli(capsys, *base, "--run-id", "fail", *SMALL,
                         "--threshold", "p50<0.001ms", "--threshold", "p99<60s")  # fmt: skip
    assert code == 99, err
    d = tmp_path / "fail"
    assert json.loads((d / "manifest.json").read_text())["status"] == "complete"
    rows = json.loads((d / "summary.json").read_text())["thresholds"]
    bad = [r for r in rows if not r["passed"]]
    assert {r["expression"] for r in bad} == {"p50<0.001ms"} and len(bad) == 2
    assert all(r["value"] > 0.001 and r["unit"] == "ms" for r in bad)
    assert (d / "requests.parquet").exists() and validate_run(d) == []
    code, out, _ = cli(capsys, "show", d)
    assert code == 0 and "FAIL" in out and "p50<0.001ms" in out


@pytest.mark.parametrize(
    "expr, words",
    [
        ("p99<<10ms", "not an expression"),
        ("p98<10ms", "unknown metric"),
        ("errors<5ms", "percentage"),
        ("p99<10%", "latency"),
        ("p99<10ms@hot=33", "no hot 33"),
        ("p99<10ms@shard=2", "NAME is one of"),
    ],
)
def test_a_bad_threshold_is_one_line_before_anything_runs(
    capsys: Any, tmp_path: Path, expr: str, words: str
) -> None:
    # an unreachable target: the expression must be refused before any connection
    code, _, err = cli(capsys, "run", "--target", "postgresql://nobody@127.0.0.1:1/x",
                       "--out", tmp_path, *SMALL, "--threshold", expr)  # fmt: skip
    msg = one_line_error(code, err)
    assert words in msg and "--threshold" in msg, msg
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_max_error_rate_must_be_a_fraction(capsys: Any, tmp_path: Path) -> None:
    code, _, err = cli(capsys, "run", "--target", "postgresql://nobody@127.0.0.1:1/x",
                       "--out", tmp_path, "--max-error-rate", "5")  # fmt: skip
    assert "--max-error-rate" in one_line_error(code, err)


# -- the pure functions ------------------------------------------------------------------
def _summary(*ratios: dict[str, Any]) -> dict[str, Any]:
    return {
        "sections": [
            {"target": "t", "backend": "postgres", "strategy": "serial", "ratios": list(ratios)}
        ]
    }


def _ratio(hot: float, requests: int, errors: int, p99: float | None) -> dict[str, Any]:
    lat = dict.fromkeys(("p50", "p95", "p99", "p999", "max", "mean"), p99)
    return {"hot_pct": hot, "requests": requests, "errors": errors, "latency_ms": lat}


def test_run_status_names_the_first_ratio_over_the_limit() -> None:
    ok = _summary(_ratio(100, 1000, 10, 1.0), _ratio(0, 1000, 0, 2.0))
    assert run_status(ok, 0.01) == ("complete", None)  # 1 % is not above 1 %
    bad = _summary(_ratio(100, 1000, 11, 1.0), _ratio(0, 200, 200, None))
    status, why = run_status(bad, 0.01)
    assert status == "failed" and why is not None
    assert "100% hot" in why and "11 of 1000" in why and "and 1 more ratio" in why
    assert run_status(bad, 1.0)[0] == "complete"
    assert run_status(_summary(_ratio(50, 0, 0, None)), 0.0)[0] == "complete"  # nothing ran


def test_threshold_parsing_and_evaluation() -> None:
    t = parse_threshold("p99.9 < 50ms @ hot=0")
    assert (t.metric, t.op, t.limit, t.filters) == ("p999", "<", 50.0, {"hot": "0.0"})
    assert parse_threshold("p50<=2ms").op == "<="
    assert parse_threshold("p99<0.01s").limit == pytest.approx(10.0)
    assert parse_threshold("mean<500us").limit == pytest.approx(0.5)
    assert parse_threshold("p99<7").limit == 7.0  # ms by default
    e = parse_threshold("errors<0.1%")
    assert e.limit == pytest.approx(0.001) and e.limit_shown == pytest.approx(0.1)
    assert parse_threshold("errors<0.001").limit == pytest.approx(0.001)
    s = _summary(_ratio(100, 1000, 0, 4.0), _ratio(0, 1000, 2, None))
    rows = evaluate_thresholds(
        [parse_threshold("p99<5ms"), e, parse_threshold("p99<5ms@strategy=union")], s["sections"]
    )
    got = [(r["expression"], r["ratio"], r["value"], r["passed"]) for r in rows]
    assert got == [
        ("p99<5ms", 100, 4.0, True),
        ("p99<5ms", 0, None, False),  # not measured: an SLO is not met by nothing
        ("errors<0.1%", 100, 0.0, True),
        ("errors<0.1%", 0, pytest.approx(0.2), False),
        ("p99<5ms@strategy=union", None, None, False),  # matches nothing: says so, fails
    ]
    assert "no ratio" in rows[-1]["note"]
    with pytest.raises(ThresholdError, match="theta"):
        check_levels([parse_threshold("p99<1ms@theta=0.9")], [100, 0])
    check_levels([parse_threshold("p99<1ms@hot=0")], [100.0, 0.0])


def test_probe_on_redis_names_a_field_that_does_not_decode(redis_url: str) -> None:
    from featbench.backends.base import open_backend
    from featbench.backends.probe import ProbeError

    ns = f"fbt_pr_{uuid.uuid4().hex[:8]}"
    b = open_backend(f"{redis_url}{'&' if '?' in redis_url else '?'}namespace={ns}")
    try:
        b.load(SPEC, 0.5, 5, streams=1)
        keys = {e: b.sample_keys(SPEC, e, 20, 1) for e in SPEC.entity_names}
        assert b.probe(SPEC, keys) == []  # the data featbench loaded decodes
        t = SPEC.tables[2]  # ent1's table: break the first key the probe will find
        for k in keys["ent1"]:
            name = f"{ns}:{t.table_name}:{k}"
            if b.r.exists(name):  # type: ignore[attr-defined]
                b.r.hset(name, "txn_count", "many")  # type: ignore[attr-defined]
                break
        with pytest.raises(ProbeError, match=r"ent1__fam__30d column txn_count .* bigint"):
            b.probe(SPEC, keys)
    finally:
        b.drop()  # type: ignore[attr-defined]
        b.close()


# -- the validator knows the new fields ----------------------------------------------------
def test_validator_rederives_threshold_verdicts_and_wants_a_failure_reason(
    tmp_path: Path,
) -> None:
    from runfactory import make_run

    d = make_run(tmp_path, requests=50, ratios=(100, 0))
    before = validate_run(d)  # (the factory's runs are not complete in every detail)
    s = json.loads((d / "summary.json").read_text())
    s["thresholds"] = evaluate_thresholds(
        [parse_threshold("p99<1000ms"), parse_threshold("p50<1us@hot=0")], s["sections"]
    )
    (d / "summary.json").write_text(json.dumps(s))
    assert validate_run(d) == before
    assert [x["passed"] for x in s["thresholds"]] == [True, True, False]
    s["thresholds"][2]["passed"] = True  # a pass the numbers do not support
    s["thresholds"][0]["value"] = 0.001  # a value that is not the ratio's
    (d / "summary.json").write_text(json.dumps(s))
    problems = validate_run(d)
    assert any("thresholds[2]: passed is True" in p for p in problems), problems
    assert any("thresholds[0]: value" in p for p in problems), problems
    m = json.loads((d / "manifest.json").read_text())
    m["status"] = "failed"
    (d / "manifest.json").write_text(json.dumps(m))
    assert any("without a reason" in p for p in validate_run(d))
