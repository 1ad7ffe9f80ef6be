"""`featbench report` (HTML + PNG charts from run directories) and `featbench cost`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from featbench.cli.app import app
from featbench.cli.options import JsonOpt
from featbench.errors import FeatbenchError
from featbench.progress import console

QpsReportOpt = typer.Option(
    None, "--qps", help="Request rate (requests/s) to price: adds the cost table to the report."
)
PricesOpt = typer.Option(
    None,
    "--prices",
    help="TOML file of prices merged over the shipped defaults (see featbench/data/prices.toml).",
)
RefP99Opt = typer.Option(
    None,
    "--reference-p99",
    help="Another store's p99 in ms, to find the break-even skew when the runs hold PostgreSQL only (an assumption, flagged).",
    metavar="MS",
)


def _check_qps(qps: float | None) -> None:
    if qps is not None and not qps > 0:
        raise FeatbenchError(f"--qps must be > 0 (requests per second), got {qps:g}")


def _cost_inputs(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


@app.command()
def report(
    run_dirs: list[Path] = typer.Argument(
        ..., help="One or more run directories (results/<run_id>).", metavar="RUN_DIR..."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="HTML file to write (default: RUN_DIR/report.html of the first run).",
    ),
    png: Path = typer.Option(
        None,
        "--png",
        help="Also write every chart as a PNG into this directory (e.g. RUN_DIR/png).",
        metavar="DIR",
    ),
    qps: float = QpsReportOpt,
    prices: Path = PricesOpt,
    reference_p99: float = RefP99Opt,
    cu: float = typer.Option(
        None, "--cu", help="Lakebase capacity units for the cost table (default 1)."
    ),
    hours_per_day: float = typer.Option(
        None, "--hours-per-day", help="Hours of traffic a day for the cost table (default 24)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Write one self-contained HTML report (works offline) with every chart and the numbers behind it.

    Example: featbench report results/20261126T081500Z-3f2a1c --png results/20261126T081500Z-3f2a1c/png --qps 2000
    """
    from featbench.report.build import make_report

    _check_qps(qps)
    if reference_p99 is not None and not reference_p99 > 0:
        raise FeatbenchError(f"--reference-p99 must be > 0 ms, got {reference_p99:g}")
    res = make_report(
        list(run_dirs),
        out=out,
        png_dir=png,
        qps=qps,
        prices_file=prices,
        reference_p99=reference_p99,
        cost_inputs=_cost_inputs(cu=cu, hours_per_day=hours_per_day),
    )
    if as_json:
        typer.echo(json.dumps(res.as_dict(), indent=2, default=str))
        return
    for r in res.runs:
        if r.partial:
            console.print(
                f"[yellow]note:[/] run {r.run_id} is {r.status}: the report shows what it measured, marked as such"
            )
    for n in res.notes:
        console.print(f"[yellow]note:[/] {n}", highlight=False)
    console.print(f"wrote {res.html} ({len(res.charts)} charts)")
    if res.pngs:
        console.print(f"wrote {len(res.pngs)} PNGs to {res.pngs[0].parent}")


@app.command()
def cost(
    qps: float = typer.Option(
        ..., "--qps", help="Request rate to serve, requests/s (averaged over the hours of traffic)."
    ),
    run: list[Path] = typer.Option(
        None,
        "--run",
        help="Run directory to take sizes, rows and measured units from (repeatable).",
        metavar="RUN_DIR",
    ),
    hours_per_day: float = typer.Option(
        None,
        "--hours-per-day",
        help="Hours of traffic a day (default 24); Lakebase compute runs these hours.",
    ),
    cu: float = typer.Option(None, "--cu", help="Lakebase capacity units (default 1)."),
    prices: Path = PricesOpt,
    rows: float = typer.Option(
        None, "--rows", help="Rows in all tables (instead of a run or spec)."
    ),
    item_bytes: float = typer.Option(None, "--item-bytes", help="Mean item (row) size in bytes."),
    tables: int = typer.Option(None, "--tables", help="Tables (items) read per request."),
    storage_gb: float = typer.Option(
        None,
        "--storage-gb",
        help="PostgreSQL data + index size, GB (default: measured or estimated).",
    ),
    memory_per_row: float = typer.Option(
        None,
        "--memory-per-row",
        help="Redis memory per row, bytes (default: measured or estimated).",
    ),
    churn: float = typer.Option(
        None,
        "--churn",
        help="Fraction of the data changed per day, for PITR history (default 0.10).",
    ),
    pitr_days: float = typer.Option(
        None, "--pitr-days", help="Point-in-time-recovery retention, days (default 7)."
    ),
    consistency: str = typer.Option(
        None, "--consistency", help="DynamoDB reads: eventual (default) or strong."
    ),
    headroom: float = typer.Option(
        None, "--headroom", help="Provisioned capacity over the mean rate (default 1.5)."
    ),
    redis_replicas: int = typer.Option(
        None, "--redis-replicas", help="Replicas per Redis shard (default 0)."
    ),
    redis_overhead: float = typer.Option(
        None, "--redis-overhead", help="Redis memory overhead over the data (default 0.10)."
    ),
    spec: str = typer.Option(
        None,
        "--spec",
        help="Workload spec to size from when no run is given (default fraud-30).",
        metavar="FILE|NAME",
    ),
    scale: float = typer.Option(
        None,
        "--scale",
        help="Scale to size at (default: the run's, or 1); measured per-row sizes still apply.",
    ),
    reference_p99: float = RefP99Opt,
    as_json: bool = JsonOpt,
) -> None:
    """What Lakebase, DynamoDB (on-demand, provisioned) and ElastiCache cost for a workload:
    per day, per month, per million requests, with break-even rates and skew.

    Examples:
      featbench cost --run results/20261126T081500Z-3f2a1c --qps 2000
      featbench cost --qps 500 --cu 32 --storage-gb 1500 --churn 0.1 --pitr-days 7
      featbench cost --qps 1000 --rows 15.6e9 --item-bytes 300 --tables 30
    """
    from featbench.report.build import cost_for_runs
    from featbench.results.reader import read_runs
    from featbench.spec import load_spec

    _check_qps(qps)
    if consistency is not None and consistency not in ("eventual", "strong"):
        raise FeatbenchError(f"--consistency must be eventual or strong, got {consistency!r}")
    runs = read_runs(list(run)) if run else []
    result = cost_for_runs(
        runs,
        qps=qps,
        prices_file=prices,
        reference_p99=reference_p99,
        **_cost_inputs(
            hours_per_day=hours_per_day,
            cu=cu,
            rows=rows,
            item_bytes=item_bytes,
            tables=tables,
            storage_gb=storage_gb,
            memory_per_row=memory_per_row,
            churn=churn,
            pitr_days=pitr_days,
            consistency=consistency,
            headroom=headroom,
            redis_replicas=redis_replicas,
            redis_overhead=redis_overhead,
            scale=scale,
            spec=load_spec(spec) if spec is not None else None,
        ),
    )
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, default=str))
        return
    _print_cost(result)


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return f"{int(v):,}"
    return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) >= 0.001 else f"{v:.3g}"


def _print_cost(result: Any) -> None:
    """Every figure with its basis: measured, computed, given or default."""
    from featbench.measure.cost import HOURS_PER_MONTH, MONTH_DAYS
    from featbench.report.charts import fmt, money

    out = Console()
    inp = RichTable(title="inputs", title_justify="left", box=None, pad_edge=False)
    inp.add_column("input", style="bold")
    inp.add_column("value", justify="right")
    inp.add_column("unit")
    inp.add_column("basis")
    inp.add_column("source", overflow="fold", style="dim")
    for i in result.inputs:
        inp.add_row(
            i.name, _value(i.value), i.unit, i.basis, "" if i.source == i.basis else i.source
        )
    res = RichTable(
        title=f"cost in {result.prices.currency}, computed from the inputs and prices "
        f"(month = {HOURS_PER_MONTH:g} h = {MONTH_DAYS:.2f} days)",
        title_justify="left",
    )
    for c in ("option", "per day", "per month", "per M requests"):
        res.add_column(c, justify="left" if c == "option" else "right")
    for o in result.options:
        res.add_row(o.label, money(o.per_day), money(o.per_month), money(o.per_million_requests))
    prices = RichTable(title="prices", title_justify="left", box=None, pad_edge=False)
    for c in ("price", "value", "unit", "basis", "source, date"):
        prices.add_column(c, justify="right" if c == "value" else "left")
    for k, p in result.prices.prices.items():
        prices.add_row(k, _value(p.value), p.unit, p.basis, f"{p.source}, {p.date}")
    for n in result.prices.nodes:
        prices.add_row(
            f"elasticache.nodes.{n.name}",
            _value(n.hourly),
            f"USD per node-hour, {n.memory_gib:g} GiB",
            n.basis,
            f"{n.source}, {n.date}",
        )
    out.print(inp)
    out.print(res)
    out.print("[bold]how[/] (computed)")
    for o in result.options:
        for x in o.lines:
            out.print(
                f"  {o.label} {x.label}: {money(x.per_day)}/day = {x.formula}", highlight=False
            )
        for n in o.notes:
            out.print(f"  [dim]{o.label}: {n}[/]", highlight=False)
    out.print("[bold]break-even request rate[/] (computed)")
    for b in result.break_even_rates:
        out.print(f"  {b.a} vs {b.b}: {b.note}", highlight=False)
    if result.break_even_skew:
        out.print("[bold]break-even skew[/] (computed)")
        for s in result.break_even_skew:
            tag = (
                " (from measured p99)"
                if s.basis == "measured"
                else " [yellow](from a given reference p99: an assumption)[/]"
            )
            out.print(f"  {s.other}: {fmt(s.hot_pct, 1)}% hot{tag} — {s.note}", highlight=False)
    for n in result.notes:
        out.print(f"[yellow]note:[/] {n}", highlight=False)
    out.print(prices)
    out.print(f"[dim]prices: {result.prices.origin}[/]", highlight=False)
