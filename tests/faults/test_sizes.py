"""Sizes are checked before anything is written (issue #13, item 4).

`--scale` inf / nan is one line and exit 2 before any connection or file; a data set of
more than 10 billion rows, or larger than the free disk where it goes, needs `--yes`;
with `--yes`, `load --scale 1e12` holds no memory that grows with the scale and stops
on Ctrl-C at once, saying what it left (its output is not a terminal here). Moments
are certain: the test waits for the load's first committed chunk (a row in
`_load_chunks`) or generate's first table file before it interrupts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from featbench.cli import main

FEATBENCH = [sys.executable, "-c", "from featbench.cli import main; main()"]  # + arguments
NOWHERE = "postgresql://nobody@127.0.0.1:1/none"  # a connection attempt would fail loudly


def _cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ex:
        main([str(a) for a in args])
    _, err = capsys.readouterr()
    return int(ex.value.code or 0), err


def _one_line_exit_2(code: int, err: str) -> str:
    assert code == 2, err
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert lines and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    return " ".join(lines)


def _schema_exists(dsn: str, schema: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return row is not None


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("bad", ["inf", "nan", "-inf"])
@pytest.mark.parametrize("command", ["load", "verify", "run", "generate"])
def test_non_finite_scale_is_refused_before_connecting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, bad: str
) -> None:
    out = tmp_path / "out"
    where = ["--out", out] if command == "generate" else ["-t", NOWHERE]
    if command == "run":
        where += ["--out", out]
    code, err = _cli(capsys, command, *where, f"--scale={bad}")
    msg = _one_line_exit_2(code, err)
    assert "--scale must be > 0 and finite" in msg, msg
    assert not out.exists()


def test_load_of_more_than_ten_billion_rows_needs_yes(
    capsys: pytest.CaptureFixture[str], pg_dsn: str, pg_schema: str
) -> None:
    t0 = time.monotonic()
    code, err = _cli(capsys, "load", "-t", pg_dsn, "--schema", pg_schema, "--scale", "1e12")
    msg = _one_line_exit_2(code, err)
    assert "more than 10,000,000,000 rows" in msg and "--yes" in msg, msg
    assert "1,468,000,000,000,000,000 rows" in msg  # fraud-30 at 1e12, estimated, not made
    assert time.monotonic() - t0 < 30  # arithmetic, not a plan of 10^13 chunks
    assert not _schema_exists(pg_dsn, pg_schema)  # nothing written


def test_generate_checks_rows_and_free_disk(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    msg = _one_line_exit_2(*_cli(capsys, "generate", "--out", out, "--scale", "1e5"))
    assert "more than 10,000,000,000 rows" in msg and "--yes" in msg
    assert not out.exists()
    # larger than the free disk at --out (the free space seen as 1 MB)
    import featbench.cli.generate_cmd as gen

    monkeypatch.setattr(gen, "free_bytes", lambda _p: 1_000_000)
    msg = _one_line_exit_2(*_cli(capsys, "generate", "--out", out, "--scale", "0.01"))
    assert "more than the 1.0 MB free at" in msg and "--yes" in msg, msg
    assert not out.exists()
    code, err = _cli(capsys, "generate", "--out", out, "--scale", "0.001", "--yes")
    assert code == 0, err
    assert (out / "manifest.json").exists()


def test_huge_load_with_yes_is_small_and_stops_at_once(pg_dsn: str, pg_schema: str) -> None:
    """--scale 1e12 --yes: the first chunk is committed without memory that grows with
    the scale; SIGINT (output not a terminal) exits 130 at once and says what is left."""
    proc = subprocess.Popen(
        [*FEATBENCH, "load", "-t", pg_dsn, "--schema", pg_schema, "--scale", "1e12", "--yes"]
        + ["--streams", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            chunks = sql.SQL("SELECT count(*) FROM {}._load_chunks").format(
                sql.Identifier(pg_schema)
            )
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if conn.execute(chunks).fetchone()[0] >= 1:  # type: ignore[index]
                        break
                except psycopg.errors.UndefinedTable:
                    pass
                time.sleep(0.1)
            else:
                pytest.fail(f"no chunk committed (exit {proc.poll()})")
        rss_mib = _rss_kib(proc.pid) / 1024
        assert rss_mib < 400, f"{rss_mib:.0f} MiB resident at the first chunk"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        stopped_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text
    assert "interrupted" in text and "_load_chunks" in text and "resume" in text, text
    assert stopped_s < 10, f"took {stopped_s:.1f} s to stop"  # ~0.3 s when the machine is quiet


def test_generate_stops_at_once_and_leaves_no_half_table(tmp_path: Path) -> None:
    out = tmp_path / "data"
    proc = subprocess.Popen(
        [*FEATBENCH, "generate", "--out", str(out), "--scale", "1e5", "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and any(p.stat().st_size > 0 for p in out.glob("*.partial")):
                break  # the first table is being written: a certain moment
            time.sleep(0.05)
        else:
            pytest.fail(f"generate wrote nothing (exit {proc.poll()})")
        rss_mib = _rss_kib(proc.pid) / 1024
        assert rss_mib < 400, f"{rss_mib:.0f} MiB resident while writing the first table"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        stopped_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "interrupted" in text, text
    assert not list(out.glob("*.partial")) and not (out / "manifest.json").exists()
    assert stopped_s < 10, f"took {stopped_s:.1f} s to stop"
