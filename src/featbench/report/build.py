"""One call from run directories to a written report (HTML, optional PNGs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featbench.errors import FeatbenchError
from featbench.measure.prices import load_prices
from featbench.report.answer import Answer, answer
from featbench.report.charts import Chart, build_charts
from featbench.report.costing import (
    CostResult,
    check_pricing,
    compute_costs,
    headline_qps,
    resolve_inputs,
    skew_crossings,
)
from featbench.report.html import render_html, write_html
from featbench.results.reader import Run, read_runs
from featbench.spec import WorkloadSpec, load_spec


@dataclass
class ReportResult:
    html: Path
    pngs: list[Path]
    charts: list[Chart]
    runs: list[Run]
    cost: CostResult | None = None
    notes: list[str] = field(default_factory=list)
    answer: Answer | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": str(self.html),
            "png": [str(p) for p in self.pngs],
            "charts": [c.id for c in self.charts],
            "runs": [
                {"run_id": r.run_id, "status": r.status, "path": str(r.path)} for r in self.runs
            ],
            "cost": self.cost.as_dict() if self.cost is not None else None,
            "notes": list(self.notes),
            "answer": self.answer.as_dict() if self.answer is not None else None,
        }


def cost_for_runs(
    runs: Sequence[Run | str | Path],
    *,
    qps: float,
    prices_file: str | Path | None = None,
    reference_p99: float | None = None,
    spec: WorkloadSpec | str | None = None,
    **inputs: Any,
) -> CostResult:
    """Price the workload of `runs` (or of the given sizes and spec) at `qps`; inputs left
    None take the runs' measured figures, else estimates, else defaults."""
    check_pricing(qps, reference_p99, inputs.get("consistency"))
    read = read_runs(runs) if runs else []
    prices = load_prices(prices_file)
    wspec = load_spec(spec) if isinstance(spec, str) else spec
    resolved = resolve_inputs(read, qps=qps, spec=wspec, **inputs)
    return compute_costs(resolved, prices, runs=read, reference_p99=reference_p99)


def run_cost(r: Run, qps: float | None, prices_file: str | Path | None) -> dict[str, Any]:
    """Cost per million requests at the given rate, else at the rate the run sustained."""

    cost: dict[str, Any] = {"qps": None, "qps_source": None, "per_million_requests": None}
    if r.status == "failed":
        # a failed run's requests mostly errored: a cost per request from it would price
        # failures, so none is given
        return {**cost, "error": "the run failed: no cost per request is priced from it"}
    measured = headline_qps(r) if qps is None else (qps, "given")
    if not measured or not measured[0]:
        return {**cost, "error": "no request rate: the run has no per-request log; give --qps"}
    cost.update(qps=measured[0], qps_source=measured[1], error=None)
    try:
        c = cost_for_runs([r], qps=measured[0], prices_file=prices_file)
        cost["per_million_requests"] = {o.key: o.per_million_requests for o in c.options}
        cost["labels"] = {o.key: o.label for o in c.options}
    except FeatbenchError as e:
        cost["error"] = str(e)
    return cost


def make_report(
    run_dirs: Sequence[Run | str | Path],
    *,
    out: str | Path | None = None,
    png_dir: str | Path | None = None,
    qps: float | None = None,
    prices_file: str | Path | None = None,
    reference_p99: float | None = None,
    cost_inputs: dict[str, Any] | None = None,
) -> ReportResult:
    """Read runs, price them (when a request rate is given), draw, write.

    Everything that can fail on user input (bad run dir, bad prices, bad rate) fails
    before anything is written.
    """
    check_pricing(qps, reference_p99)
    runs = read_runs(run_dirs)
    cost = None
    notes: list[str] = []
    failed = [r.run_id for r in runs if r.status == "failed"]
    if qps is not None and failed:
        notes.append(
            f"no cost table: run {', '.join(failed)} failed, and no cost is priced from it"
        )
    elif qps is not None:
        cost = cost_for_runs(
            runs,
            qps=qps,
            prices_file=prices_file,
            reference_p99=reference_p99,
            **(cost_inputs or {}),
        )
    elif prices_file is not None:
        load_prices(prices_file)  # validate even when unused, so a typo is not silently ignored
    charts = build_charts(runs, cost=cost, reference_p99=reference_p99)
    crossings = cost.break_even_skew if cost is not None else skew_crossings(runs, reference_p99)
    measured = None if cost is not None else run_cost(runs[0], None, prices_file)
    ans = answer(runs, crossings, cost=cost, measured_cost=measured)
    html_path = Path(out) if out is not None else runs[0].path / "report.html"
    write_html(html_path, render_html(runs, charts, cost=cost, answer=ans))
    pngs: list[Path] = []
    if png_dir is not None:
        from featbench.report.png import write_pngs

        pngs = write_pngs(charts, Path(png_dir))
    return ReportResult(
        html=html_path, pngs=pngs, charts=charts, runs=runs, cost=cost, notes=notes, answer=ans
    )
