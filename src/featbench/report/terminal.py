"""What `run`, `show`, `demo` and `compare` print on a terminal.

For a run: a first line when it is not complete, the tables (report/tables.py), the
notes, a legend, then the headline — p99 per level with its 95% interval, the measured
hit ratio, cost per million requests and where the report is. `--json` prints the run's
summary instead. The headline never fails the calling command: anything it cannot
compute is shown as "—" with the reason. And the table `compare` prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from featbench.errors import FeatbenchError
from featbench.measure.percentiles import LEGEND, mark
from featbench.progress import console as stderr_console
from featbench.report.build import ReportResult, run_cost
from featbench.report.charts import fmt, fmt_ci, money
from featbench.report.tables import (
    corrected_table,
    has_marks,
    level_tables,
    side_by_side_table,
    thresholds_table,
)
from featbench.results.reader import Run, read_run


def wide_console() -> Console:
    """Stdout console; when it is not a terminal, wide enough that tables are not squeezed."""
    return Console() if sys.stdout.isatty() else Console(width=200)


# -- a run -----------------------------------------------------------------------------
def first_request_error(run: Run) -> str | None:
    """The error text of the first failed measured request (requests.parquet), if any."""
    try:
        t = run.requests(("error",))
    except FeatbenchError:  # an unreadable log only loses the detail
        return None
    if "error" not in t.column_names:
        return None
    import pyarrow.compute as pc

    errs = pc.drop_null(t.column("error"))
    return str(errs[0].as_py())[:200] if len(errs) else None


STATUS_WORDS = {
    "failed": "its figures describe failed requests, not the store; no cost is priced from it",
    "interrupted": "stopped before the end; the ratios it finished are kept",
    "running": "not finished yet (its process is alive); the ratios it finished are shown",
    "crashed": "its process died before the end; the ratios it finished are shown",
}


def status_line(run: Run) -> str | None:
    """The first line printed for a run that is not complete (rich markup), else None."""
    if run.status == "complete":
        return None
    tail = f": {run.error}" if run.error else ""
    if run.status == "crashed":
        tail = f": {run.crash_reason}"
    if run.status == "failed":
        first = first_request_error(run)
        tail += f"; first error: {first}" if first else ""
    return f"[bold red]run {run.run_id} {run.status.upper()}[/]{escape(tail)} — {STATUS_WORDS[run.status]}"


def print_run(run: Run, out: Console | None = None, *, notes: bool = True) -> None:
    """The tables of a run; `notes=False` when its warnings were already shown live."""
    out = out or wide_console()
    first = status_line(run)
    if first is not None:  # a run that is not a result says so before any number
        out.print(first, highlight=False)
    # one table per run: a section's levels, or several sections side by side
    for t in level_tables(run) if len(run.sections) < 2 else []:
        out.print(t)
    for extra in (side_by_side_table(run), corrected_table(run), thresholds_table(run)):
        if extra is not None:
            out.print(extra)
    for w in run.warnings if notes else []:
        out.print(f"[yellow]note:[/] {escape(w)}", highlight=False)
    out.print(
        f"status: {run.status}   run directory: {run.path}\n"
        "plan hot = the original benchmark's cache score (share of hot entities); hit ratio = "
        "shared-buffer hits / (hits + reads) measured by the server; blk/req from EXPLAIN samples.\n"
        "p99 95% CI: distribution-free interval of p99 (order statistics)"
        + (f"; {LEGEND}." if has_marks(run) else "."),
        highlight=False,
    )


def run_json(run: Run) -> str:
    """`--json` of a run: where it is, its status (and error) and its summary."""
    doc: dict[str, Any] = {"path": str(run.path), "status": run.status}
    if run.error:
        doc["error"] = run.error
    return json.dumps({**doc, **run.summary}, indent=2)


def print_run_result(
    run: Run, as_json: bool, *, notes: bool = True, report_path: Path | None = None
) -> None:
    """What `run`, `show` and `demo` print for a run: JSON, or tables and the headline."""
    if as_json:
        print(run_json(run))
        return
    out = wide_console()
    print_run(run, out, notes=notes)
    print_headline_safe(run, out, report_path=report_path)


def print_headline_safe(run: Run, out: Console, *, report_path: Path | None = None) -> None:
    """The headline after a run's tables; one it cannot compute is a note, never a failed
    command (e.g. an unreadable request log: the tables stand)."""
    try:
        print_headline(run, console=out, report_path=report_path, tables=False)
    except FeatbenchError as e:
        out.print(f"[yellow]note:[/] no headline: {escape(str(e))}", highlight=False)


# -- the headline ----------------------------------------------------------------------
def headline_data(
    run: Run | str | Path, *, qps: float | None = None, prices_file: str | Path | None = None
) -> dict[str, Any]:
    """The headline as plain data (also what `--json` callers can embed)."""
    r = run if isinstance(run, Run) else read_run(run)
    sections = []
    for s in r.sections:
        key = s.level_key
        sections.append(
            {
                "label": s.label or f"{s.backend} · {s.strategy}",
                "target": s.target,
                "x": key,
                "ratios": [
                    {
                        key: level.get(key),
                        "p99_ms": (level.get("latency_ms") or {}).get("p99"),
                        # null: a run written before summaries held intervals
                        "p99_ci_ms": (level.get("latency_ci_ms") or {}).get("p99"),
                        "hit_ratio": (level.get("io") or {}).get("hit_ratio"),
                        "requests": level.get("requests"),
                        "errors": level.get("errors"),
                    }
                    for level in sorted(s.levels, key=lambda x: -float(x[key]))
                ],
            }
        )
    report = r.path / "report.html"
    return {
        "run_id": r.run_id,
        "status": r.status,
        "error": (r.error or "see manifest.json") if r.status == "failed" else r.error,
        "sections": sections,
        "thresholds": _threshold_counts(r.summary),
        "cost": run_cost(r, qps, prices_file),
        "report": str(report) if report.is_file() else None,
    }


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


def _section_summary(s: dict[str, Any]) -> str:
    """One line of a section for a run of several: p99 at its most and least hot levels."""
    rs = [r for r in s["ratios"] if r.get("p99_ms") is not None]
    if not rs:
        return f"{s['label']}: no level measured"
    unit = "% hot" if s["x"] == "hot_pct" else ""
    pre = "" if s["x"] == "hot_pct" else "θ "

    def one(r: dict[str, Any]) -> str:
        hit = f", hit ratio {fmt(r['hit_ratio'], 3)}" if r.get("hit_ratio") is not None else ""
        return f"{fmt(r['p99_ms'])} ms [{fmt_ci(r.get('p99_ci_ms'))}] at {pre}{fmt(r[s['x']], 0 if unit else 2)}{unit}{hit}"  # fmt: skip

    ends = [rs[0]] if len(rs) == 1 else [rs[0], rs[-1]]
    return f"{s['label']} ({s['target']}): p99 " + "; ".join(one(r) for r in ends)


def render_headline(
    data: dict[str, Any], *, report_path: str | Path | None = None, tables: bool = True
) -> Group:
    """The headline: a run that is not a result says so first; p99 per level (a table per
    section when `tables` and the run has one section, else one line per section: after
    `print_run`'s table a second table would only repeat it), thresholds, cost, report."""
    parts: list[Any] = []
    status = data["status"]
    title = f"run {data['run_id']}" + ("" if status == "complete" else f"  [{status.upper()}]")
    if status != "complete":  # first line: a run that is not a result says so
        why = f": {data['error']}" if data.get("error") else ""
        parts.append(Text(f"run {data['run_id']} {status.upper()}{why}", style="bold red"))
    marked = False
    as_lines = len(data["sections"]) > 1 or not tables
    for s in data["sections"] if as_lines else []:  # the run's table shows every level
        parts.append(Text(_section_summary(s), style="bold"))
    for s in data["sections"] if not as_lines else []:
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
    tables: bool = True,
) -> dict[str, Any]:
    """Print the headline (to stderr by default, like all featbench diagnostics) and
    return it as data."""
    data = headline_data(run, qps=qps, prices_file=prices_file)
    data["path"] = str(run.path if isinstance(run, Run) else run)
    (console or stderr_console).print(render_headline(data, report_path=report_path, tables=tables))
    return data


def print_report_result(res: ReportResult) -> None:
    """What `report` prints: notes on partial runs and missing costs, what it wrote."""
    for r in res.runs:
        if r.partial:
            stderr_console.print(
                f"[yellow]note:[/] run {r.run_id} is {r.status}: the report shows what it "
                "measured, marked as such"
            )
    for n in res.notes:
        stderr_console.print(f"[yellow]note:[/] {escape(n)}", highlight=False)
    stderr_console.print(f"wrote {res.html} ({len(res.charts)} charts)", markup=False)
    if res.pngs:
        stderr_console.print(f"wrote {len(res.pngs)} PNGs to {res.pngs[0].parent}", markup=False)


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
