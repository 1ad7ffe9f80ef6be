"""`featbench run --engine spark`: Spark tasks drive shares; the driver writes one run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from featbench import api
from featbench.results.validate import validate_run
from featbench.runner.config import RunConfig
from run_helpers import tiny_spec
from test_load import do_load
from test_measure_stats import rank_percentile

pytestmark = [pytest.mark.integration, pytest.mark.spark]

SPEC = tiny_spec(entities=2, rows=300)
REQUESTS = 150


@pytest.mark.parametrize("rate", [None, 400.0], ids=["closed", "open"])
def test_a_spark_run_merges_into_one_run_directory(
    pg_dsn: str, pg_schema: str, spark_session: Any, tmp_path: Path, rate: float | None
) -> None:
    do_load(pg_dsn, pg_schema, SPEC, 1.0)
    config = RunConfig.from_options(
        ratios="100,0", requests=REQUESTS, warmup=20, n_keys=200, rate=rate, io_sample_every=50
    )
    run = api.run(
        [pg_dsn], config, spec=SPEC, schema=pg_schema, out=tmp_path, engine="spark", clients=2
    )
    assert run.status == "complete", run.manifest.get("error")
    assert validate_run(run.path) == []
    eng = run.manifest["engine"]
    assert eng["engine"] == "spark" and eng["clients"] == 2
    assert eng["master"].startswith("local") and set(eng["task_hosts"]) == {"0", "1"}
    assert run.manifest["config"]["concurrency"] == 2
    for entry in run.manifest["load"]:
        assert entry["workers"] == "spark tasks" and set(entry["hosts"]) == {"0", "1"}
    req = run.requests()
    for r in run.summary["ratios"]:
        t = req.filter(pc.equal(req.column("hot_pct"), float(r["hot_pct"])))
        # every planned request, once, from both clients
        assert r["requests"] == REQUESTS == t.num_rows
        assert sorted(t.column("seq").to_pylist()) == sorted(set(t.column("seq").to_pylist()))
        assert set(t.column("client").to_pylist()) == {0, 1}
        ok = t.filter(pc.is_null(t.column("error")))
        lat = ok.column("latency_us").to_numpy()
        for key, q in (("p50", 50), ("p95", 95), ("p99", 99), ("p999", 99.9)):
            exact = rank_percentile(lat, q)
            assert abs(r["latency_ms"][key] * 1000 - exact) <= exact * 1e-3 + 1, key
        assert r["io"]["sampled_requests"] > 0
        if rate is None:
            assert r["corrected_latency_ms"] is None
        else:
            assert r["corrected_latency_ms"]["p50"] >= r["latency_ms"]["p50"] * 0.999
