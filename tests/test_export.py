"""`featbench export`: CSV and OpenMetrics of a run's summary, checked against summary.json
and with Prometheus's own parsers (promtool when it is installed, prometheus_client's
OpenMetrics parser always)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from featbench.report.export import CSV_COLUMNS, to_csv, to_openmetrics
from featbench.results.reader import read_run
from run_helpers import run_cli as cli
from runfactory import make_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(
        tmp_path,
        strategies=("union", "pipeline"),
        ratios=(100, 50, 0),
        requests=80,
        extra_targets=(("redis", 'redis://127.0.0.1:6379/0?x="q"', ("pipeline",)),),
    )


def test_csv_holds_the_summary(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = list(csv.DictReader(io.StringIO(to_csv(read_run(run_dir)))))
    assert list(rows[0]) == CSV_COLUMNS
    want = [(s, r) for s in summary["sections"] for r in s["ratios"]]
    assert len(rows) == len(want) == 9
    got = {(r["backend"], r["strategy"], float(r["level"])): r for r in rows}
    for s, r in want:
        row = got[(s["backend"], s["strategy"], float(r["hot_pct"]))]
        assert float(row["p99_ms"]) == r["latency_ms"]["p99"]
        assert int(row["requests"]) == r["requests"]
        hi = r["latency_ci_ms"]["p99"][1]
        assert row["p99_ci_high_ms"] == ("" if hi is None else str(hi))
        hit = (r.get("io") or {}).get("hit_ratio")
        assert row["hit_ratio"] == ("" if hit is None else str(hit))  # not measured: empty, not 0


def test_openmetrics_parses_and_holds_the_summary(run_dir: Path, tmp_path: Path) -> None:
    text = to_openmetrics(read_run(run_dir))
    assert text.endswith("# EOF\n")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["featbench_run"].samples[0].labels["status"] == "complete"
    summary = json.loads((run_dir / "summary.json").read_text())
    p99 = {
        (x.labels["backend"], x.labels["strategy"], x.labels["hot_pct"]): x.value
        for x in fams["featbench_latency_seconds"].samples
        if x.labels["quantile"] == "0.99"
    }
    n = 0
    for s in summary["sections"]:
        for r in s["ratios"]:
            key = (s["backend"], s["strategy"], f"{float(r['hot_pct']):g}")
            assert p99[key] == pytest.approx(r["latency_ms"]["p99"] / 1000, rel=1e-12)
            n += 1
    assert len(p99) == n == 9
    # the quoted target survives escaping; stores without cache counters have no hit sample
    targets = {x.labels["target"] for x in fams["featbench_requests"].samples}
    assert targets == {s.target for s in read_run(run_dir).sections}  # escaped and read back
    hits = {x.labels["backend"] for x in fams["featbench_cache_hit_ratio"].samples}
    assert hits == {"postgres"}
    if shutil.which("promtool"):
        p = tmp_path / "m.prom"
        p.write_text(text)
        r = subprocess.run(
            ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr


def test_export_cli(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["export", str(run_dir)], capsys)
    assert code == 0 and out.splitlines()[0] == ",".join(CSV_COLUMNS)
    dest = tmp_path / "out" / "run.prom"
    code, out, err = cli(
        ["export", str(run_dir), "--format", "openmetrics", "-o", str(dest)], capsys
    )
    assert code == 0 and out == "" and "wrote" in err
    list(text_string_to_metric_families(dest.read_text()))
    code, _, err = cli(["export", str(run_dir), "--format", "xml"], capsys)
    assert code == 2 and err.startswith("error: ") and "'xml' is not one of" in err
    code, _, err = cli(["export", str(tmp_path / "nope")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_label_values_are_escaped() -> None:
    from featbench.report.export import _Family

    f = _Family("featbench_x", "gauge", "A test family.")
    nasty = 'a"b\\c\nd'
    f.add({"target": nasty}, 1.5)
    f.add({"target": "missing"}, None)  # not measured: no sample
    fams = list(text_string_to_metric_families("\n".join([*f.text(), "# EOF"]) + "\n"))
    assert [(s.labels["target"], s.value) for s in fams[0].samples] == [(nasty, 1.5)]
