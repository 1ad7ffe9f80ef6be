"""A full disk keeps the record consistent (issue #13, item 3), on a real full file system.

The results go to a tmpfs of a few hundred KiB mounted for the test (skipped, with the
reason, where the tests may not mount). Two moments:

- full from the start: `run` stops before anything is recorded — one line
  `error: … no space left on device …`, exit 1, no run directory left, no SQL row;
- full in the middle: a test listener fills the file system right after the first ratio
  is written (a certain moment: the run's own level_end event, not a timer). The second
  ratio's rows cannot be written: the run stops `failed` with the reason, summary.json
  counts only the rows on disk, no temp file is left, `validate_run` finds nothing
  wrong, the SQL copy holds both ratios (the database was fine), and `--overwrite`
  replaces the directory once there is room.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from faults.data_cli import cli, one_line_error
from featbench.errors import FeatbenchError
from featbench.results import rundir
from featbench.results.reader import read_run
from featbench.results.validate import validate_run
from featbench.runner import benchmark
from run_helpers import filled_schema, tiny_spec

SPEC = tiny_spec(2, rows=600, name="disk")
RUN = ["--ratios", "100,0", "--requests", "30", "--warmup", "2", "--keys", "300"]
RUN += ["--io-sample-every", "0", "--no-evict-os-cache"]


def _mount_tmpfs(path: Path, size_kib: int) -> str | None:
    """Mount a tmpfs of `size_kib` at `path`; None when done, else why it cannot be."""
    if os.geteuid() != 0:
        return "mounting a small file system needs root"
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    return None if r.returncode == 0 else f"cannot mount a tmpfs here: {r.stderr.strip()}"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Any]:
    """A function mounting a tmpfs of the given size (KiB); unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size_kib: int) -> Path:
        mnt = tmp_path / f"fs{len(mounted)}"
        why = _mount_tmpfs(mnt, size_kib)
        if why is not None:
            pytest.skip(why)
        mounted.append(mnt)
        return mnt

    yield mount
    for m in mounted:
        subprocess.run(["umount", "-l", str(m)], check=False)


@pytest.fixture(scope="module")
def filled(pg_dsn: str) -> Iterator[str]:
    with filled_schema(pg_dsn, "fbt_disk", SPEC) as name:
        yield name


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("spec") / "disk.toml"
    p.write_text(SPEC.to_toml())
    return p


def _sql_rows(dsn: str, schema: str, table: str, run_id: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.{table}",)).fetchone()
        if exists is None or exists[0] is None:
            return 0
        q = sql.SQL("SELECT count(*) FROM {}.{} WHERE run_id = %s")
        row = conn.execute(
            q.format(sql.Identifier(schema), sql.Identifier(table)), (run_id,)
        ).fetchone()
    return int(row[0]) if row else 0


class _FillOnce:
    """A run listener that fills the file system at `mnt` when the first ratio ends."""

    def __init__(self, mnt: Path) -> None:
        self.mnt = mnt
        self.filled = False

    def on_level_end(self, ev: Any) -> None:
        if self.filled:
            return
        self.filled = True
        with open(self.mnt / "filler", "wb", buffering=0) as f:
            for size in (65536, 4096, 1):
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError:
                    pass


def test_results_disk_full_from_the_start(
    capsys: pytest.CaptureFixture[str],
    small_fs: Any,
    pg_dsn: str,
    filled: str,
    spec_file: Path,
) -> None:
    out = small_fs(200)  # the 200 KiB results file system
    run_id = f"full-{uuid.uuid4().hex[:6]}"
    args = ["run", "-t", pg_dsn, "--spec", spec_file, "--schema", filled, "--out", out]
    code, _, err = cli(capsys, *args, "--run-id", run_id, *RUN)
    assert code == 1, err
    msg = one_line_error(err)
    assert "no space left on device" in msg, msg
    assert "the run did not start, nothing was kept" in msg, msg
    assert not (out / run_id).exists()  # nothing half-made is left behind
    assert _sql_rows(pg_dsn, filled, "run_keys", run_id) == 0
    assert _sql_rows(pg_dsn, filled, "run_results", run_id) == 0


@pytest.mark.parametrize("concurrency", ["1", "2"])  # featbench's process / client processes
def test_results_disk_fills_mid_run(
    concurrency: str,
    capsys: pytest.CaptureFixture[str],
    small_fs: Any,
    pg_dsn: str,
    filled: str,
    spec_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = small_fs(1024)
    run_id = f"fills-{uuid.uuid4().hex[:6]}"
    filler = _FillOnce(out)
    real = benchmark.run_benchmark

    def with_filler(*a: Any, **kw: Any) -> Any:
        kw["listeners"] = [*(kw.get("listeners") or []), filler]
        return real(*a, **kw)

    monkeypatch.setattr(benchmark, "run_benchmark", with_filler)
    args = ["run", "-t", pg_dsn, "--spec", spec_file, "--schema", filled, "--out", out]
    options = [*RUN, "--concurrency", concurrency, "--json"]
    code, _, err = cli(capsys, *args, "--run-id", run_id, *options)
    assert filler.filled
    assert code == 1, err
    msg = one_line_error(err)
    assert "no space left on device" in msg and "the run stopped (status failed)" in msg, msg
    path = out / run_id
    manifest = json.loads((path / rundir.MANIFEST).read_text())
    assert manifest["status"] == "failed"
    assert "no space left on device" in manifest["error"]
    summary = json.loads((path / rundir.SUMMARY).read_text())
    # the first ratio measured (ascending hot %: 0 first) is there; the second is not
    assert [r["hot_pct"] for r in summary["ratios"]] == [0]
    assert summary["ratios"][0]["requests"] == 30
    assert not list(path.rglob("*.tmp")) and not (path / rundir.RESERVE).exists()
    assert validate_run(path) == []  # summary counts == rows on disk, histograms match
    run = read_run(path)
    assert run.status == "failed"
    # the database was not the full disk: the SQL copy has the row of every ratio that was
    # measured. The first write to fail is the manifest's heartbeat as the second ratio
    # starts (results/writer.py), so the run stops before measuring it: one row.
    assert _sql_rows(pg_dsn, filled, "run_results", run_id) == 1
    # validate_run counts the rows in the parts a failed run keeps: a summary counting
    # rows that are not there (what the old writer left) and a temp file are reported
    (out / "filler").unlink()
    saved = (path / rundir.SUMMARY).read_text()
    s = json.loads(saved)
    s["sections"][0]["ratios"][0]["requests"] += 2000
    s["ratios"] = s["sections"][0]["ratios"]
    (path / rundir.SUMMARY).write_text(json.dumps(s))
    (path / rundir.REQUEST_PARTS / "part-00001.parquet.tmp").write_bytes(b"")
    problems = validate_run(path)
    assert any("says 2030 requests, requests.parquet has 30" in p for p in problems), problems
    assert any("part-00001.parquet.tmp: left behind" in p for p in problems), problems

    # once there is room, --overwrite replaces the failed run directory
    monkeypatch.setattr(benchmark, "run_benchmark", real)
    code, _, err = cli(capsys, *args, "--run-id", run_id, *options, "--overwrite")
    assert code == 0, err
    assert validate_run(path) == []
    assert json.loads((path / rundir.MANIFEST).read_text())["status"] == "complete"


def test_overwrite_replaces_only_featbench_directories(tmp_path: Path) -> None:
    # what the old version left on a full disk: histograms/ and nothing else
    partial = tmp_path / "partial"
    (partial / rundir.HISTOGRAMS).mkdir(parents=True)
    (partial / "requests").mkdir()
    (partial / "requests" / "part-00000.parquet.tmp").write_bytes(b"x")
    assert rundir.prepare_run_dir(tmp_path, "partial", overwrite=True) == partial
    assert (partial / rundir.MARKER).exists()
    # a directory holding something of the user's is never deleted
    mine = tmp_path / "mine"
    (mine / rundir.HISTOGRAMS).mkdir(parents=True)
    (mine / rundir.HISTOGRAMS / "notes.txt").write_text("mine")
    with pytest.raises(FeatbenchError, match="not a featbench run directory"):
        rundir.prepare_run_dir(tmp_path, "mine", overwrite=True)
    (mine / rundir.HISTOGRAMS / "notes.txt").unlink()
    (mine / "thesis.tex").write_text("mine")
    with pytest.raises(FeatbenchError, match="not a featbench run directory"):
        rundir.prepare_run_dir(tmp_path, "mine", overwrite=True)
    assert (mine / "thesis.tex").read_text() == "mine"
