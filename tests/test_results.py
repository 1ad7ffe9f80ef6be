"""Run directories without a server: writer, validator, loader of partial runs, compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from featbench.backends.base import IOSample
from featbench.errors import FeatbenchError
from featbench.events import (
    IOSampleRecord,
    LevelFinished,
    LevelStarted,
    RequestBatch,
    RunEvents,
    RunFinished,
    SectionInfo,
)
from featbench.measure.stats import StatsCollector
from featbench.results import rundir
from featbench.results.compare import compare_runs
from featbench.results.reader import read_run
from featbench.results.validate import validate_run
from featbench.results.writer import ResultsWriter
from featbench.runner.benchmark import RunConfig
from featbench.workload.keys import build_keyset
from run_helpers import tiny_spec

SPEC = tiny_spec(2)


def synthetic_run(
    root: Path,
    run_id: str,
    *,
    shift: float = 0.0,
    levels: tuple[int, ...] = (100, 50, 0),
    n: int = 300,
    seed: int = 0,
    finish: bool = True,
    stop_at: int | None = None,
) -> Path:
    """Drive the real writer and statistics with synthetic events (cold entity = slower)."""
    rng = np.random.default_rng(seed)
    path = rundir.prepare_run_dir(root, run_id, overwrite=False)
    ks = build_keyset(
        {e: [f"{e}-{i}" for i in range(5000)] for e in SPEC.entity_names},
        SPEC,
        seed=1,
        hot_fraction=0.01,
        requested=5000,
    )
    pq.write_table(ks.to_arrow(), path / rundir.KEYS)
    manifest = rundir.new_manifest(
        run_id=run_id,
        started_at=rundir.utc_now(),
        config=RunConfig(ratios=levels, requests=n).to_dict(),
        spec_json=SPEC.model_dump(mode="json"),
        spec_fingerprint=SPEC.fingerprint(),
        seed=1,
        targets=[{"target": "postgresql://bench@db:5432/x", "backend": "postgres", "server": {}}],
    )
    events = RunEvents()
    stats = StatsCollector()
    events.listen(stats)
    writer = ResultsWriter(
        path, run_id=run_id, manifest=manifest, entities=ks.entities, stats=stats, flush_rows=128
    )
    events.listen(writer)
    info = SectionInfo(0, "postgresql://bench@db:5432/x", "postgres", "serial", ks.entities)
    events.section_start.fire(info)
    t = 0
    cold = 100
    done = 0
    for lvl in levels:
        events.level_start.fire(LevelStarted(0, lvl, n, 0))
        for i in range(n):
            hot = tuple(bool(x) for x in rng.random(2) < lvl / 100)
            keys = []
            for j, h in enumerate(hot):
                if h:
                    keys.append(ks.keys[ks.entities[j]][0])
                else:
                    keys.append(ks.keys[ks.entities[j]][cold])
                    cold += 1
            ent = tuple(
                int(1e5 * (1.0 + shift + (0 if h else 2)) * rng.lognormal(0, 0.2)) for h in hot
            )
            lat = sum(ent) + 20_000
            row = {"seq": i, "start_ns": t, "end_ns": t + lat, "keys": tuple(keys), "hot": hot,
                   "rows_found": 3, "lookups": 4, "entity_ns": ent}  # fmt: skip
            events.requests.fire(RequestBatch.from_rows(0, lvl, [row], ks.entities))
            t += lat + 1000
            if i % 50 == 49:
                events.io_sample.fire(
                    IOSampleRecord(0, lvl, i, tuple(keys), hot, IOSample(8, 1, {"a": (8, 1)}))
                )
            done += 1
            if stop_at is not None and done == stop_at:
                writer._flush()  # what a killed process leaves: parts, manifest "running"
                return path
        events.level_end.fire(
            LevelFinished(0, lvl, {"heap_blks_hit": 90, "heap_blks_read": 100 - lvl}, True)
        )
    if finish:
        events.run_end.fire(RunFinished("complete"))
    return path


def test_synthetic_run_validates_and_reads_back(tmp_path: Path) -> None:
    p = synthetic_run(tmp_path, "20261126T081500Z-aaaaaa")
    assert validate_run(p) == []
    run = read_run(p)
    assert (
        run.status == "complete"
        and run.requests().num_rows == 900
        and run.io_samples().num_rows == 18
    )
    assert [r["hot_pct"] for r in run.summary["ratios"]] == [100, 50, 0]
    assert run.summary["ratios"][2]["io"]["hit_ratio"] == pytest.approx(0.9 / 1.9, rel=1e-5)
    h = run.histogram("0-postgres-serial__hot50.hlog")
    assert h.count == 300
    assert h.summary_ms() == run.summary["ratios"][1]["latency_ms"]


def test_a_killed_run_is_still_readable(tmp_path: Path) -> None:
    p = synthetic_run(tmp_path, "killed", stop_at=450)
    run = read_run(p)
    assert run.status == "running"
    assert run.requests().num_rows == 450  # from the parts
    assert validate_run(p) == []  # a running run may lack the consolidated files


def _corrupt(p: Path, fn: Any) -> list[str]:
    fn(p)
    return validate_run(p)


def _edit_json(name: str, change: Any) -> Any:
    def go(p: Path) -> None:
        doc = json.loads((p / name).read_text())
        change(doc)
        (p / name).write_text(json.dumps(doc))

    return go


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (_edit_json("manifest.json", lambda d: d.update(status="done")), "status 'done'"),
        (_edit_json("manifest.json", lambda d: d.pop("spec_fingerprint")), "missing 'spec_fingerprint'"),
        (_edit_json("manifest.json", lambda d: d["spec"].update(name="other")), "does not match the spec"),
        (
            _edit_json("manifest.json", lambda d: d["targets"][0].update(target="postgresql://u:pw@h/db")),
            "credentials",
        ),
        (_edit_json("summary.json", lambda d: d["sections"][0]["ratios"][0].pop("io")), "missing io"),
        (_edit_json("summary.json", lambda d: d["sections"][0]["ratios"][1].update(requests=299)), "says 299 requests"),
        (
            _edit_json("summary.json", lambda d: d["sections"][0]["ratios"][1]["latency_ms"].update(p99=0.0001)),
            "not non-decreasing",
        ),
        (_edit_json("summary.json", lambda d: d["sections"][0]["ratios"][0].update(extra=1)), "unexpected extra"),
        (_edit_json("summary.json", lambda d: d.update(ratios=[])), "first section"),
        (lambda p: (p / "summary.json").write_text((p / "summary.json").read_text().replace('"p50": ', '"p50": NaN, "x": ', 1)), "NaN"),
        (lambda p: (p / "histograms" / "0-postgres-serial__hot50.hlog").unlink(), "hot50.hlog: missing"),
        (lambda p: pq.write_table(pq.read_table(p / "requests.parquet").drop(["ent0_hot"]), p / "requests.parquet"), "missing column 'ent0_hot'"),
        (lambda p: (p / "keys.parquet").unlink(), "keys.parquet: missing"),
    ],
)  # fmt: skip
def test_validator_finds_departures_from_the_contract(
    tmp_path: Path, mutation: Any, expected: str
) -> None:
    p = synthetic_run(tmp_path, "r")
    problems = _corrupt(p, mutation)
    assert any(expected in x for x in problems), problems


def test_json_files_never_hold_nan(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        rundir.write_json(tmp_path / "x.json", {"a": [1.0, float("nan")]})
    assert not (tmp_path / "x.json").exists()


def test_run_dir_refusals(tmp_path: Path) -> None:
    synthetic_run(tmp_path, "r")
    with pytest.raises(FeatbenchError, match="already exists"):
        rundir.prepare_run_dir(tmp_path, "r", overwrite=False)
    rundir.prepare_run_dir(tmp_path, "r", overwrite=True)  # a run dir may be replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(FeatbenchError, match="not a featbench run directory"):
        rundir.prepare_run_dir(tmp_path, "mine", overwrite=True)
    assert (tmp_path / "mine" / "thesis.tex").exists()
    with pytest.raises(FeatbenchError, match="--run-id"):
        rundir.prepare_run_dir(tmp_path, "../escape", overwrite=False)
    assert rundir.new_run_id() < rundir.new_run_id().replace("Z-", "Z-~")  # sortable by time prefix


def test_load_run_errors(tmp_path: Path) -> None:
    with pytest.raises(FeatbenchError, match="not a directory"):
        read_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatbenchError, match="no manifest.json"):
        read_run(tmp_path / "empty")


def test_compare_marks_noise_and_real_changes(tmp_path: Path) -> None:
    a = read_run(synthetic_run(tmp_path, "a", seed=1))
    same = read_run(synthetic_run(tmp_path, "same", seed=2))
    slow = read_run(synthetic_run(tmp_path, "slow", seed=3, shift=0.5))
    d_same = compare_runs(a, same)
    d_slow = compare_runs(a, slow)
    assert d_same["same_spec"] and len(d_same["sections"][0]["ratios"]) == 3
    for r in d_slow["sections"][0]["ratios"]:
        assert r["p50"]["significant"] is True and r["p50"]["delta_ms"] > 0
    assert sum(r["p50"]["significant"] is False for r in d_same["sections"][0]["ratios"]) >= 2
    assert d_same["sections"][0]["ratios"][0]["hit_ratio"]["delta"] == 0.0
    json.dumps(d_slow, allow_nan=False)


def test_compare_refuses_other_specs_unless_forced(tmp_path: Path) -> None:
    a = read_run(synthetic_run(tmp_path, "a"))
    b = read_run(synthetic_run(tmp_path, "b"))
    b.manifest["spec_fingerprint"] = "0" * 64
    with pytest.raises(FeatbenchError, match="different workload specs"):
        compare_runs(a, b)
    doc = compare_runs(a, b, force=True)
    assert not doc["same_spec"] and any("different workload specs" in w for w in doc["warnings"])
