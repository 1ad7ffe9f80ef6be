"""Bad input through the CLI: one line `error: …`, exit code 2, no traceback, nothing damaged."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from featbench.backends.pgload.state import lock_key
from featbench.cli import main

SMALL = "0.002"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as ei:
        main(args)
    out = capsys.readouterr()
    return int(ei.value.code or 0), out.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def schema_exists(dsn: str, schema: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
            is not None
        )


SPEC_TABLE = """
name = "t"
[[entities]]
name = "user"
[[tables]]
entity = "user"
family = "f"
rows = {rows}
[[tables.columns]]
name = "c"
type = "{type}"
"""


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (None, ["does not exist"]),
        ("name = 'x'\n[[tables]\n", ["not valid TOML"]),
        (SPEC_TABLE.format(rows=10, type="money"), ["tables[0].columns[0].type", "'bigint'"]),
        (SPEC_TABLE.format(rows=0, type="bigint"), ["tables[0].rows", "greater than 0"]),
        (SPEC_TABLE.format(rows=-3, type="bigint"), ["tables[0].rows", "greater than 0"]),
    ],
    ids=["missing", "malformed", "unknown-type", "zero-rows", "negative-rows"],
)
def test_bad_spec_fails_before_touching_the_database(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pg_dsn: str,
    pg_schema: str,
    text: str | None,
    needles: list[str],
) -> None:
    p = tmp_path / "spec.toml"
    if text is not None:
        p.write_text(text)
    code, err = run_cli(
        ["load", "--target", pg_dsn, "--schema", pg_schema, "--spec", str(p)], capsys
    )
    assert_one_line_error(code, err, str(p), *needles)
    assert not schema_exists(pg_dsn, pg_schema)


@pytest.mark.parametrize("scale", ["0", "-1"])
def test_scale_zero_or_negative(
    capsys: pytest.CaptureFixture[str], pg_dsn: str, pg_schema: str, scale: str
) -> None:
    code, err = run_cli(
        ["load", "--target", pg_dsn, "--schema", pg_schema, "--scale", scale], capsys
    )
    assert_one_line_error(code, err, "--scale must be > 0")
    assert not schema_exists(pg_dsn, pg_schema)


def test_streams_must_be_positive(
    capsys: pytest.CaptureFixture[str], pg_dsn: str, pg_schema: str
) -> None:
    code, err = run_cli(
        ["load", "-t", pg_dsn, "--schema", pg_schema, "--scale", SMALL, "--streams", "0"], capsys
    )
    assert_one_line_error(code, err, "--streams")


def test_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["verify", "--target", "postgresql://postgres@127.0.0.1:1/test"], capsys)
    assert_one_line_error(
        code, err, "cannot reach PostgreSQL at postgresql://postgres@127.0.0.1:1/test"
    )


def test_unknown_host_and_target_and_password_never_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = run_cli(
        ["verify", "--target", "postgresql://u:Sekr1t@no-such-host.invalid/db"], capsys
    )
    assert_one_line_error(code, err, "cannot resolve the host")
    assert "Sekr1t" not in err
    code, err = run_cli(["verify", "--target", "mysql://u:Sekr1t@h/db"], capsys)
    assert_one_line_error(code, err, "unknown target")
    assert "Sekr1t" not in err


def test_missing_database(capsys: pytest.CaptureFixture[str], pg_dsn: str) -> None:
    if "://" not in pg_dsn or "?host=" in pg_dsn:
        url = pg_dsn.replace("/postgres?", "/featbench_no_such_db?")
    else:
        url = pg_dsn.rsplit("/", 1)[0] + "/featbench_no_such_db"
    code, err = run_cli(["verify", "--target", url], capsys)
    assert_one_line_error(code, err, "database featbench_no_such_db does not exist")


def test_schema_not_featbench_is_refused_and_untouched(
    capsys: pytest.CaptureFixture[str], pg_dsn: str, pg_schema: str
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.precious (v text)").format(sql.Identifier(pg_schema)))
        conn.execute(
            sql.SQL("INSERT INTO {}.precious VALUES ('keep me')").format(sql.Identifier(pg_schema))
        )
    code, err = run_cli(["load", "-t", pg_dsn, "--schema", pg_schema, "--scale", SMALL], capsys)
    assert_one_line_error(code, err, f"schema {pg_schema}", "not created by featbench", "--force")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (pg_schema,)
        ).fetchall()
        assert tables == [("precious",)]
        assert conn.execute(
            sql.SQL("SELECT v FROM {}.precious").format(sql.Identifier(pg_schema))
        ).fetchall() == [("keep me",)]


def test_concurrent_load_is_refused(
    capsys: pytest.CaptureFixture[str], pg_dsn: str, pg_schema: str
) -> None:
    # Another session holds the schema's load lock, as a running `featbench load` does.
    with psycopg.connect(pg_dsn, autocommit=True) as holder:
        holder.execute("SET application_name = 'featbench'")
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(pg_schema),))
        code, err = run_cli(["load", "-t", pg_dsn, "--schema", pg_schema, "--scale", SMALL], capsys)
    assert_one_line_error(code, err, "another featbench load is running", pg_schema)
    assert not schema_exists(pg_dsn, pg_schema)


def test_bad_schema_name(capsys: pytest.CaptureFixture[str], pg_dsn: str) -> None:
    code, err = run_cli(["load", "-t", pg_dsn, "--schema", "pg_catalog", "--scale", SMALL], capsys)
    assert_one_line_error(code, err, "system schema")
    code, err = run_cli(["load", "-t", pg_dsn, "--schema", 'x"; drop', "--scale", SMALL], capsys)
    assert_one_line_error(code, err, "not a plain identifier")


def test_from_dir_without_manifest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_dsn: str
) -> None:
    code, err = run_cli(["load", "-t", pg_dsn, "--from-dir", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "manifest.json does not exist", "featbench generate")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["spec", "show", "--bogus"], "No such option"),
        (["spec", "show", "--scale", "abc"], "Invalid value for '--scale'"),
        (["run"], "Missing option"),
    ],
)
def test_usage_errors_exit_2_without_traceback(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Typer vendors click, so usage errors are not click.ClickException: main() must still
    # map them to exit code 2 with click's usage message, not "unexpected …" and exit 1.
    code, err = run_cli(args, capsys)
    assert code == 2, err
    assert needle in err
    assert "unexpected" not in err and "Traceback" not in err
