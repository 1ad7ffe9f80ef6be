"""`featbench run`, `show`, `get`, `compare`: thin wiring over runner/ and results/."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from featbench.cli.app import app
from featbench.cli.options import JsonOpt, SchemaOpt, SeedOpt, SpecOpt
from featbench.errors import FeatbenchError
from featbench.progress import console
from featbench.results.reader import Run, read_run
from featbench.spec import check_scale, load_spec
from featbench.workload.plan import RATIO_ORDERS, parse_ratios

TargetsOpt = typer.Option(
    ...,
    "--target",
    "-t",
    help="postgresql://user@host/db, redis://…, dynamodb://…, or embedded. Repeat to run several targets "
    "(keys are sampled from the first; every target must hold the same data).",
    metavar="URL",
)


RunScaleOpt = typer.Option(
    None,
    "--scale",
    help="Scale of the data in the target. Default: what featbench recorded when it loaded "
    "the data (else 1); a value that disagrees with that record is an error.",
    min=0.0,
)
ThresholdOpt = typer.Option(
    None,
    "--threshold",
    help="An SLO checked per ratio, as k6 does, e.g. 'p99<10ms', 'p99.9<50ms@hot=0', 'errors<0.1%' "
    "(repeatable; metrics p50 p95 p99 p99.9 max mean errors; filters @hot=, @theta=, "
    "@backend=, @strategy=). Any failed threshold: exit code 99, after everything is written.",
    metavar="EXPR",
)
MaxErrorRateOpt = typer.Option(
    0.01,
    "--max-error-rate",
    help="A ratio whose error rate (errors / requests) exceeds this fraction makes the run "
    "failed (exit code 1, no cost priced from it); 0.01 is 1%.",
    metavar="FRACTION",
)


# -- rendering (also used by `demo`) -------------------------------------------------------
def _f(x: Any, fmt: str = "{:.2f}") -> str:
    return "–" if x is None else fmt.format(x)


def _marked_column(pairs: list[tuple[float | None, Any]]) -> list[str]:
    """Percentiles of one column (value, interval) with their marks; when any is marked,
    the others get a space so the decimal points stay aligned."""
    from featbench.measure.percentiles import mark

    marks = [mark(v, ci) for v, ci in pairs]
    pad = " " if any(marks) else ""
    return [_f(v) + (m or pad) for (v, _), m in zip(pairs, marks, strict=True)]


def _has_marks(summary: dict[str, Any]) -> bool:
    from featbench.measure.percentiles import mark

    return any(
        mark((r.get("latency_ms") or {}).get(k), (r.get("latency_ci_ms") or {}).get(k))
        for s in summary.get("sections", [])
        for r in s["ratios"]
        for k in ("p50", "p95", "p99", "p999")
    )


def ratio_tables(run: Run | dict[str, Any]) -> list[RichTable]:
    """One rich table per section, one row per ratio, as the seed's results query showed.

    Compact enough for an 80-column terminal: request counts go in the title, an error
    column appears only when there were errors, hit ratio and blk/req only when the store
    has them; numbers are never truncated. Each percentile carries its interval's mark
    (measure/percentiles.py: ? open, ~ wider than ±25%); p99's 95% interval has a column
    (`show --json` has every percentile's).
    """
    from rich import box

    from featbench.report.charts import fmt_ci

    summary = run.summary if isinstance(run, Run) else run
    run_id = summary.get("run_id", "")
    tables = []
    for sec in summary.get("sections", []):
        ratios = sec["ratios"]
        counts = sorted({r["requests"] for r in ratios})
        n = (
            f"{counts[0]} requests/ratio"
            if len(counts) == 1
            else f"{counts[0]}–{counts[-1]} requests/ratio"
        )
        errors = any(r["errors"] for r in ratios)
        io_cols = any(r["io"]["hit_ratio"] is not None for r in ratios) or any(
            r["io"]["blocks_per_request"] is not None for r in ratios
        )
        title = (
            f"{run_id}  {sec['backend']} · {sec['strategy']} · {sec['target']}\n{n}, latency in ms"
        )
        t = RichTable(
            title=title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=(0, 0, 0, 0),
            pad_edge=False,
        )  # the box's one-space column separator is the only gap: fits 80 columns
        theta = any("theta" in r for r in ratios)
        heads = ["θ" if theta else "hot\n%"] + (["err"] if errors else [])
        heads += ["p50", "p95", "p99", "p99\n95% CI", "p99.9", "plan\nhot"]
        heads += ["hit\nratio", "blk/\nreq"] if io_cols else []
        heads += ["all\nhot %", "all\ncold %", "corr"]
        pcols = {
            k: _marked_column(
                [(r["latency_ms"][k], (r.get("latency_ci_ms") or {}).get(k)) for r in ratios]
            )
            for k in ("p50", "p95", "p99", "p999")
        }
        rows = []
        for i, r in enumerate(ratios):
            ci = r.get("latency_ci_ms") or {}
            io = r["io"]
            lvl = r.get("hot_pct", r.get("theta"))
            cells = [f"{lvl:g}"] + ([str(r["errors"])] if errors else [])
            cells += [pcols[k][i] for k in ("p50", "p95", "p99")]
            cells += [
                fmt_ci(ci.get("p99")) if r["latency_ms"]["p99"] is not None else "–",
                pcols["p999"][i],
                _f(r["planned_hot_fraction"], "{:.3f}"),
            ]
            if io_cols:
                cells += [
                    _f(io["hit_ratio"], "{:.3f}"),
                    _f(io["blocks_per_request"], "{:.1f}"),
                ]
            cells += [
                _f(r["fully_hot_pct"], "{:.0f}"),
                _f(r["fully_cold_pct"], "{:.0f}"),
                _f(r["latency_cache_corr"], "{:+.2f}"),
            ]
            rows.append(cells)
        for i, col in enumerate(heads):
            # never truncate a number: the column is at least as wide as its widest cell
            width = max([len(x) for x in col.split("\n")] + [len(row[i]) for row in rows])
            t.add_column(col, justify="right", no_wrap=True, min_width=width)
        for cells in rows:
            t.add_row(*cells)
        tables.append(t)
    return tables


def side_by_side_table(run: Run | dict[str, Any]) -> RichTable | None:
    """p50 / p99 of every section in one table, one row per ratio (runs of several targets
    or strategies), each with its interval's mark; None for a run of one section."""
    from rich import box

    summary = run.summary if isinstance(run, Run) else run
    secs = summary.get("sections", [])
    if len(secs) < 2:
        return None
    key = "theta" if any("theta" in r for s in secs for r in s["ratios"]) else "hot_pct"
    t = RichTable(
        title="side by side, same keys: p50 / p99 ms",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 1),
        pad_edge=False,
    )
    t.add_column("θ" if key == "theta" else "hot\n%", justify="right", no_wrap=True)
    for s in secs:
        t.add_column(f"{s['backend']}\n{s['strategy']}", justify="right", no_wrap=True)
    levels = sorted({r[key] for s in secs for r in s["ratios"]}, reverse=True)
    columns = []
    for s in secs:
        rs = [next((x for x in s["ratios"] if x[key] == lvl), None) for lvl in levels]
        p50, p99 = (
            _marked_column(
                [
                    (
                        ((r or {}).get("latency_ms") or {}).get(k),
                        ((r or {}).get("latency_ci_ms") or {}).get(k),
                    )
                    for r in rs
                ]
            )
            for k in ("p50", "p99")
        )
        columns.append([f"{a} / {b}" if r else "–" for r, a, b in zip(rs, p50, p99, strict=True)])
    for i, lvl in enumerate(levels):
        t.add_row(f"{lvl:g}", *(c[i] for c in columns))
    return t


def corrected_table(run: Run | dict[str, Any]) -> RichTable | None:
    """Open-loop runs: latency from the intended start (corrected for coordinated omission)
    beside service time, p50 / p99 per ratio and section; None in closed loop."""
    from rich import box

    summary = run.summary if isinstance(run, Run) else run
    secs = [
        s
        for s in summary.get("sections", [])
        if any(r.get("corrected_latency_ms") for r in s["ratios"])
    ]
    if not secs:
        return None
    key = "theta" if any("theta" in r for s in secs for r in s["ratios"]) else "hot_pct"
    t = RichTable(
        title="open loop, ms: service time (from the actual start) vs corrected latency "
        "(from the intended start)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 1),
        pad_edge=False,
    )
    t.add_column("section", no_wrap=True)
    t.add_column("θ" if key == "theta" else "hot\n%", justify="right", no_wrap=True)
    for col in ("service\np50", "corrected\np50", "service\np99", "corrected\np99"):
        t.add_column(col, justify="right", no_wrap=True)
    for s in secs:
        for r in s["ratios"]:
            lat = r.get("latency_ms") or {}
            cor = r.get("corrected_latency_ms") or {}
            t.add_row(
                f"{s['backend']} · {s['strategy']}",
                f"{r.get(key):g}",
                _f(lat.get("p50")),
                _f(cor.get("p50")),
                _f(lat.get("p99")),
                _f(cor.get("p99")),
            )
    return t


def thresholds_table(run: Run | dict[str, Any]) -> RichTable | None:
    """The run's --threshold results, one row per expression and ratio; None without any."""
    from rich import box

    summary = run.summary if isinstance(run, Run) else run
    rows = summary.get("thresholds") or []
    if not rows:
        return None
    failed = sum(1 for x in rows if not x.get("passed"))
    t = RichTable(
        title=f"thresholds: {len(rows) - failed} passed, {failed} failed",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 1),
        pad_edge=False,
    )
    for col in ("threshold", "section", "ratio", "value", ""):
        t.add_column(col, justify="left" if col in ("threshold", "section") else "right")
    for x in rows:
        where = f"{x['backend']} · {x['strategy']}" if x.get("backend") else "–"
        lvl = x.get("ratio")
        ratio = (
            "–"
            if lvl is None
            else (f"θ {lvl:g}" if x.get("level_key") == "theta" else f"{lvl:g}% hot")
        )
        value = "–" if x.get("value") is None else f"{x['value']:.3g} {x.get('unit', '')}"
        verdict = "[green]pass[/]" if x.get("passed") else "[bold red]FAIL[/]"
        t.add_row(Text(x["expression"]), where, ratio, value, verdict)
    return t


def first_request_error(run: Run) -> str | None:
    """The error text of the first failed measured request (requests.parquet), if any."""
    try:
        t = run.requests()
    except Exception:  # noqa: BLE001 - a missing or unreadable log only loses the detail
        return None
    if "error" not in t.column_names:
        return None
    import pyarrow.compute as pc

    errs = pc.drop_null(t.column("error"))
    return str(errs[0].as_py())[:200] if len(errs) else None


def status_line(run: Run) -> str | None:
    """The first line `show` and `run` print for a run that is not complete, else None."""
    if run.status == "complete":
        return None
    reason = run.manifest.get("error")
    tail = f": {reason}" if reason else ""
    if run.status == "failed":
        first = first_request_error(run)
        tail += f"; first error: {first}" if first else ""
    what = {
        "failed": "its figures describe failed requests, not the store; no cost is priced from it",
        "interrupted": "stopped before the end; the ratios it finished are kept",
    }.get(run.status, "")
    from rich.markup import escape  # error texts may hold [brackets]

    return f"[bold red]run {run.run_id} {run.status.upper()}[/]{escape(tail)}" + (
        f" — {what}" if what else ""
    )


def wide_console() -> Console:
    """Stdout console; when it is not a terminal, wide enough that tables are not squeezed."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def print_run(run: Run, out: Console | None = None, *, notes: bool = True) -> None:
    """The tables of a run; `notes=False` when its warnings were already shown live."""
    from rich.markup import escape

    out = out or wide_console()
    first = status_line(run)
    if first is not None:  # a failed run says so before any number
        out.print(first, highlight=False)
    for t in ratio_tables(run):
        out.print(t)
    for extra in (side_by_side_table(run), corrected_table(run), thresholds_table(run)):
        if extra is not None:
            out.print(extra)
    for w in run.manifest.get("warnings") or [] if notes else []:
        out.print(f"[yellow]note:[/] {escape(w)}", highlight=False)
    from featbench.measure.percentiles import LEGEND

    out.print(
        f"status: {run.status}   run directory: {run.path}\n"
        "plan hot = the seed's cache score (share of hot entities); hit ratio = shared-buffer "
        "hits / (hits + reads) measured by the server; blk/req from EXPLAIN samples.\n"
        "p99 95% CI: distribution-free interval of p99 (order statistics)"
        + (f"; {LEGEND}." if _has_marks(run.summary) else "."),
        highlight=False,
    )


def _thetas(theta: float | None, thetas: str | None) -> tuple[float, ...] | None:
    from featbench.workload.distributions import parse_thetas

    if theta is not None and thetas is not None:
        raise FeatbenchError("give --theta (one level) or --thetas (a sweep), not both")
    if thetas is not None:
        return tuple(parse_thetas(thetas))
    if theta is not None:
        return tuple(parse_thetas(repr(float(theta))))
    return None


BACKEND_KINDS = ("postgres", "redis", "dynamodb")


def parse_strategies(text: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """`serial,pipeline` (every target) and/or `redis=pipeline,dynamodb=batch` (per store kind).

    Returns (common strategies, per-kind strategies). A kind named only per-kind gets just
    those; targets of kinds not named use the common list (serial when it is empty).
    """
    common: list[str] = []
    per: dict[str, list[str]] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        if "=" in item:
            kind, strat = (x.strip() for x in item.split("=", 1))
            kind = "postgres" if kind in ("postgresql", "pg") else kind
            if kind not in BACKEND_KINDS or not strat:
                raise FeatbenchError(
                    f"--strategy {item!r}: use STORE=STRATEGY with STORE one of "
                    f"{', '.join(BACKEND_KINDS)} (e.g. redis=pipeline)"
                )
            per.setdefault(kind, []).append(strat)
        else:
            common.append(item)
    if not common and not per:
        raise FeatbenchError("--strategy is empty (use e.g. serial)")
    return tuple(common or ["serial"]), {k: tuple(v) for k, v in per.items()}


def check_run_limits(cfg: Any) -> None:
    """--threshold and --max-error-rate, checked before anything connects or runs."""
    from featbench.measure.status import check_max_error_rate
    from featbench.measure.thresholds import check_levels, parse_thresholds

    try:
        check_max_error_rate(cfg.max_error_rate)
    except ValueError as e:
        raise FeatbenchError(str(e)) from None
    parsed = parse_thresholds(cfg.thresholds)
    skewed = cfg.distribution != "hotcold"
    levels = (cfg.thetas or ()) if skewed else cfg.ratios
    if levels:
        check_levels(parsed, levels, "theta" if skewed else "hot_pct")


def run_exit_code(run: Run) -> int:
    """0 complete; 1 failed (or interrupted); 99 complete with a failed --threshold (k6's code)."""
    from featbench.measure.thresholds import failed_thresholds

    if run.status != "complete":
        return 1
    return 99 if failed_thresholds(run.summary) else 0


def execute_run(
    *,
    targets: list[str],
    spec: str | None,
    scale: float | None,
    schema: str,
    ratios: str,
    requests: int,
    warmup: int,
    keys: int,
    hot_fraction: float,
    io_sample_every: int,
    reset_stats: bool = False,
    seed: int,
    out: Path,
    run_id: str | None,
    overwrite: bool,
    keys_from: Path | None,
    strategy: str,
    ratio_order: str,
    live: bool = True,
    concurrency: int = 1,
    rate: float | None = None,
    arrival: str = "uniform",
    duration: float | None = None,
    warmup_seconds: float | None = None,
    interval: float = 1.0,
    distribution: str = "hotcold",
    theta: float | None = None,
    thetas: str | None = None,
    requests_by_backend: dict[str, tuple[int, int]] | None = None,
    thresholds: tuple[str, ...] = (),
    max_error_rate: float = 0.01,
    evict_os_cache: bool | None = None,
) -> Run:
    """Check inputs, open targets, run, and return the run directory (library entry for CLI/demo)."""
    from featbench.backends.base import open_backend
    from featbench.runner.benchmark import RunConfig, run_benchmark

    s = load_spec(spec)
    if scale is not None:
        check_scale(scale)
    common, per_kind = parse_strategies(strategy)
    cfg = RunConfig(
        ratios=parse_ratios(ratios),
        requests=requests,
        warmup=warmup,
        n_keys=keys,
        hot_fraction=hot_fraction,
        io_sample_every=io_sample_every,
        reset_stats=reset_stats,
        seed=seed,
        ratio_order=ratio_order,  # type: ignore[arg-type]
        strategies=common,
        strategy_by_backend=per_kind or None,
        requests_by_backend=requests_by_backend,
        scale=1.0 if scale is None else scale,
        distribution=distribution,
        concurrency=concurrency,
        rate=rate,
        arrival=arrival,
        duration_s=duration,
        warmup_s=warmup_seconds,
        interval_s=interval,
        thetas=_thetas(theta, thetas),
        thresholds=tuple(thresholds),
        max_error_rate=max_error_rate,
        evict_os_cache=evict_os_cache,
    )
    cfg.resolve()  # rate, duration, θ… checked before connecting anywhere
    levels = len(cfg.thetas) if cfg.distribution != "hotcold" and cfg.thetas else len(cfg.ratios)
    if ratio_order not in RATIO_ORDERS:
        raise FeatbenchError(f"--ratio-order must be one of {', '.join(RATIO_ORDERS)}")
    if not cfg.strategies:
        raise FeatbenchError("--strategy is empty (use e.g. serial)")
    cfg.plan_config(1).validate()  # cheap checks before connecting anywhere
    check_run_limits(cfg)
    if keys_from is not None and not (keys_from / "manifest.json").exists():
        raise FeatbenchError(
            f"--keys-from {keys_from}: not a featbench run directory (no manifest.json)"
        )
    from featbench.report.live import LiveDisplay

    backends = []
    try:
        for t in targets:
            backends.append(open_backend(t, schema=schema))
        from featbench.cli.dataset import resolve_loaded

        # the data's scale is what featbench recorded when it loaded it (the manifest says
        # so); an explicit --scale that disagrees is an error
        data = resolve_loaded(backends, s, scale=scale)
        cfg.scale, cfg.data_seed, cfg.scale_source = data.scale, data.seed, data.source
        n_sections = sum(len(cfg.strategies_for(b.kind)) for b in backends)
        # drawn by its own process: the measuring process only writes counters
        # warnings are shown as they come (stderr); level lines only when `live`
        disp = LiveDisplay(
            levels, n_sections, interactive=live and sys.stderr.isatty(), level_lines=live
        )
        try:
            outcome = run_benchmark(
                backends,
                s,
                cfg,
                out=out,
                run_id=run_id,
                overwrite=overwrite,
                keys_from=keys_from,
                listeners=[disp],
                live=disp.counters,
                timeseries_show=disp.line
                if live and (cfg.rate is not None or cfg.concurrency > 1)
                else None,
            )
        finally:
            disp.stop()
    finally:
        for b in backends:
            b.close()
    return read_run(outcome.path)


# -- the benchmark part of `featbench demo` ------------------------------------------------
DEMO_RATIOS = (100.0, 90.0, 80.0, 70.0, 60.0, 50.0, 30.0, 10.0, 0.0)
# Per ratio. p99's 95% interval is closed from 368 requests on (measure/percentiles.py
# min_n_closed); 400 keeps it closed with up to 32 failed requests per ratio.
DEMO_REQUESTS = 400
DEMO_WARMUP = 50  # the PostgreSQL-alone demo passes demo_cmd.PG_DEMO_WARMUP instead
# Enough cold keys for up to 1000 requests a ratio plus warm-ups (the plan needs ~5,100
# per entity then); 1% hot = 55 keys per entity, a hot set of at most ~27 MB of pages.
DEMO_KEYS = 5500
DEMO_IO_SAMPLE_EVERY = 25  # 16 EXPLAIN samples per ratio


def demo_benchmark(
    *,
    scale: float,
    seed: int,
    out: Path = Path("results"),
    schema: str = "featbench",
    live: bool = True,
    targets: list[str] | None = None,
    strategy: str = "serial",
    requests_by_backend: dict[str, tuple[int, int]] | None = None,
    thresholds: tuple[str, ...] = (),
    warmup: int | None = None,
) -> Run:
    """Run the full hot/cold matrix on the embedded server(s) the demo loaded (fraud-30)."""
    return execute_run(
        targets=targets or ["embedded"], spec=None, scale=scale, schema=schema,
        ratios=",".join(f"{r:g}" for r in DEMO_RATIOS), requests=DEMO_REQUESTS,
        warmup=DEMO_WARMUP if warmup is None else warmup,
        keys=DEMO_KEYS, hot_fraction=0.01, io_sample_every=DEMO_IO_SAMPLE_EVERY, seed=seed,
        out=out, run_id=None, overwrite=False, keys_from=None, strategy=strategy,
        ratio_order="cold-first", live=live, requests_by_backend=requests_by_backend,
        thresholds=thresholds,
    )  # fmt: skip


def print_headline_safe(
    run_dir: Path, *, report_path: Path | None = None, out: Console | None = None
) -> None:
    """The headline (p99 per ratio, hit ratio, cost per million requests, report path) on
    stdout after the tables; a run it cannot read is a note, never a failed command."""
    from featbench.report.terminal import print_headline

    out = out or wide_console()
    try:
        print_headline(run_dir, console=out, report_path=report_path)
    except FeatbenchError as e:
        out.print(f"[yellow]note:[/] no headline: {e}", highlight=False)


def hit_ratio_trend(run: Run) -> str:
    """One sentence on how the measured hit ratio moved with hot traffic (first section)."""
    rs = [r for r in run.summary.get("ratios", []) if r.get("io", {}).get("hit_ratio") is not None]
    if len(rs) < 2:
        return "hit ratio: not measured"
    rs = sorted(rs, key=lambda r: -r["hot_pct"])
    hi, lo = rs[0], rs[-1]
    falling = all(
        a["io"]["hit_ratio"] >= b["io"]["hit_ratio"] - 0.005
        for a, b in zip(rs, rs[1:], strict=False)
    )
    how = (
        "falls"
        if falling and hi["io"]["hit_ratio"] > lo["io"]["hit_ratio"]
        else "does not fall steadily"
    )
    return (
        f"measured hit ratio {how} with hot traffic: {hi['io']['hit_ratio']:.3f} at {hi['hot_pct']:g}% hot, "
        f"{lo['io']['hit_ratio']:.3f} at {lo['hot_pct']:g}% (p99 {_f(hi['latency_ms']['p99'])} -> "
        f"{_f(lo['latency_ms']['p99'])} ms)"
    )


@app.command()
def run(
    target: list[str] = TargetsOpt,
    spec: str = SpecOpt,
    scale: float = RunScaleOpt,
    schema: str = SchemaOpt,
    ratios: str = typer.Option(
        "100,90,80,70,60,50,30,10,0", "--ratios", help="Hot traffic percentages to sweep."
    ),
    requests: int = typer.Option(1000, "--requests", "-n", help="Timed requests per ratio."),
    warmup: int = typer.Option(
        200, "--warmup", help="Requests before each ratio, at its mix, not measured."
    ),
    keys: int = typer.Option(
        10_000, "--keys", help="Keys sampled per entity (the top --hot-fraction are hot)."
    ),
    hot_fraction: float = typer.Option(
        0.01, "--hot-fraction", help="Share of sampled keys that are hot."
    ),
    io_sample_every: int = typer.Option(
        100,
        "--io-sample-every",
        help="One EXPLAIN (ANALYZE, BUFFERS) request after every N timed ones (0: off).",
    ),
    evict_os_cache: bool = typer.Option(
        None,
        "--evict-os-cache/--no-evict-os-cache",
        help="Before each ratio, CHECKPOINT and drop the tables' and indexes' files from the OS "
        "page cache, so cold keys that miss shared_buffers read the disk. Default: on for the "
        "embedded server, off otherwise; needs a server on this machine whose data directory "
        "featbench can read.",
        show_default=False,
    ),
    reset_stats: bool = typer.Option(
        False,
        "--stats-reset/--no-stats-reset",
        help="Call pg_stat_reset() first, as the original Lakebase benchmark did. Off by default: it "
        "wipes the whole database's statistics counters, which its operators rely on; figures are "
        "per-ratio deltas either way.",
    ),
    seed: int = SeedOpt,
    out: Path = typer.Option(
        Path("results"), "--out", "-o", help="Directory that holds run directories."
    ),
    run_id: str = typer.Option(
        None, "--run-id", help="Name of the run directory (default: UTC time + random hex)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing run directory of that name."
    ),
    keys_from: Path = typer.Option(
        None, "--keys-from", help="Reuse the keys of an earlier run (same spec).", metavar="RUN_DIR"
    ),
    strategy: str = typer.Option(
        "serial",
        "--strategy",
        help="How a request executes (comma list: serial,pipeline,…). STORE=STRATEGY items apply "
        "to one kind of target only, e.g. postgres=union,redis=pipeline,dynamodb=batch.",
    ),
    ratio_order: str = typer.Option(
        "cold-first",
        "--ratio-order",
        help="cold-first (ascending hot %), given, or random (seeded).",
    ),
    concurrency: int = typer.Option(
        1,
        "--concurrency",
        "-c",
        help="Clients, each with its own connection (processes for PostgreSQL).",
    ),
    rate: float = typer.Option(
        None,
        "--rate",
        help="Open loop: requests per second across all clients (latency also reported from the intended start).",
    ),
    arrival: str = typer.Option(
        "uniform", "--arrival", help="Open-loop arrivals: uniform or poisson."
    ),
    duration: float = typer.Option(
        None,
        "--duration",
        help="Open loop: seconds per level (requests = rate × duration).",
        metavar="SECONDS",
    ),
    warmup_seconds: float = typer.Option(
        None,
        "--warmup-seconds",
        help="Open loop: seconds of unmeasured requests before each level.",
    ),
    interval: float = typer.Option(
        1.0,
        "--interval",
        help="Seconds per time-series interval (timeseries/ and timeseries.parquet).",
    ),
    distribution: str = typer.Option(
        "hotcold",
        "--distribution",
        help="Key distribution: hotcold (ratio sweep), zipfian, uniform, latest.",
    ),
    theta: float = typer.Option(
        None, "--theta", help="Skew of zipfian/latest (> 0; 0.99 is YCSB's default)."
    ),
    thetas: str = typer.Option(
        None,
        "--thetas",
        help="Zipfian sweep over θ, replacing the ratio sweep, e.g. 0.5,0.8,0.99,1.2.",
    ),
    threshold: list[str] = ThresholdOpt,
    max_error_rate: float = MaxErrorRateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run the hot/cold benchmark: sample keys, warm up, sweep the ratios, save everything.

    Exit code: 0 complete; 1 failed (a ratio's error rate above --max-error-rate); 99 when
    a --threshold failed; 2 bad input.

    Example: featbench run --target postgresql://postgres@localhost/postgres --requests 500 --threshold 'p99<10ms'
    """
    try:
        r = execute_run(
            targets=target, spec=spec, scale=scale, schema=schema, ratios=ratios, requests=requests,
            warmup=warmup, keys=keys, hot_fraction=hot_fraction, io_sample_every=io_sample_every,
            reset_stats=reset_stats, evict_os_cache=evict_os_cache, seed=seed, out=out, run_id=run_id, overwrite=overwrite, keys_from=keys_from,
            strategy=strategy, ratio_order=ratio_order, live=not as_json,
            concurrency=concurrency, rate=rate, arrival=arrival, duration=duration,
            warmup_seconds=warmup_seconds, interval=interval, distribution=distribution,
            theta=theta, thetas=thetas, thresholds=tuple(threshold or ()),
            max_error_rate=max_error_rate,
        )  # fmt: skip
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted[/]: the ratios finished so far are saved (status: interrupted)"
        )
        raise typer.Exit(130) from None
    print_run_result(r, as_json, notes=False)  # the notes were shown as they came
    code = run_exit_code(r)
    if code:
        raise typer.Exit(code)


def run_json(r: Run) -> str:
    doc = {"path": str(r.path), "status": r.status}
    if r.manifest.get("error"):
        doc["error"] = r.manifest["error"]
    return json.dumps({**doc, **r.summary}, indent=2)


def print_run_result(r: Run, as_json: bool, *, notes: bool = True) -> None:
    """What `run`, `show` and `demo` print for a run: JSON, or tables and the headline."""
    if as_json:
        typer.echo(run_json(r))
    else:
        print_run(r, notes=notes)
        print_headline_safe(r.path)


@app.command()
def show(
    run_dir: Path = typer.Argument(
        ..., help="A run directory, e.g. results/<run_id>.", metavar="RUN_DIR"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Per-ratio table of a run (latency percentiles, planned vs measured cache, request mix),
    then the headline: p99 per ratio, hit ratio, cost per million requests, the report's path.

    Example: featbench show results/20261126T081500Z-3f2a1c
    """
    r = read_run(run_dir)
    print_run_result(r, as_json)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (bytes, memoryview)):
        return bytes(v).hex()
    return v


@app.command()
def get(
    pairs: list[str] = typer.Argument(
        ..., help="ENTITY=KEY for each entity to look up.", metavar="ENTITY=KEY…"
    ),
    target: str = typer.Option(..., "--target", "-t", help="Where to read from.", metavar="URL"),
    spec: str = SpecOpt,
    schema: str = SchemaOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Print, as JSON, the feature rows one request would fetch (null where a table lacks the key).

    Example: featbench get --target embedded card_fingerprint=3fa2…
    """
    from featbench.backends.base import open_backend

    s = load_spec(spec)
    keys: dict[str, Any] = {}
    for p in pairs:
        if "=" not in p:
            raise FeatbenchError(f"{p!r} is not ENTITY=KEY (entities: {', '.join(s.entity_names)})")
        ent, key = p.split("=", 1)
        ent = ent.strip()
        if ent not in s.entity_names:
            raise FeatbenchError(
                f"unknown entity {ent!r}; the spec has {', '.join(s.entity_names)}"
            )
        if s.entity(ent).key_type == "bigint":
            try:
                keys[ent] = int(key)
            except ValueError:
                raise FeatbenchError(f"{ent} keys are integers, got {key!r}") from None
        else:
            keys[ent] = key
    b = open_backend(target, schema=schema)
    try:
        rows = b.fetch(s, keys)
        from featbench.cli.dataset import recorded

        loaded = recorded([b], s)
    finally:
        b.close()
    doc = {
        # the data the rows come from, as featbench recorded it when loading (null: not
        # loaded by featbench)
        "data": None if loaded is None else {"scale": loaded[0], "seed": loaded[1]},
        "keys": keys,
        "tables": {
            t: (None if r is None else {k: _jsonable(v) for k, v in r.items()})
            for t, r in rows.items()
        },
        "found": sum(1 for r in rows.values() if r is not None),
        "looked_up": len(rows),
    }
    typer.echo(json.dumps(doc, indent=2, default=str))


@app.command()
def compare(
    run_a: Path = typer.Argument(..., help="The baseline run directory.", metavar="RUN_A"),
    run_b: Path = typer.Argument(..., help="The run compared with it.", metavar="RUN_B"),
    force: bool = typer.Option(False, "--force", help="Compare even if the workload specs differ."),
    as_json: bool = JsonOpt,
) -> None:
    """Per-ratio deltas (B − A) of p50/p95/p99 and hit ratio: significant (bold) when the
    two runs' 95% intervals do not overlap, (noise) when they do, (?) undecidable when an
    interval is open. Works from summary.json alone.

    Example: featbench compare results/run-a results/run-b
    """
    from featbench.results.compare import compare_runs

    doc = compare_runs(read_run(run_a), read_run(run_b), force=force)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    from featbench.report.terminal import render_compare

    wide_console().print(render_compare(doc), highlight=False)
