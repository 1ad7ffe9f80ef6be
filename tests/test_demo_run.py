"""`featbench demo` end to end on its own embedded server: cold keys must cost reads.

The hit ratio falls with hot traffic, and cold is cold: the embedded server's files are
dropped from the OS page cache before every ratio (recorded, measured with mincore), so
the 0%-hot p50 is above the 100%-hot p50. The factor is asserted loosely here (timing
belongs in the README, measured); the point is the direction, not the number.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from featbench.cli import main
from featbench.demo import DEMO_IO_SAMPLE_EVERY, DEMO_REQUESTS
from featbench.results.validate import validate_run

pytestmark = pytest.mark.slow  # ~1-2 min on 2 cores: a load, then 9 ratios of cold reads


def test_demo_runs_the_matrix_and_cold_keys_cost_reads(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    featbench_home: Path,
) -> None:
    from featbench.backends import embedded

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
    assert all(r["errors"] == 0 and r["requests"] == DEMO_REQUESTS for r in ratios)
    assert all(
        r["io"]["sampled_requests"] == DEMO_REQUESTS // DEMO_IO_SAMPLE_EVERY
        and r["io"]["blocks_per_request"] > 30
        for r in ratios
    )
    hit = [r["io"]["hit_ratio"] for r in ratios]
    assert all(h is not None for h in hit), hit
    # the data set is several times shared_buffers (32 MB): cold keys miss it
    assert hit[0] > 0.99 and hit[-1] < hit[0] - 0.1, hit
    # falls with hot traffic, though not strictly ratio by ratio: cold-first runs 0% hot
    # first, right after the load, and a neighbour ratio can sit a few points off
    assert max(hit[-3:]) < min(hit[:3]), hit

    hot, cold = ratios[0], ratios[-1]
    assert cold["io"]["buffer_reads"] > 10 * cold["requests"]  # measured reads at 0% hot
    assert cold["latency_ms"]["p50"] > 1.2 * hot["latency_ms"]["p50"], (hot, cold)
    # the same keys through the original benchmark's serial lookups and one round trip
    assert [s["strategy"] for s in run["sections"]] == ["serial", "function"]
    stories = doc["cold_vs_hot"]
    assert [st["strategy"] for st in stories] == ["serial", "function"]
    # priced at a rate that says it blends both strategies; the report says it was measured
    assert "its 2 target/strategy series together" in doc["headline"]["cost"]["qps_source"]
    html = Path(doc["report"]).read_text()
    assert "req/s (given)" not in html and "measured request rate" in html
    for st in stories:
        assert st["p50_x"] > 1.2 and st["os_cache_evicted"] is True, st
        assert st["reads_per_request"][1] > 10 and f"({st['strategy']})" in st["text"]

    manifest = json.loads((Path(run["path"]) / "manifest.json").read_text())
    target = manifest["targets"][0]
    assert target["cache"]["fits_shared_buffers"] is False
    assert target["cache"]["data_bytes"] > 3 * target["cache"]["shared_buffers_bytes"]
    assert not any("shared_buffers" in w for w in manifest["warnings"])
    ev = target["os_cache_eviction"]
    assert ev["enabled"] is True and len(ev["levels"]) == 9 * 2  # each ratio of each strategy
    assert all(r["files"] > 0 and r["resident_after_bytes"] == 0 for r in ev["levels"])
    n = DEMO_REQUESTS
    assert all(r["errors"] == 0 and r["requests"] == n for r in ratios)
    # the default demo measures enough requests for a closed p99 interval at every ratio
    assert all(None not in r["latency_ci_ms"]["p99"] for r in ratios)
