"""The HTML report, PNGs and terminal headline from run directories written in the
agreed format (tests/runfactory.py), plus the refusals for unusable run directories."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from featbench.cli import main
from featbench.measure.percentiles import interval, mark
from featbench.report.build import make_report
from featbench.report.charts import fmt, fmt_ci
from featbench.report.png import find_chrome
from featbench.report.terminal import print_headline
from featbench.results.reader import RunDirError, read_runs
from runfactory import make_run
from test_measure_stats import rank_percentile

SEVEN = ["latency", "break_even", "cache", "entities", "distribution", "io", "worst_case"]
SECRET = "hunter2secret"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ei:
        main(args)
    out, err = capsys.readouterr()
    return int(ei.value.code or 0), out, err


def chart_ids(html: str) -> list[str]:
    return re.findall(r'<section class="fb-chart" id="([a-z_]+)"', html)


@pytest.fixture
def pg_run(tmp_path: Path) -> Path:
    return make_run(
        tmp_path, target=f"postgresql://bench:{SECRET}@127.0.0.1:5432/test", requests=120
    )


def test_report_has_the_seven_charts_self_contained(pg_run: Path):
    res = make_report([pg_run])
    assert res.html == pg_run / "report.html"
    html = res.html.read_text()
    ids = chart_ids(html)
    assert ids[:7] == SEVEN
    assert len(ids) == len(res.charts) == int(re.search(r'data-chart-count="(\d+)"', html).group(1))
    # offline: plotly.js inline, no external script, stylesheet or font
    assert "<script src=" not in html and "<link" not in html
    assert len(html) > 3_000_000  # plotly.js (~4.6 MB) is embedded
    assert "Plotly.newPlot" in html
    # header: what was run
    for word in (
        "fraud-30",
        "PostgreSQL 15.14",
        "shared_buffers",
        "seed",
        "0.0200",
        "postgresql://bench@127.0.0.1:5432/test",
    ):
        assert word in html, word
    # every chart has its sentence and its table of numbers
    assert html.count('<p class="what">') >= len(ids)
    assert html.count("numbers behind the chart") == len(ids)


def test_report_never_contains_the_password(pg_run: Path):
    m = json.loads((pg_run / "manifest.json").read_text())
    m["targets"][0]["server"]["password"] = SECRET  # a careless describe()
    m["targets"][0]["server"]["dsn"] = f"postgresql://bench:{SECRET}@db/x"
    (pg_run / "manifest.json").write_text(json.dumps(m))
    res = make_report([pg_run], qps=100)
    html = res.html.read_text()
    assert SECRET not in html
    assert SECRET not in json.dumps(res.as_dict(), default=str)


def test_chart_tables_hold_the_summary_numbers(pg_run: Path):
    res = make_report([pg_run])
    latency = next(c for c in res.charts if c.id == "latency")
    summary = json.loads((pg_run / "summary.json").read_text())
    by_hot = {float(r["hot_pct"]): r for r in summary["ratios"]}
    assert len(latency.table.rows) == len(by_hot)
    col = {c: i for i, c in enumerate(latency.table.columns)}
    for row in latency.table.rows:
        r = by_hot[float(row[1].rstrip("%"))]
        ci = r["latency_ci_ms"]
        # each percentile with its interval's mark (? open, ~ wide), then the interval
        assert row[col["p99 ms"]] == fmt(r["latency_ms"]["p99"]) + mark(
            r["latency_ms"]["p99"], ci["p99"]
        )
        assert row[col["p99 95% CI"]] == fmt_ci(ci["p99"])
        assert row[col["p50 ms"]] == fmt(r["latency_ms"]["p50"]) + mark(
            r["latency_ms"]["p50"], ci["p50"]
        )
    assert any("p99's distribution-free 95% interval" in n for n in latency.notes)
    p99_trace = next(t for t in latency.figure.data if (t.meta or {}).get("quantile") == "p99")
    assert list(p99_trace.y) == [by_hot[h]["latency_ms"]["p99"] for h in sorted(by_hot)]
    assert (
        p99_trace.error_y.array is not None
    )  # the intervals are drawn (bars, one-sided when open)
    band = [t for t in latency.figure.data if t.name == "p99 95% interval"]
    assert len(band) == 1  # and as a band where both bounds exist
    html = res.html.read_text()
    assert fmt(by_hot[0.0]["latency_ms"]["p99"]) in html


def test_worst_case_percentiles_come_from_the_request_log(pg_run: Path):
    res = make_report([pg_run])
    worst = next(c for c in res.charts if c.id == "worst_case")
    t = pq.read_table(pg_run / "requests.parquet")
    hot = np.array(t["hot_entities"].to_pylist())
    err = np.array([e is not None for e in t["error"].to_pylist()])
    lat = np.array(t["latency_us"].to_pylist(), dtype=float) / 1000
    cold = lat[(hot == 0) & ~err]
    row = worst.table.rows[0]
    assert row[1] == cold.size > 0
    p99 = rank_percentile(cold, 99)  # featbench's one definition
    assert row[4] == fmt(p99) + mark(p99, list(interval(cold, 0.99)))
    assert row[6] == fmt(float(cold.max()))


def test_distribution_expectation_is_r_to_the_e(pg_run: Path):
    res = make_report([pg_run])
    dist = next(c for c in res.charts if c.id == "distribution")
    row80 = next(r for r in dist.table.rows if r[0] == "80%")
    assert row80[2] == fmt(0.8**3 * 100, 1)
    assert row80[5] == fmt(0.2**3 * 100, 1)


def test_optional_charts_appear_only_with_data(tmp_path: Path):
    plain = make_report([make_run(tmp_path / "a", requests=60)])
    ids = [c.id for c in plain.charts]
    assert (
        "strategies" not in ids
        and "targets" not in ids
        and "corrected" not in ids
        and "cost" not in ids
    )
    assert "timeseries" in ids  # it has a request log
    rich = make_report(
        [
            make_run(
                tmp_path / "b",
                strategies=("serial", "pipeline"),
                open_loop=True,
                requests=60,
                extra_targets=(("redis", "redis://127.0.0.1:6379/0", ("pipeline",)),),
            )
        ],
        qps=1000,
    )
    ids = [c.id for c in rich.charts]
    for want in ("strategies", "targets", "timeseries", "corrected", "cost"):
        assert want in ids, want
    no_log = make_report([make_run(tmp_path / "c", requests=60, with_requests=False)])
    worst = next(c for c in no_log.charts if c.id == "worst_case")
    assert not worst.measured and worst.table.rows == []  # says why, invents nothing
    assert "timeseries" not in [c.id for c in no_log.charts]


def test_entity_chart_not_invented_for_batched_strategies(tmp_path: Path):
    res = make_report([make_run(tmp_path, strategies=("pipeline",), requests=60)])
    ent = next(c for c in res.charts if c.id == "entities")
    assert not ent.measured and ent.table.rows == []
    assert "never estimated" in " ".join(ent.notes)


def test_two_runs_give_a_measured_break_even_skew(tmp_path: Path):
    pg = make_run(tmp_path, "20261126T000000Z-aaaaaa", requests=150)
    ddb = make_run(
        tmp_path,
        "20261126T000100Z-bbbbbb",
        backend="dynamodb",
        target="dynamodb://?region=us-east-1",
        strategies=("batch",),
        requests=150,
    )
    res = make_report([pg, ddb], out=tmp_path / "both.html")
    be = next(c for c in res.charts if c.id == "break_even")
    assert be.table.rows, "a PostgreSQL and a DynamoDB series must be compared"
    assert be.table.rows[0][2] == "measured"
    assert "targets" in [c.id for c in res.charts]
    io = next(c for c in res.charts if c.id == "io")
    assert all(r[0].startswith("postgres") for r in io.table.rows)  # no invented DynamoDB blocks
    html = (tmp_path / "both.html").read_text()
    assert "20261126T000000Z-aaaaaa" in html and "20261126T000100Z-bbbbbb" in html


def test_reference_p99_is_flagged_as_assumption(pg_run: Path):
    res = make_report([pg_run], reference_p99=5.0)
    be = next(c for c in res.charts if c.id == "break_even")
    assert be.table.rows and be.table.rows[0][2] == "assumption"


def test_interrupted_run_reports_what_it_has(tmp_path: Path):
    ratios = (100, 30, 0)  # the run stopped after three ratios
    d = make_run(tmp_path, status="interrupted", ratios=ratios, requests=60)
    assert not (d / "requests.parquet").exists() and list((d / "requests").glob("*.parquet"))
    res = make_report([d])
    html = res.html.read_text()
    assert "INTERRUPTED" in html and 'class="banner interrupted"' in html
    worst = next(c for c in res.charts if c.id == "worst_case")
    assert worst.measured  # the request parts were read
    latency = next(c for c in res.charts if c.id == "latency")
    assert len(latency.table.rows) == 3


def test_a_run_still_marked_running_reports_what_it_finished(tmp_path: Path, capsys):
    # Not finished, or its process died (kill -9 leaves `running`): the ratios in its
    # summary.json are reported, marked, as for an interrupted run.
    d = make_run(tmp_path, status="interrupted", ratios=(100, 50), requests=60)
    _edit(d / "manifest.json", status="running", finished_at=None)
    code, _, err = run_cli(["report", str(d)], capsys)
    assert code == 0, err
    assert "is running" in err
    html = (d / "report.html").read_text()
    assert 'class="banner running"' in html and "RUNNING" in html


def test_report_cli_with_png(pg_run: Path, tmp_path: Path, capsys):
    if find_chrome() is None:
        pytest.skip("no Chrome/Chromium binary for kaleido (CI installs Debian's chromium)")
    png_dir = tmp_path / "png"
    code, out, err = run_cli(
        ["report", str(pg_run), "--png", str(png_dir), "--qps", "2000", "--json"], capsys
    )
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["png"]) == len(doc["charts"]) >= 8  # the seven + cost
    for p in doc["png"]:
        data = Path(p).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert w >= 1000 and h >= 300


def test_report_cli_out_and_message(pg_run: Path, tmp_path: Path, capsys):
    out_file = tmp_path / "sub" / "r.html"
    code, _, err = run_cli(["report", str(pg_run), "--out", str(out_file)], capsys)
    assert code == 0 and out_file.is_file()
    assert str(out_file) in err.replace("\n", "")


def _single_error_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (lambda d: (d / "summary.json").unlink(), "without summary.json"),
        (lambda d: _edit(d / "manifest.json", status="lost"), "status 'lost' is not one of"),
        (lambda d: _edit(d / "manifest.json", schema_version=2), "newer than this featbench"),
        (lambda d: _edit(d / "summary.json", schema_version=9), "newer than this featbench"),
        (lambda d: (d / "manifest.json").unlink(), "no manifest.json"),
        (lambda d: (d / "summary.json").write_text('{"schema_version": 1, "ra'), "not valid JSON"),
        (
            lambda d: _edit(d / "summary.json", sections=[{"ratios": [{"hot_pct": 10}]}]),
            "lacks `requests`",
        ),
    ],
)
def test_unusable_run_dirs_are_refused(tmp_path: Path, capsys, breaker, message):
    d = make_run(tmp_path, requests=30, ratios=(100, 0))
    breaker(d)
    code, _, err = run_cli(["report", str(d)], capsys)
    assert code == 2
    assert message in _single_error_line(err)
    assert not (d / "report.html").exists()  # nothing written


def test_not_a_directory_and_bad_qps(tmp_path: Path, capsys):
    code, _, err = run_cli(["report", str(tmp_path / "missing")], capsys)
    assert code == 2 and "not a directory" in _single_error_line(err)
    d = make_run(tmp_path, requests=30, ratios=(100, 0))
    code, _, err = run_cli(["report", str(d), "--qps", "0"], capsys)
    assert code == 2 and "--qps must be > 0" in _single_error_line(err)
    assert not (d / "report.html").exists()


def _edit(path: Path, **changes) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def test_load_run_rejects_run_without_ratios(tmp_path: Path):
    d = make_run(tmp_path, requests=30, ratios=(100,), status="interrupted")
    _edit(d / "summary.json", ratios=[], sections=[])
    with pytest.raises(RunDirError, match="no `ratios`|before any ratio"):
        read_runs([d])


def test_headline(pg_run: Path):
    con = Console(record=True, width=140, file=io.StringIO())
    data = print_headline(pg_run, console=con, report_path="R.html")
    text = con.export_text()
    summary = json.loads((pg_run / "summary.json").read_text())
    for r in summary["ratios"]:
        assert fmt(r["latency_ms"]["p99"]) in text
        assert fmt(r["io"]["hit_ratio"], 3) in text
    assert "cost per million requests at" in text and "measured request rate" in text
    assert "series together" not in text  # one target/strategy: its own rate
    assert "report: R.html" in text
    pm = data["cost"]["per_million_requests"]
    assert set(pm) == {"lakebase", "dynamodb_on_demand", "dynamodb_provisioned", "elasticache"}
    assert all(v > 0 for v in pm.values())


def test_headline_without_request_log_says_why(tmp_path: Path):
    d = make_run(tmp_path, requests=30, ratios=(100, 0), with_requests=False)
    con = Console(record=True, width=140, file=io.StringIO())
    data = print_headline(d, console=con)
    assert data["cost"]["per_million_requests"] is None
    assert "give --qps" in con.export_text()
    data = print_headline(d, console=con, qps=50)
    assert data["cost"]["per_million_requests"]["lakebase"] > 0


# -- end to end: a real (tiny) run against PostgreSQL, then report, cost and headline ------
@pytest.mark.integration
def test_report_of_a_real_run(pg_dsn: str, pg_schema: str, tmp_path: Path, capsys):
    from run_helpers import fill_tables, tiny_spec

    spec = tiny_spec(rows=300)
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(spec.to_toml())
    fill_tables(pg_dsn, pg_schema, spec)
    # fmt: off
    code, _, err = run_cli(
        ["run", "--target", pg_dsn, "--schema", pg_schema, "--spec", str(spec_file),
         "--ratios", "100,50,0", "--requests", "60", "--warmup", "10", "--keys", "200",
         "--io-sample-every", "20", "--out", str(tmp_path / "results"), "--run-id", "e2e", "--json"],
        capsys,
    )
    # fmt: on
    assert code == 0, err
    run_dir = tmp_path / "results" / "e2e"
    code, out, err = run_cli(["report", str(run_dir), "--qps", "100", "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["charts"][:7] == SEVEN and "cost" in doc["charts"]
    html = (run_dir / "report.html").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    for r in summary["ratios"]:
        assert fmt(r["latency_ms"]["p99"]) in html
    res = make_report([run_dir])
    io_chart = next(c for c in res.charts if c.id == "io")
    assert io_chart.measured and len(io_chart.table.rows) == 3  # PostgreSQL counters were read
    worst = next(c for c in res.charts if c.id == "worst_case")
    assert worst.measured
    assert "settings.shared_buffers" in html  # server settings from describe()
    con = Console(record=True, width=160, file=io.StringIO())
    data = print_headline(run_dir, console=con)
    assert data["cost"]["qps"] and data["cost"]["per_million_requests"]["lakebase"] > 0
    assert str(run_dir / "report.html") in con.export_text().replace("\n", "")
    code, out, _ = run_cli(["cost", "--run", str(run_dir), "--qps", "250", "--json"], capsys)
    assert code == 0
    inputs = {i["name"]: i for i in json.loads(out)["inputs"]}
    assert inputs["tables"]["value"] == len(spec.tables)


def test_zipfian_sweep_uses_theta_axis(tmp_path: Path):
    d = make_run(tmp_path, requests=40, ratios=(100, 50, 0), with_requests=False)
    s = json.loads((d / "summary.json").read_text())
    for sec in s["sections"]:
        for r, theta in zip(sec["ratios"], (0.5, 0.99, 1.2), strict=True):
            r["theta"] = theta
            del r["hot_pct"]
    s["ratios"] = s["sections"][0]["ratios"]
    (d / "summary.json").write_text(json.dumps(s))
    res = make_report([d])
    latency = next(c for c in res.charts if c.id == "latency")
    assert [row[1] for row in latency.table.rows] == ["θ=0.5", "θ=0.99", "θ=1.2"]
    assert latency.figure.layout.xaxis.title.text == "Zipf θ"
    dist = next(c for c in res.charts if c.id == "distribution")
    assert not dist.measured  # fully hot/cold is a hot/cold notion


def test_latency_axis_goes_log_when_stores_differ_by_orders_of_magnitude():
    import plotly.graph_objects as go

    from featbench.report.charts import _auto_log

    same = _auto_log(go.Figure([go.Scatter(y=[1.0, 5.0]), go.Scatter(y=[2.0, 9.0])]))
    assert same.layout.yaxis.type is None
    wide = _auto_log(go.Figure([go.Scatter(y=[0.5, 1.0]), go.Scatter(y=[250.0, None])]))
    assert wide.layout.yaxis.type == "log"
