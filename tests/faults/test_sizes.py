"""Sizes are checked before anything is written (issue #13, item 4).

`--scale` inf / nan is one line and exit 2 before any connection or file; a data set of
more than 10 billion rows, or larger than the free disk where it goes, needs `--yes`;
with `--yes`, `load --scale 1e12` holds no memory that grows with the scale and stops
on Ctrl-C at once, saying what it left (its output is not a terminal here). Moments
are certain: the test waits for the load's first committed chunk (a row in
`_load_chunks`) or generate's first table file before it interrupts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from faults.data_cli import cli, interrupt_when, one_line_exit_2

NOWHERE = "postgresql://nobody@127.0.0.1:1/none"  # a connection attempt would fail loudly


def _cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str]:
    code, _, err = cli(capsys, *args)
    return code, err


def _schema_exists(dsn: str, schema: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return row is not None


@pytest.mark.parametrize("bad", ["inf", "nan", "-inf"])
@pytest.mark.parametrize("command", ["load", "verify", "run", "generate", "spec", "cost"])
def test_non_finite_scale_is_refused_before_connecting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, bad: str
) -> None:
    out = tmp_path / "out"
    where = {
        "generate": ["--out", out],
        "run": ["-t", NOWHERE, "--out", out],
        "spec": ["show"],
        "cost": ["--qps", "100"],
    }.get(command, ["-t", NOWHERE])
    code, err = _cli(capsys, command, *where, f"--scale={bad}")
    msg = one_line_exit_2(code, err)
    assert "--scale must be > 0 and finite" in msg, msg
    assert not out.exists()


def test_load_of_more_than_ten_billion_rows_needs_yes(
    capsys: pytest.CaptureFixture[str], pg_dsn: str, pg_schema: str
) -> None:
    t0 = time.monotonic()
    code, err = _cli(capsys, "load", "-t", pg_dsn, "--schema", pg_schema, "--scale", "1e12")
    msg = one_line_exit_2(code, err)
    assert "more than 10,000,000,000 rows" in msg and "--yes" in msg, msg
    assert "1,468,000,000,000,000,000 rows" in msg  # fraud-30 at 1e12, estimated, not made
    assert time.monotonic() - t0 < 30  # arithmetic, not a plan of 10^13 chunks
    assert not _schema_exists(pg_dsn, pg_schema)  # nothing written


def test_load_larger_than_the_servers_free_disk_needs_yes(
    capsys: pytest.CaptureFixture[str], pg_dsn: str, pg_schema: str
) -> None:
    """A server on this machine: its data directory's free disk is the limit."""
    from featbench.backends.base import open_backend
    from featbench.sizing import ROW_LIMIT, estimate
    from featbench.spec import builtin_spec

    b = open_backend(pg_dsn, schema=pg_schema)
    try:
        free = b.free_space()
    finally:
        b.close()
    if free is None:
        pytest.skip("the test server's data directory is not readable from here")
    one = estimate(builtin_spec(), 1.0)
    scale = round(2 * free[0] / one.bytes + 1)  # twice the free disk
    if estimate(builtin_spec(), scale).rows > ROW_LIMIT:
        pytest.skip("the free disk is too large to exceed below the row limit")
    code, err = _cli(capsys, "load", "-t", pg_dsn, "--schema", pg_schema, "--scale", scale)
    msg = one_line_exit_2(code, err)
    assert "free at the server's data directory" in msg and "--yes" in msg, msg
    assert "more than 10,000,000,000 rows" not in msg
    assert not _schema_exists(pg_dsn, pg_schema)


def test_generate_checks_rows_and_free_disk(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    msg = one_line_exit_2(*_cli(capsys, "generate", "--out", out, "--scale", "1e5"))
    assert "more than 10,000,000,000 rows" in msg and "--yes" in msg
    assert not out.exists()
    # larger than the free disk at --out (the free space seen as 1 MB)
    import featbench.sizing as sizing  # generate_cmd imports it when it runs

    monkeypatch.setattr(sizing, "free_bytes", lambda _p: 1_000_000)
    msg = one_line_exit_2(*_cli(capsys, "generate", "--out", out, "--scale", "0.01"))
    assert "more than the 1.0 MB free at" in msg and "--yes" in msg, msg
    assert not out.exists()
    code, err = _cli(capsys, "generate", "--out", out, "--scale", "0.001", "--yes")
    assert code == 0, err
    assert (out / "manifest.json").exists()


def test_huge_load_with_yes_is_small_and_stops_at_once(pg_dsn: str, pg_schema: str) -> None:
    """--scale 1e12 --yes: the first chunk is committed without memory that grows with
    the scale; SIGINT (output not a terminal) exits 130 at once and says what is left."""
    chunks = sql.SQL("SELECT count(*) FROM {}._load_chunks").format(sql.Identifier(pg_schema))

    with psycopg.connect(pg_dsn, autocommit=True) as conn:

        def first_chunk_committed() -> bool:
            try:
                return bool(conn.execute(chunks).fetchone()[0])  # type: ignore[index]
            except psycopg.errors.UndefinedTable:
                return False

        code, err, stopped_s = interrupt_when(
            ["load", "-t", pg_dsn, "--schema", pg_schema, "--scale", "1e12", "--yes"]
            + ["--streams", "1"],
            first_chunk_committed,
        )
    assert code == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err and "_load_chunks" in err and "resume" in err, err
    assert stopped_s < 10, f"took {stopped_s:.1f} s to stop"  # 0.2-0.6 s measured here


def test_generate_stops_at_once_and_leaves_no_half_table(tmp_path: Path) -> None:
    out = tmp_path / "data"

    def writing_first_table() -> bool:
        return out.exists() and any(p.stat().st_size > 0 for p in out.glob("*.partial"))

    code, err, stopped_s = interrupt_when(
        ["generate", "--out", str(out), "--scale", "1e5", "--yes"], writing_first_table
    )
    assert code == 130, err
    assert "Traceback" not in err and "interrupted" in err, err
    assert not list(out.glob("*.partial")) and not (out / "manifest.json").exists()
    assert stopped_s < 10, f"took {stopped_s:.1f} s to stop"
