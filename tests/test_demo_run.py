"""`featbench demo` end to end on its own embedded server: the hit ratio must fall with hot traffic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from featbench.cli import main
from featbench.results.validate import validate_run


def test_demo_runs_the_matrix_and_the_measured_hit_ratio_falls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEATBENCH_HOME", str(tmp_path / "home"))
    from featbench.backends import embedded
    from featbench.cli import run_cmd

    try:
        with pytest.raises(SystemExit) as ex:
            main(["demo", "--out", str(tmp_path / "results"), "--json"])
        out, err = capsys.readouterr()
        assert ex.value.code in (0, None), err
    finally:
        embedded.stop()
    doc = json.loads(out)
    run = doc["run"]
    assert run["status"] == "complete"
    assert validate_run(run["path"]) == []
    ratios = sorted(run["ratios"], key=lambda r: -r["hot_pct"])
    assert [r["hot_pct"] for r in ratios] == [100, 90, 80, 70, 60, 50, 30, 10, 0]
    hit = [r["io"]["hit_ratio"] for r in ratios]
    assert all(h is not None for h in hit), hit
    # the data set (~100 MB) is larger than shared_buffers (32 MB): cold keys miss it
    assert hit[0] > 0.99 and hit[-1] < hit[0] - 0.1, hit
    assert all(a >= b - 0.01 for a, b in zip(hit, hit[1:], strict=False)), hit
    n = run_cmd.DEMO_REQUESTS
    assert all(r["errors"] == 0 and r["requests"] == n for r in ratios)
    assert all(
        r["io"]["sampled_requests"] == n // run_cmd.DEMO_IO_SAMPLE_EVERY
        and r["io"]["blocks_per_request"] > 30
        for r in ratios
    )
    # the default demo measures enough requests for a closed p99 interval at every ratio
    assert all(None not in r["latency_ci_ms"]["p99"] for r in ratios)
