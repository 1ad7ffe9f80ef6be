"""The headline printed at the end of `run`, `demo` and by `show`: p99 per ratio with its
95% interval, the measured hit ratio, cost per million requests and where the report is;
and the table `compare` prints.

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
from featbench.measure.percentiles import LEGEND, mark
from featbench.report.charts import fmt, fmt_ci, money
from featbench.results.reader import Run, read_run


def headline_data(
    run: Run | str | Path, *, qps: float | None = None, prices_file: str | Path | None = None
) -> dict[str, Any]:
    """The headline as plain data (also what `--json` callers can embed)."""
    from featbench.report.build import cost_for_runs
    from featbench.report.costing import headline_qps

    r = run if isinstance(run, Run) else read_run(run)
    sections = []
    for s in r.sections:
        sections.append(
            {
                "label": s.label or f"{s.backend} · {s.strategy}",
                "target": s.target,
                "x": s.level_key,
                "ratios": [
                    {
                        s.level_key: ratio.get(s.level_key),
                        "p99_ms": (ratio.get("latency_ms") or {}).get("p99"),
                        # null: a run written before summaries held intervals
                        "p99_ci_ms": (ratio.get("latency_ci_ms") or {}).get("p99"),
                        "hit_ratio": (ratio.get("io") or {}).get("hit_ratio"),
                        "requests": ratio.get("requests"),
                        "errors": ratio.get("errors"),
                    }
                    for ratio in sorted(s.levels, key=lambda x: -float(x[s.level_key]))
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


def _report(r: Run) -> str | None:
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
    marked = False
    for s in data["sections"]:
        t = Table(title=f"{title} — {s['label']}", title_justify="left")
        t.add_column("hot %" if s["x"] == "hot_pct" else "θ", justify="right")
        t.add_column("p99 ms", justify="right")
        t.add_column("p99 95% CI", justify="right")
        t.add_column("hit ratio", justify="right")
        t.add_column("requests", justify="right")
        t.add_column("errors", justify="right")
        for r in s["ratios"]:
            m = mark(r["p99_ms"], r.get("p99_ci_ms"))
            marked = marked or bool(m)
            t.add_row(
                fmt(r[s["x"]], 0) if s["x"] == "hot_pct" else fmt(r[s["x"]]),
                fmt(r["p99_ms"]) + (m or " "),
                fmt_ci(r.get("p99_ci_ms")),
                fmt(r["hit_ratio"], 3),
                fmt(r["requests"]),
                fmt(r["errors"]),
            )
        parts.append(t)
    if marked:
        parts.append(Text(LEGEND))
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
    run: Run | str | Path,
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
    data["path"] = str(run.path if isinstance(run, Run) else run)
    (console or default_console).print(render_headline(data, report_path=report_path))
    return data


# -- compare ---------------------------------------------------------------------------------
def _verdict(d: dict[str, Any]) -> str:
    pct = fmt(d["delta_pct"], 1)
    pct = pct if pct == "—" or pct.startswith("-") else f"+{pct}"
    pct += "%" if d["delta_pct"] is not None else ""
    if d["significant"] is None:
        return f"{pct} (?)"
    if d["significant"]:
        return f"[bold]{pct}[/]"
    return f"[dim]{pct} (noise)[/]"


COMPARE_FOOTNOTE = (
    "bold: significant, the two runs' 95% intervals of that percentile do not overlap; "
    "(noise): they overlap; (?): undecidable, they overlap and one is open (too few "
    "requests for that percentile) or a run records no interval. Intervals are "
    "distribution-free, from order statistics (summary.json latency_ci_ms; in full in "
    "`compare --json`)."
)


def render_compare(doc: dict[str, Any], stats: tuple[str, ...] = ("p50", "p95", "p99")) -> Group:
    """`featbench compare`: per section, one row per ratio, A → B and the verdict per
    percentile (the JSON document of results.compare.compare_runs)."""
    parts: list[Any] = [Text(f"note: {w}", style="yellow") for w in doc["warnings"]]
    for sec in doc["sections"]:
        t = Table(
            title=f"{doc['a']['run_id']} → {doc['b']['run_id']}  "
            f"{sec['a']['backend']} · {sec['a']['strategy']}",
            title_justify="left",
        )
        key = "theta" if sec["ratios"] and "theta" in sec["ratios"][0] else "hot_pct"
        t.add_column("θ" if key == "theta" else "hot %", justify="right")
        for stat in stats:
            t.add_column(f"{stat} A→B ms", justify="right")
            t.add_column(f"Δ{stat}", justify="right")
        t.add_column("hit ratio A→B", justify="right")
        for r in sec["ratios"]:
            cells = [fmt(r[key], 0) if key == "hot_pct" else fmt(r[key])]
            for stat in stats:
                d = r[stat]
                cells += [f"{fmt(d['a_ms'])} → {fmt(d['b_ms'])}", _verdict(d)]
            h = r["hit_ratio"]
            cells.append(f"{fmt(h['a'], 4)} → {fmt(h['b'], 4)}")
            t.add_row(*cells)
        parts.append(t)
    parts.append(Text(COMPARE_FOOTNOTE))
    return Group(*parts)
