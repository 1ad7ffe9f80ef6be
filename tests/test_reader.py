"""The one reader of run directories (results/reader.py): schema versions, the migration
hook, the status it reads, and `show`, `report`, `compare` and `cost` all reading through
it (the same broken directory is refused by each with the same one-line message)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from featbench.cli import main
from featbench.results import reader, rundir
from featbench.results.reader import RunDirError, read_run, read_runs
from featbench.results.validate import validate_run
from runfactory import make_run


def _edit(path: Path, **changes: Any) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def _bump(d: Path, version: int) -> None:
    for name in (rundir.MANIFEST, rundir.SUMMARY):
        _edit(d / name, schema_version=version)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ei:
        main([str(a) for a in args])
    _, err = capsys.readouterr()
    return int(ei.value.code or 0), err


def test_a_newer_schema_version_is_refused_in_one_line(tmp_path: Path) -> None:
    d = make_run(tmp_path, requests=30, ratios=(100, 0))
    _bump(d, rundir.SCHEMA_VERSION + 1)
    with pytest.raises(RunDirError) as ei:
        read_run(d)
    msg = str(ei.value)
    assert "\n" not in msg
    assert f"schema_version {rundir.SCHEMA_VERSION + 1} is newer than this featbench" in msg
    assert "upgrade featbench" in msg and str(d / "manifest.json") in msg
    # the validator says the same thing, in its own list
    assert any("is newer than this featbench" in p for p in validate_run(d))


def test_a_missing_or_mismatched_version_is_refused(tmp_path: Path) -> None:
    d = make_run(tmp_path, requests=30, ratios=(100, 0))
    _edit(d / "summary.json", schema_version="1")
    with pytest.raises(RunDirError, match="missing or invalid schema_version"):
        read_run(d)
    _edit(d / "summary.json", schema_version=0)
    with pytest.raises(RunDirError, match="missing or invalid schema_version"):
        read_run(d)


def test_the_migration_hook_upgrades_an_older_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if this featbench wrote version 2 and version 1 lacked a field: one step in
    MIGRATIONS brings a version-1 run up to date for every reader (and the validator)."""
    d = make_run(tmp_path, requests=30, ratios=(100, 0))
    seen: list[int] = []

    def one_to_two(manifest: dict[str, Any], summary: dict[str, Any]) -> None:
        seen.append(manifest["schema_version"])
        manifest["upgraded"] = True
        for sec in summary["sections"]:
            for level in sec["ratios"]:
                level["added_in_v2"] = 1.0

    monkeypatch.setattr(rundir, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(reader, "MIGRATIONS", {1: one_to_two})
    run = read_run(d)
    assert seen == [1]
    assert run.manifest["schema_version"] == run.summary["schema_version"] == 2
    assert run.manifest["upgraded"] is True
    assert all(level["added_in_v2"] == 1.0 for s in run.sections for level in s.levels)
    assert json.loads((d / "manifest.json").read_text())["schema_version"] == 1  # files untouched
    # a version with no way up is refused, not read half-understood
    monkeypatch.setattr(reader, "MIGRATIONS", {})
    with pytest.raises(RunDirError, match="schema_version 1 is too old"):
        read_run(d)


def test_a_run_still_running_is_read_with_what_it_finished(tmp_path: Path) -> None:
    d = make_run(tmp_path, status="interrupted", requests=40, ratios=(100, 0))
    _edit(d / "manifest.json", status="running", finished_at=None)
    run = read_run(d)
    assert run.status == "running" and run.partial
    assert [r["hot_pct"] for r in run.sections[0].levels] == [100, 0]
    assert run.requests(("latency_us",)).num_rows > 0  # from the parts under requests/
    assert read_runs([d])[0].sections[0].label == "postgres · serial"


def test_unreadable_parts_of_an_unfinished_run_are_skipped_not_of_a_complete_one(
    tmp_path: Path,
) -> None:
    d = make_run(tmp_path, status="interrupted", requests=40, ratios=(100, 0))
    parts = sorted((d / "requests").glob("part-*.parquet"))
    rows = read_run(d).requests().num_rows
    (d / "requests" / "part-999.parquet").write_bytes(b"PAR1 half written")  # a killed writer
    assert read_run(d).requests().num_rows == rows
    assert parts  # the good parts were read
    c = make_run(tmp_path / "c", requests=40, ratios=(100, 0))
    (c / "requests.parquet").write_bytes(b"not parquet")
    with pytest.raises(RunDirError, match="unreadable Parquet"):
        read_run(c).requests()


BROKEN = [
    ("newer", lambda d: _bump(d, rundir.SCHEMA_VERSION + 1), "newer than this featbench"),
    ("json", lambda d: (d / "summary.json").write_text('{"schema_version": 1, "ra'), "not valid JSON"),
    ("manifest", lambda d: (d / "manifest.json").unlink(), "no manifest.json"),
    ("status", lambda d: _edit(d / "manifest.json", status="lost"), "status 'lost' is not one of"),
    ("shape", lambda d: _edit(d / "summary.json", sections=[{"ratios": [{"hot_pct": 1}]}]), "lacks `requests`"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "breaker", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_show_report_compare_and_cost_refuse_a_broken_run_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, breaker: Any, message: str
) -> None:
    good = make_run(tmp_path / "good", requests=30, ratios=(100, 0))
    bad = make_run(tmp_path / "bad", requests=30, ratios=(100, 0))
    breaker(bad)
    with pytest.raises(RunDirError) as ei:
        read_run(bad)
    expected = f"error: {ei.value}"
    assert message in expected
    commands = {
        "show": ["show", bad],
        "report": ["report", bad],
        "compare": ["compare", good, bad],
        "cost": ["cost", "--qps", "100", "--run", bad],
    }
    for cmd, args in commands.items():
        code, err = run_cli(args, capsys)
        assert code == 2, (cmd, err)
        lines = [x for x in err.splitlines() if x.strip()]
        # rich may wrap a long line: compare the text, not the layout
        assert " ".join(lines).replace("  ", " ") == expected.replace("  ", " "), (cmd, err)
    assert not (bad / "report.html").exists()
