"""The answer a report opens with: per target and strategy, p99 (with its 95% interval)
and the measured hit ratio at the hottest and coldest level, the break-even skew against
the other stores in the run, the cost per million requests, and one sentence in plain
words. Pure over runs already read, and the cost result when there is one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from featbench.measure import cost as cm
from featbench.report.costing import CostResult
from featbench.results.reader import Run, Section

# which cost option prices which store
COST_OPTION = {"postgres": "lakebase", "redis": "elasticache", "dynamodb": "dynamodb_on_demand"}
STORE_NAMES = {"postgres": "PostgreSQL", "redis": "Redis", "dynamodb": "DynamoDB"}


@dataclass(frozen=True)
class LevelFigures:
    level: float
    level_key: str
    p99_ms: float | None
    p99_ci_ms: tuple[float | None, float | None] | None
    hit_ratio: float | None
    requests: int | None

    @property
    def where(self) -> str:
        return f"θ {self.level:g}" if self.level_key == "theta" else f"{self.level:g}% hot"


@dataclass
class SectionAnswer:
    label: str
    target: str
    backend: str
    strategy: str
    hottest: LevelFigures | None
    coldest: LevelFigures | None
    break_even: list[cm.SkewCrossing] = field(default_factory=list)
    cost_per_million: float | None = None
    cost_label: str | None = None
    cost_why: str | None = None  # why there is no cost figure
    levels: dict[float, LevelFigures] = field(default_factory=dict)  # every level, for noise

    @property
    def name(self) -> str:
        return f"{STORE_NAMES.get(self.backend, self.backend)} ({self.strategy})"


@dataclass
class Answer:
    sections: list[SectionAnswer]
    verdict: str
    cost_basis: str | None  # e.g. "at 2,000 req/s (given)"

    def as_dict(self) -> dict[str, Any]:
        def lv(x: LevelFigures | None) -> dict[str, Any] | None:
            if x is None:
                return None
            return {
                x.level_key: x.level,
                "p99_ms": x.p99_ms,
                "p99_ci_ms": list(x.p99_ci_ms) if x.p99_ci_ms else None,
                "hit_ratio": x.hit_ratio,
            }

        return {
            "verdict": self.verdict,
            "cost_basis": self.cost_basis,
            "sections": [
                {
                    "label": s.label,
                    "target": s.target,
                    "hottest": lv(s.hottest),
                    "coldest": lv(s.coldest),
                    "break_even": [c.as_dict() for c in s.break_even],
                    "cost_per_million_requests": s.cost_per_million,
                }
                for s in self.sections
            ],
        }


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def level_figures(s: Section, r: dict[str, Any]) -> LevelFigures:
    ci = (r.get("latency_ci_ms") or {}).get("p99")
    return LevelFigures(
        level=float(r[s.level_key]),
        level_key=s.level_key,
        p99_ms=_num((r.get("latency_ms") or {}).get("p99")),
        p99_ci_ms=(_num(ci[0]), _num(ci[1])) if isinstance(ci, list) and len(ci) == 2 else None,
        hit_ratio=_num((r.get("io") or {}).get("hit_ratio")),
        requests=r.get("requests"),
    )


def _ends(s: Section) -> tuple[LevelFigures | None, LevelFigures | None]:
    """(hottest, coldest): 100% and 0% hot in a full sweep; for θ, the most and least skewed."""
    if not s.levels:
        return None, None
    rs = sorted(s.levels, key=lambda r: float(r[s.level_key]), reverse=True)
    return level_figures(s, rs[0]), level_figures(s, rs[-1]) if len(rs) > 1 else None


def answer(
    runs: Sequence[Run],
    crossings: Sequence[cm.SkewCrossing],
    *,
    cost: CostResult | None = None,
    measured_cost: dict[str, Any] | None = None,
) -> Answer:
    """The headline of `runs`. `cost` is the priced result (a rate was given); else
    `measured_cost` (build.run_cost: {"qps", "per_million_requests": {option: $}, "labels"}
    or {"error"}) prices each store at the rate the run sustained."""
    out = []
    for s in (s for r in runs for s in r.sections):
        hot, cold = _ends(s)
        a = SectionAnswer(s.label, s.target, s.backend, s.strategy, hot, cold)
        a.levels = {float(r[s.level_key]): level_figures(s, r) for r in s.levels}
        a.break_even = [c for c in crossings if _involves(c, s)]
        key = COST_OPTION.get(s.backend)
        if cost is not None and key is not None and cost.option(key) is not None:
            o = cost.option(key)
            a.cost_per_million, a.cost_label = o.per_million_requests, o.label  # type: ignore[union-attr]
        elif measured_cost and measured_cost.get("per_million_requests") and key:
            a.cost_per_million = measured_cost["per_million_requests"].get(key)
            a.cost_label = (measured_cost.get("labels") or {}).get(key)
        else:
            a.cost_why = (measured_cost or {}).get("error") or "no request rate to price"
        out.append(a)
    basis = None
    if cost is not None:
        qps = cost.input("qps")
        basis = (
            f"at {qps.value:,.0f} req/s ({qps.source})" if qps is not None else "at the given rate"
        )
    elif measured_cost and measured_cost.get("qps"):
        basis = f"at {measured_cost['qps']:,.0f} req/s (the rate the run sustained)"
    failed = [r for r in runs if r.partial]
    return Answer(out, verdict(out, crossings, partial=[r.status for r in failed]), basis)


def _involves(c: cm.SkewCrossing, s: Section) -> bool:
    """Whether a crossing (`<pg label> vs <other label>`) is about section `s`."""
    return c.other.startswith(f"{s.label} vs ") or c.other.endswith(f" vs {s.label}")


def _ms(v: float | None) -> str:
    return "—" if v is None else (f"{v:.2f}" if v < 100 else f"{v:,.0f}")


def _overlap(a: LevelFigures, b: LevelFigures) -> bool | None:
    """Whether two p99 intervals overlap (None: an interval is open or missing)."""
    if not a.p99_ci_ms or not b.p99_ci_ms or None in a.p99_ci_ms or None in b.p99_ci_ms:
        return None
    (alo, ahi), (blo, bhi) = a.p99_ci_ms, b.p99_ci_ms
    assert alo is not None and ahi is not None and blo is not None and bhi is not None
    return not (ahi < blo or bhi < alo)


def _overlaps(a: SectionAnswer | None, b: SectionAnswer | None) -> tuple[int, int] | None:
    """(levels where the two p99 intervals overlap, levels both measured with closed intervals)."""
    if a is None or b is None:
        return None
    both = [(a.levels[k], b.levels[k]) for k in a.levels.keys() & b.levels.keys()]
    known = [o for o in (_overlap(x, y) for x, y in both) if o is not None]
    return (sum(known), len(known)) if known else None


def _prefix(partial: Sequence[str]) -> str:
    if "failed" in partial:
        return "From a failed run (its figures describe failed requests, not the store): "
    if partial:
        return f"From {'an' if partial[0][0] in 'aeiou' else 'a'} {partial[0]} run: "
    return ""


def _crossing_sentence(sections: Sequence[SectionAnswer], c: cm.SkewCrossing) -> str:
    """Where PostgreSQL's p99 curve crosses another store's — or, when their intervals
    overlap at most levels, that the two are within noise of each other."""
    pg_label, other = c.other.split(" vs ", 1)
    pg = next((s for s in sections if s.label == pg_label), None)
    ot = next((s for s in sections if s.label == other), None)
    pg_name, ot_name = (pg.name if pg else pg_label), (ot.name if ot else other)
    noisy = _overlaps(pg, ot)
    if noisy is not None and noisy[0] * 2 >= noisy[1]:
        return (
            f"{pg_name} and {ot_name} are within noise of each other: their p99 95% intervals "
            f"overlap at {noisy[0]} of {noisy[1]} levels (the measured p99 curves first cross "
            f"at {c.hot_pct:.0f}% hot)."
        )
    side, other_side = ("above", "below") if c.pg_faster_above else ("below", "above")
    return (
        f"{pg_name}'s p99 stays under {ot_name}'s {side} {c.hot_pct:.0f}% hot traffic; "
        f"{other_side} that, {ot_name} is faster."
    )


def _p99(x: LevelFigures | None) -> float:
    """A level's p99 for ordering; a missing one sorts last."""
    return x.p99_ms if x is not None and x.p99_ms is not None else math.inf


def _one_section_sentence(s: SectionAnswer, hot: LevelFigures) -> str:
    cold = s.coldest
    if cold is None or cold.p99_ms is None or not hot.p99_ms:
        return f"{s.name}: p99 {_ms(hot.p99_ms)} ms at {hot.where}."
    times = cold.p99_ms / hot.p99_ms
    return (
        f"{s.name}: p99 {_ms(hot.p99_ms)} ms at {hot.where} and {_ms(cold.p99_ms)} ms at "
        f"{cold.where}: cold traffic makes the tail {times:.1f}× "
        f"{'slower' if times >= 1 else 'faster'}."
    )


def _comparison_sentence(ok: Sequence[SectionAnswer]) -> str:
    """Several sections, no crossing: who is fastest at the hot end and at the cold end."""
    by_hot = sorted(ok, key=lambda s: _p99(s.hottest))
    best_hot, runner = by_hot[0], by_hot[1]
    best_cold = min(ok, key=lambda s: _p99(s.coldest))
    if _p99(best_cold.coldest) == math.inf or best_cold is best_hot:
        mine = best_hot.coldest if best_hot.coldest is not None else best_hot.hottest
        theirs = runner.coldest if runner.coldest is not None else runner.hottest
        assert mine is not None and theirs is not None  # both in `ok`
        noise = " (the 95% intervals overlap: within noise there)" if _overlap(mine, theirs) else ""
        return (
            f"{best_hot.name} has the lowest p99 at both ends of the sweep: "
            f"{_ms(mine.p99_ms)} ms against {runner.name}'s {_ms(theirs.p99_ms)} ms at "
            f"{mine.where}{noise}."
        )
    hot, cold = best_hot.hottest, best_cold.coldest
    assert hot is not None and cold is not None
    return (
        f"{best_hot.name} has the lowest p99 with hot traffic ({_ms(hot.p99_ms)} ms at "
        f"{hot.where}), {best_cold.name} with cold traffic ({_ms(cold.p99_ms)} ms at "
        f"{cold.where})."
    )


def verdict(
    sections: Sequence[SectionAnswer], crossings: Sequence[cm.SkewCrossing], *, partial: Sequence[str] = ()
) -> str:  # fmt: skip
    """One sentence in plain words: who has the lower p99, and where that changes; said
    first when the run is not a complete result."""
    pre = _prefix(partial)
    measured = [c for c in crossings if c.basis == "measured" and c.hot_pct is not None]
    if measured:
        return pre + _crossing_sentence(sections, measured[0])
    ok = [s for s in sections if s.hottest is not None and s.hottest.p99_ms is not None]
    if not ok:
        return f"{pre}No level finished: there is no figure to compare."
    if len(ok) == 1:
        hot = ok[0].hottest
        assert hot is not None
        return pre + _one_section_sentence(ok[0], hot)
    return pre + _comparison_sentence(ok)
