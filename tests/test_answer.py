"""The report's answer: headline figures per target and strategy and the one-sentence
verdict, from run directories written by the test factory (pure, no browser)."""

from __future__ import annotations

from pathlib import Path

from featbench.measure.cost import SkewCrossing
from featbench.report.answer import LevelFigures, SectionAnswer, answer, verdict
from featbench.report.build import make_report, run_cost
from featbench.report.costing import skew_crossings
from featbench.results.reader import read_runs
from runfactory import make_run


def lv(
    level: float, p99: float, ci: tuple[float | None, float | None] | None = None
) -> LevelFigures:
    return LevelFigures(level, "hot_pct", p99, ci, None, 400)


def sec(
    label: str, backend: str, hot_ms: float, cold_ms: float, **ci: tuple[float, float]
) -> SectionAnswer:
    return SectionAnswer(
        label,
        "t",
        backend,
        label.split(" · ")[1],
        lv(100, hot_ms, ci.get("hot")),
        lv(0, cold_ms, ci.get("cold")),
    )


def test_verdict_names_the_crossing_in_plain_words() -> None:
    pg, rd = (
        sec("postgres · union", "postgres", 0.4, 9.0),
        sec("redis · pipeline", "redis", 0.8, 0.9),
    )
    c = SkewCrossing(40.0, "postgres · union vs redis · pipeline", "measured", True, "…")
    v = verdict([pg, rd], [c])
    assert v == (
        "PostgreSQL (union)'s p99 stays under Redis (pipeline)'s above 40% hot traffic; "
        "below that, Redis (pipeline) is faster."
    )
    # curves that cross inside each other's intervals are called noise, not a winner
    for a, lo in ((pg, 1.0), (rd, 1.1)):
        a.levels = {h: lv(h, 1.0, (lo, lo + 1.0)) for h in (100.0, 50.0, 0.0)}
    assert verdict([pg, rd], [c]).startswith(
        "PostgreSQL (union) and Redis (pipeline) are within noise of each other: their p99 "
        "95% intervals overlap at 3 of 3 levels"
    )


def test_verdict_without_a_crossing() -> None:
    pg, rd = (
        sec("postgres · union", "postgres", 2.0, 9.0),
        sec("redis · pipeline", "redis", 0.8, 0.9),
    )
    v = verdict(
        [pg, rd], [SkewCrossing(None, "postgres · union vs redis · pipeline", "measured", None, "")]
    )
    assert v.startswith("Redis (pipeline) has the lowest p99 at both ends")
    assert "0.90 ms against PostgreSQL (union)'s 9.00 ms at 0% hot" in v
    # the best store changes between the ends
    a, b = sec("postgres · union", "postgres", 0.5, 9.0), sec("redis · pipeline", "redis", 0.8, 0.9)
    assert "PostgreSQL (union) has the lowest p99 with hot traffic" in verdict([a, b], [])
    assert "Redis (pipeline) with cold traffic" in verdict([a, b], [])


def test_verdict_flags_noise_and_partial_runs() -> None:
    a = sec("postgres · union", "postgres", 1.0, 5.0, cold=(4.5, 5.6))
    b = sec("postgres · pipeline", "postgres", 1.2, 5.2, cold=(4.9, 5.9))
    assert "within noise" in verdict([a, b], [])
    one = verdict([a], [], partial=["interrupted"])
    assert one.startswith("From an interrupted run: PostgreSQL (union): p99 1.00 ms at 100% hot")
    assert "5.0× slower" in one


def test_answer_of_a_multi_store_run(tmp_path: Path) -> None:
    d = make_run(tmp_path, strategies=("union",), requests=300,
                 extra_targets=(("redis", "redis://127.0.0.1:6379/0", ("pipeline",)),))  # fmt: skip
    runs = read_runs([d])
    ans = answer(runs, skew_crossings(runs, None), measured_cost=run_cost(runs[0], None, None))
    pg, rd = ans.sections
    assert (pg.hottest.level, pg.coldest.level) == (100.0, 0.0)
    summary_pg = runs[0].sections[0].levels
    by = {float(r["hot_pct"]): r for r in summary_pg}
    assert pg.hottest.p99_ms == by[100.0]["latency_ms"]["p99"]
    assert pg.coldest.hit_ratio == by[0.0]["io"]["hit_ratio"]
    assert rd.hottest.hit_ratio is None  # Redis exposes no buffer counters: none, not 0
    assert pg.break_even and pg.break_even == rd.break_even  # the one crossing, seen from both
    assert pg.cost_per_million and rd.cost_per_million and rd.cost_label.startswith("ElastiCache")
    assert "req/s (the rate the run sustained)" in (ans.cost_basis or "")
    assert ans.verdict.endswith(".")
    res = make_report([d])
    assert ans.verdict.replace("'", "&#x27;") in res.html.read_text()
    assert res.as_dict()["answer"]["verdict"] == ans.verdict  # `report --json` has it too


def test_failed_run_has_no_cost_and_says_so(tmp_path: Path) -> None:
    d = make_run(tmp_path, status="failed", ratios=(100, 0), requests=60)
    runs = read_runs([d])
    ans = answer(runs, [], measured_cost=run_cost(runs[0], None, None))
    assert ans.sections[0].cost_per_million is None
    assert "failed" in (ans.sections[0].cost_why or "")
    assert ans.verdict.startswith("From a failed run (its figures describe failed requests")
