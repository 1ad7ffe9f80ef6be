"""compare's significance rule from the percentile intervals of summary.json, and the
validator's checks of `latency_ci_ms` (run directories written by tests/runfactory.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from featbench.report.terminal import render_compare
from featbench.results.compare import compare_runs, significance
from featbench.results.reader import read_run
from featbench.results.validate import validate_run
from runfactory import make_run
from test_results import synthetic_run


def _set_ratio(run_dir: Path, hot: int, lat: dict[str, Any], ci: dict[str, Any] | None) -> None:
    """Give one ratio of the first section these percentiles and intervals (top level too)."""
    p = run_dir / "summary.json"
    doc = json.loads(p.read_text())
    for r in doc["sections"][0]["ratios"]:
        if r["hot_pct"] == hot:
            r["latency_ms"].update(lat)
            if ci is None:
                r.pop("latency_ci_ms", None)
            else:
                r["latency_ci_ms"].update(ci)
    doc["ratios"] = doc["sections"][0]["ratios"]
    p.write_text(json.dumps(doc))


def test_significance_rule() -> None:
    assert significance(2.0, [1.9, 2.1], 3.0, [2.8, 3.3]) is True  # disjoint: slower
    assert significance(3.0, [2.8, 3.3], 2.0, [1.9, 2.1]) is True  # disjoint: faster
    assert significance(2.0, [1.9, 2.2], 2.1, [2.0, 2.3]) is False  # overlap, closed: noise
    # open bounds reach to 0 / infinity: they can still prove a change ...
    assert significance(2.0, [1.9, 2.1], 9.0, [5.0, None]) is True
    assert significance(9.0, [None, 12.0], 2.0, [1.9, 2.1]) is None  # open low end overlaps
    # ... but an overlap involving an open interval is undecidable, not noise
    assert significance(2.0, [1.9, 2.2], 2.1, [2.0, None]) is None
    assert significance(2.0, None, 2.1, [2.0, 2.2]) is None  # no interval recorded
    assert significance(None, [None, None], 2.1, [2.0, 2.2]) is None


def test_compare_from_summaries_alone(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"ratios": (100, 50, 0), "requests": 400, "with_requests": False}
    a = make_run(tmp_path, "a", seed=1, **kw)
    b = make_run(tmp_path, "b", seed=1, **kw)
    assert not (a / "requests.parquet").exists()
    # 100% hot: a clear change; 50%: overlapping intervals; 0%: an open interval that overlaps
    _set_ratio(a, 100, {"p50": 1.0}, {"p50": [0.95, 1.05]})
    _set_ratio(b, 100, {"p50": 2.0}, {"p50": [1.9, 2.1]})
    _set_ratio(a, 50, {"p50": 1.0}, {"p50": [0.95, 1.05]})
    _set_ratio(b, 50, {"p50": 1.02}, {"p50": [0.98, 1.07]})
    _set_ratio(a, 0, {"p50": 1.0}, {"p50": [0.95, 1.05]})
    _set_ratio(b, 0, {"p50": 1.3}, {"p50": [None, 1.6]})
    doc = compare_runs(read_run(a), read_run(b))
    rows = {r["hot_pct"]: r for r in doc["sections"][0]["ratios"]}
    assert rows[100]["p50"]["significant"] is True and rows[100]["p50"]["delta_pct"] == 100.0
    assert rows[100]["p50"]["a_ci_ms"] == [0.95, 1.05] and rows[100]["p50"]["b_ci_ms"] == [1.9, 2.1]
    assert rows[50]["p50"]["significant"] is False
    assert rows[0]["p50"]["significant"] is None
    # p999 of 400 requests has no upper bound: overlapping open intervals are undecidable
    assert all(r["p999"]["b_ci_ms"][1] is None for r in rows.values())
    assert rows[50]["p999"]["significant"] is None
    assert "do not overlap" in doc["method"]
    json.dumps(doc, allow_nan=False)
    # the table says which is which, and how it was decided
    con = Console(record=True, width=200, file=io.StringIO())
    con.print(render_compare(doc))
    text = con.export_text()
    assert "+100.0%" in text and "(noise)" in text and "(?)" in text
    assert "do not overlap" in text and "undecidable" in text


def test_compare_of_runs_without_intervals(tmp_path: Path) -> None:
    """Runs written before latency_ci_ms: intervals from requests.parquet when it is there,
    else undecidable with a note."""
    kw: dict[str, Any] = {"ratios": (100, 0), "requests": 400}
    a = make_run(tmp_path, "a", seed=1, **kw)
    b = make_run(tmp_path, "b", seed=2, **kw)
    for d in (a, b):
        for hot in (100, 0):
            _set_ratio(d, hot, {}, None)
    doc = compare_runs(read_run(a), read_run(b))
    r = doc["sections"][0]["ratios"][0]
    assert r["p50"]["a_ci_ms"][0] is not None and r["p50"]["significant"] in (True, False)
    (a / "requests.parquet").unlink()
    doc = compare_runs(read_run(a), read_run(b))
    assert all(r["p50"]["significant"] is None for r in doc["sections"][0]["ratios"])
    assert any("records no percentile intervals" in w for w in doc["warnings"])


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda r: r["latency_ci_ms"].pop("p99"), "must have exactly p50, p95, p99, p999"),
        (lambda r: r["latency_ci_ms"].update(p50=[1.0]), "latency_ci_ms.p50 must be [lo, hi]"),
        (lambda r: r["latency_ci_ms"].update(p50=[1.0, "x"]), "latency_ci_ms.p50 must be"),
        (lambda r: r["latency_ci_ms"].update(p50=[-1.0, None]), "latency_ci_ms.p50 must be"),
        (
            lambda r: r["latency_ci_ms"].update(p50=[r["latency_ms"]["p50"] * 2, None]),
            "lower bound",
        ),
        (
            lambda r: r["latency_ci_ms"].update(p95=[None, r["latency_ms"]["p95"] / 2]),
            "upper bound",
        ),
        (lambda r: r.update(latency_ci_ms=None), "latency_ci_ms is null"),
        (lambda r: r.update(corrected_latency_ci_ms=r["latency_ci_ms"]), "corrected_latency_ci_ms"),
    ],
)
def test_validate_run_catches_a_malformed_latency_ci_ms(tmp_path: Path, edit, problem) -> None:
    d = synthetic_run(tmp_path, "r", levels=(100,), n=100)  # the real statistics and writer
    assert validate_run(d) == []
    p = d / "summary.json"
    doc = json.loads(p.read_text())
    assert doc["sections"][0]["ratios"][0]["corrected_latency_ci_ms"] is None  # closed loop
    edit(doc["sections"][0]["ratios"][0])
    p.write_text(json.dumps(doc))
    problems = validate_run(d)
    assert any(problem in x for x in problems), problems


def test_runfactory_intervals_are_closed_where_n_allows(tmp_path: Path) -> None:
    d = make_run(tmp_path, ratios=(100,), requests=400, open_loop=True)
    r = json.loads((d / "summary.json").read_text())["ratios"][0]
    assert None not in r["latency_ci_ms"]["p99"] and r["latency_ci_ms"]["p999"][1] is None
    assert r["corrected_latency_ci_ms"]["p50"][0] <= r["corrected_latency_ms"]["p50"]
    assert [x for x in validate_run(d) if "ci_ms" in x] == []
