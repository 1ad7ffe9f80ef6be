"""What `featbench cost` prints: the inputs with their basis, the costs, how each was
computed, the break-even rates and skew, and the prices with their sources."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from featbench.measure.cost import HOURS_PER_MONTH, MONTH_DAYS
from featbench.report.charts import fmt, money
from featbench.report.costing import CostResult


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return f"{int(v):,}"
    return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) >= 0.001 else f"{v:.3g}"


def print_cost(result: CostResult, out: Console | None = None) -> None:
    """Every figure with its basis: measured, computed, given or default."""
    out = out or Console()
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
                f"  {o.label} {x.label}: {money(x.per_day)}/day = {x.formula}",
                highlight=False,
                markup=False,
            )
        for n in o.notes:
            out.print(f"  [dim]{escape(o.label)}: {escape(str(n))}[/]", highlight=False)
    out.print("[bold]break-even request rate[/] (computed)")
    for b in result.break_even_rates:
        out.print(f"  {b.a} vs {b.b}: {b.note}", highlight=False, markup=False)
    if result.break_even_skew:
        out.print("[bold]break-even skew[/] (computed)")
        for s in result.break_even_skew:
            tag = (
                " (from measured p99)"
                if s.basis == "measured"
                else " [yellow](from a given reference p99: an assumption)[/]"
            )
            out.print(
                escape(f"  {s.other}: {fmt(s.hot_pct, 1)}% hot") + tag + escape(f" — {s.note}"),
                highlight=False,
            )
    for n in result.notes:
        out.print(f"[yellow]note:[/] {escape(n)}", highlight=False)
    out.print(prices)
    out.print(f"[dim]prices: {escape(str(result.prices.origin))}[/]", highlight=False)
