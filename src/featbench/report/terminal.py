"""The headline printed at the end of `run`, `demo` and by `show`: p99 per ratio, the
measured hit ratio, cost per million requests and where the report is.

Usage from another command::

    from featbench.report.terminal import print_headline
    print_headline(run_dir)                      # prices at the run's own request rate
    print_headline(run_dir, qps=2000, report_path=path)

It never fails the calling command: anything it cannot compute is shown as "—"
with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from featbench.errors import FeatbenchError
from featbench.report.charts import fmt, money
from featbench.report.rundata import RunData, load_run


def headline_data(
    run: RunData | str | Path, *, qps: float | None = None, prices_file: str | Path | None = None
) -> dict[str, Any]:
    """The headline as plain data (also what `--json` callers can embed)."""
    from featbench.report.build import cost_for_runs
    from featbench.report.costing import headline_qps

    r = run if isinstance(run, RunData) else load_run(run)
    sections = []
    for s in r.sections:
        sections.append(
            {
                "label": s.label or f"{s.backend} · {s.strategy}",
                "target": s.target,
                "x": s.x_key,
                "ratios": [
                    {
                        s.x_key: ratio.get(s.x_key),
                        "p99_ms": (ratio.get("latency_ms") or {}).get("p99"),
                        "hit_ratio": (ratio.get("io") or {}).get("hit_ratio"),
                        "requests": ratio.get("requests"),
                        "errors": ratio.get("errors"),
                    }
                    for ratio in sorted(s.ratios, key=lambda x: -float(x[s.x_key]))
                ],
            }
        )
    if r.status == "failed":
        # a failed run's requests mostly errored: a cost per request from it would price
        # failures, so none is given
        reason = r.manifest.get("error") or "see manifest.json"
        return {
            "run_id": r.run_id,
            "status": r.status,
            "error": reason,
            "sections": sections,
            "thresholds": _threshold_counts(r.summary),
            "cost": {
                "qps": None,
                "qps_source": None,
                "per_million_requests": None,
                "error": "the run failed: no cost per request is priced from it",
            },
            "report": _report(r),
        }
    rate_source = "given"
    if qps is None:
        measured = headline_qps(r)
        if measured is not None:
            qps, rate_source = measured
    cost: dict[str, Any] = {
        "qps": qps,
        "qps_source": rate_source if qps else None,
        "per_million_requests": None,
        "error": None,
    }
    if qps:
        try:
            c = cost_for_runs([r], qps=qps, prices_file=prices_file)
            cost["per_million_requests"] = {o.key: o.per_million_requests for o in c.options}
            cost["labels"] = {o.key: o.label for o in c.options}
        except FeatbenchError as e:
            cost["error"] = str(e)
    else:
        cost["error"] = "no request rate: the run has no per-request log; give --qps"
    return {
        "run_id": r.run_id,
        "status": r.status,
        "error": r.manifest.get("error"),
        "sections": sections,
        "thresholds": _threshold_counts(r.summary),
        "cost": cost,
        "report": _report(r),
    }


def _report(r: RunData) -> str | None:
    report = r.path / "report.html"
    return str(report) if report.is_file() else None


def _threshold_counts(summary: dict[str, Any]) -> dict[str, Any] | None:
    rows = summary.get("thresholds") or []
    if not rows:
        return None
    failed = [x for x in rows if not x.get("passed")]
    return {
        "passed": len(rows) - len(failed),
        "failed": len(failed),
        "failed_expressions": sorted({x["expression"] for x in failed}),
    }


def render_headline(data: dict[str, Any], *, report_path: str | Path | None = None) -> Group:
    parts: list[Any] = []
    status = data["status"]
    title = f"run {data['run_id']}" + ("" if status == "complete" else f"  [{status.upper()}]")
    if status != "complete":  # first line: a run that is not a result says so
        why = f": {data['error']}" if data.get("error") else ""
        parts.append(Text(f"run {data['run_id']} {status.upper()}{why}", style="bold red"))
    for s in data["sections"]:
        t = Table(title=f"{title} — {s['label']}", title_justify="left")
        t.add_column("hot %" if s["x"] == "hot_pct" else "θ", justify="right")
        t.add_column("p99 ms", justify="right")
        t.add_column("hit ratio", justify="right")
        t.add_column("requests", justify="right")
        t.add_column("errors", justify="right")
        for r in s["ratios"]:
            t.add_row(
                fmt(r[s["x"]], 0) if s["x"] == "hot_pct" else fmt(r[s["x"]]),
                fmt(r["p99_ms"]),
                fmt(r["hit_ratio"], 3),
                fmt(r["requests"]),
                fmt(r["errors"]),
            )
        parts.append(t)
    th = data.get("thresholds")
    if th:
        failed = f": {', '.join(th['failed_expressions'])}" if th["failed"] else ""
        parts.append(
            Text(
                f"thresholds: {th['passed']} passed, {th['failed']} failed{failed}",
                style="bold red" if th["failed"] else "green",
            )
        )
    c = data["cost"]
    if c.get("per_million_requests"):
        items = "  ".join(
            f"{c['labels'][k]} {money(v)}" for k, v in c["per_million_requests"].items()
        )
        parts.append(
            Text(f"cost per million requests at {c['qps']:,.1f} req/s ({c['qps_source']}): {items}")
        )
    else:
        parts.append(Text(f"cost per million requests: — ({c.get('error')})"))
    rp = report_path or data.get("report")
    if rp:
        parts.append(Text(f"report: {rp}"))
    else:
        parts.append(
            Text(
                f"report: not written yet — featbench report {Path(data.get('path', '')) if data.get('path') else 'RUN_DIR'}"
            )
        )
    return Group(*parts)


def print_headline(
    run: RunData | str | Path,
    *,
    console: Console | None = None,
    qps: float | None = None,
    report_path: str | Path | None = None,
    prices_file: str | Path | None = None,
) -> dict[str, Any]:
    """Print the headline (to stderr by default, like all featbench diagnostics) and
    return it as data."""
    from featbench.progress import console as default_console

    data = headline_data(run, qps=qps, prices_file=prices_file)
    data["path"] = str(run.path if isinstance(run, RunData) else run)
    (console or default_console).print(render_headline(data, report_path=report_path))
    return data
