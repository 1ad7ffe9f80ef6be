"""`featbench run`, `show`, `get`, `compare`: thin wiring over runner/ and results/."""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table as RichTable
from rich.text import Text

from featbench.cli.app import app
from featbench.cli.options import JsonOpt, ScaleOpt, SchemaOpt, SeedOpt, SpecOpt
from featbench.errors import FeatbenchError
from featbench.progress import console
from featbench.results.load import Run, load_run
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


# -- rendering (also used by `demo`) -------------------------------------------------------
def _f(x: Any, fmt: str = "{:.2f}") -> str:
    return "–" if x is None else fmt.format(x)


def ratio_tables(run: Run | dict[str, Any]) -> list[RichTable]:
    """One rich table per section, one row per ratio, as the seed's results query showed.

    Compact enough for an 80-column terminal: request counts go in the title, and an
    error column appears only when there were errors; numbers are never truncated.
    """
    from rich import box

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
        title = (
            f"{run_id}  {sec['backend']} · {sec['strategy']} · {sec['target']}\n{n}, latency in ms"
        )
        t = RichTable(
            title=title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=(0, 0, 0, 1),
            pad_edge=False,
        )  # the box's one-space column separator is the only gap: fits 80 columns
        theta = any("theta" in r for r in ratios)
        heads = ["θ" if theta else "hot\n%"] + (["err"] if errors else [])
        heads += [
            "p50",
            "p95",
            "p99",
            "p99.9",
            "plan\nhot",
            "hit\nratio",
            "blk/\nreq",
            "all\nhot %",
            "all\ncold %",
            "corr",
        ]
        rows = []
        for r in ratios:
            lat = r["latency_ms"]
            io = r["io"]
            lvl = r.get("hot_pct", r.get("theta"))
            cells = [f"{lvl:g}"] + ([str(r["errors"])] if errors else [])
            cells += [
                _f(lat["p50"]),
                _f(lat["p95"]),
                _f(lat["p99"]),
                _f(lat["p999"]),
                _f(r["planned_hot_fraction"], "{:.3f}"),
                _f(io["hit_ratio"], "{:.4f}"),
                _f(io["blocks_per_request"], "{:.1f}"),
                _f(r["fully_hot_pct"], "{:.1f}"),
                _f(r["fully_cold_pct"], "{:.1f}"),
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
    or strategies); None for a run of one section."""
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
    for lvl in levels:
        cells = [f"{lvl:g}"]
        for s in secs:
            r = next((x for x in s["ratios"] if x[key] == lvl), None)
            lat = (r or {}).get("latency_ms") or {}
            cells.append(f"{_f(lat.get('p50'))} / {_f(lat.get('p99'))}" if r else "–")
        t.add_row(*cells)
    return t


def wide_console() -> Console:
    """Stdout console; when it is not a terminal, wide enough that tables are not squeezed."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def print_run(run: Run, out: Console | None = None) -> None:
    out = out or wide_console()
    for t in ratio_tables(run):
        out.print(t)
    sbs = side_by_side_table(run)
    if sbs is not None:
        out.print(sbs)
    notes = run.manifest.get("warnings") or []
    for w in notes:
        out.print(f"[yellow]note:[/] {w}", highlight=False)
    out.print(
        f"status: {run.status}   run directory: {run.path}\n"
        "plan hot = the seed's cache score (share of hot entities); hit ratio = shared-buffer "
        "hits / (hits + reads) measured by the server; blk/req from EXPLAIN samples.",
        highlight=False,
    )


# -- live display during a run ---------------------------------------------------------------
class LiveStatus:
    """Listener that keeps the current ratio, requests/s and running p99 on screen."""

    def __init__(self, stats: Any, planned_ratios: int, sections: int) -> None:
        self.stats = stats
        self.total = planned_ratios * sections
        self.done_ratios = 0
        self.current: tuple[int, float] | None = None
        self.planned = 0
        self.phase = "sampling keys"
        self.t0 = time.perf_counter()
        self.lines: list[str] = []

    def on_warning(self, msg: str) -> None:
        # on screen as soon as known (e.g. "the data fits in shared_buffers" before timing);
        # the live display only renders the line, no I/O here
        self.lines.append(f"note: {msg}")
        if not sys.stderr.isatty():
            console.print(self.lines[-1], highlight=False)

    def on_ratio_start(self, ev: Any) -> None:
        self.current = (ev.section, ev.level)
        self.planned = ev.planned_requests
        self.phase = "measuring"
        self.t0 = time.perf_counter()

    def on_ratio_end(self, ev: Any) -> None:
        self.done_ratios += 1
        st = self.stats.ratios.get((ev.section, ev.level))
        if st is not None:
            s = st.to_summary()
            lvl = f"θ {ev.level:>5g} " if st.level_key == "theta" else f"hot {ev.level:>5g}%"
            self.lines.append(
                f"{lvl}  p50 {_f(s['latency_ms']['p50'])} ms  p99 {_f(s['latency_ms']['p99'])} ms  "
                f"hit ratio {_f(s['io']['hit_ratio'], '{:.4f}')}"
            )
            if not sys.stderr.isatty():
                console.print(self.lines[-1], highlight=False)
        self.phase = "warm-up"

    def progress(self, phase: str, n: int) -> None:
        if phase != "measure":
            self.phase = phase

    def render(self) -> Group:
        head = Text(
            f"ratio {self.done_ratios + (1 if self.current else 0)}/{self.total}  ", style="bold"
        )
        if self.current is not None and self.phase == "measuring":
            st = self.stats.ratios.get(self.current)
            n = st.requests if st else 0
            el = time.perf_counter() - self.t0
            rps = n / el if el > 0 else 0.0
            p99 = st.latency.percentile_us(99.0) if st else None
            head.append(
                f"hot {self.current[1]:g}%  {n}/{self.planned} requests  {rps:,.0f} req/s  "
                f"running p99 {_f(p99 / 1000 if p99 else None)} ms"
            )
        else:
            head.append(self.phase)
        return Group(*[Text(x) for x in self.lines[-12:]], head)


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


def execute_run(
    *,
    targets: list[str],
    spec: str | None,
    scale: float,
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
    evict_os_cache: bool | None = None,
) -> Run:
    """Check inputs, open targets, run, and return the run directory (library entry for CLI/demo)."""
    from featbench.backends.base import open_backend
    from featbench.measure.stats import StatsCollector
    from featbench.runner.benchmark import RunConfig, run_benchmark

    s = load_spec(spec)
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
        scale=scale,
        distribution=distribution,
        concurrency=concurrency,
        rate=rate,
        arrival=arrival,
        duration_s=duration,
        warmup_s=warmup_seconds,
        interval_s=interval,
        thetas=_thetas(theta, thetas),
        evict_os_cache=evict_os_cache,
    )
    from featbench.runner.load_loop import apply_load_config

    apply_load_config(cfg)  # rate, duration, θ… checked before connecting anywhere
    levels = len(cfg.thetas) if cfg.distribution != "hotcold" and cfg.thetas else len(cfg.ratios)
    if ratio_order not in RATIO_ORDERS:
        raise FeatbenchError(f"--ratio-order must be one of {', '.join(RATIO_ORDERS)}")
    if not cfg.strategies:
        raise FeatbenchError("--strategy is empty (use e.g. serial)")
    cfg.plan_config(1).validate()  # cheap checks before connecting anywhere
    if keys_from is not None and not (keys_from / "manifest.json").exists():
        raise FeatbenchError(
            f"--keys-from {keys_from}: not a featbench run directory (no manifest.json)"
        )
    backends = []
    try:
        for t in targets:
            backends.append(open_backend(t, schema=schema))
        # The live display reads statistics; a second collector keeps it independent of the writer.
        disp_stats = StatsCollector()
        n_sections = sum(len(cfg.strategies_for(b.kind)) for b in backends)
        disp = LiveStatus(disp_stats, levels, n_sections)
        use_live = live and sys.stderr.isatty()
        ctx = (
            Live(console=console, get_renderable=disp.render, refresh_per_second=4, transient=True)
            if use_live
            else None
        )
        try:
            if ctx is not None:
                ctx.start()
            outcome = run_benchmark(
                backends,
                s,
                cfg,
                out=out,
                run_id=run_id,
                overwrite=overwrite,
                keys_from=keys_from,
                listeners=[disp_stats, disp],
                progress=disp.progress,
                timeseries_show=(lambda line: console.print(line, highlight=False))
                if live and (cfg.rate is not None or cfg.concurrency > 1)
                else None,
            )
        finally:
            if ctx is not None:
                ctx.stop()
                for line in disp.lines:
                    console.print(line, highlight=False)
    finally:
        for b in backends:
            b.close()
    return load_run(outcome.path)


# -- the benchmark part of `featbench demo` ------------------------------------------------
DEMO_REQUESTS = 150  # per ratio: the full 9-ratio matrix in seconds on 2 cores
DEMO_WARMUP = 50  # the PostgreSQL-alone demo passes demo_cmd.PG_DEMO_WARMUP instead
# Enough cold keys for up to 1000 requests a ratio plus warm-ups (the plan needs ~5,100
# per entity then); 1% hot = 55 keys per entity, a hot set of at most ~27 MB of pages.
DEMO_KEYS = 5500
DEMO_IO_SAMPLE_EVERY = 25  # 6 EXPLAIN samples per ratio


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
    warmup: int | None = None,
) -> Run:
    """Run the full hot/cold matrix on the embedded server(s) the demo loaded (fraud-30)."""
    return execute_run(
        targets=targets or ["embedded"], spec=None, scale=scale, schema=schema,
        ratios="100,90,80,70,60,50,30,10,0", requests=DEMO_REQUESTS,
        warmup=DEMO_WARMUP if warmup is None else warmup,
        keys=DEMO_KEYS, hot_fraction=0.01, io_sample_every=DEMO_IO_SAMPLE_EVERY, seed=seed,
        out=out, run_id=None, overwrite=False, keys_from=None, strategy=strategy,
        ratio_order="cold-first", live=live, requests_by_backend=requests_by_backend,
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
    scale: float = ScaleOpt,
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
    as_json: bool = JsonOpt,
) -> None:
    """Run the hot/cold benchmark: sample keys, warm up, sweep the ratios, save everything.

    Example: featbench run --target postgresql://postgres@localhost/postgres --requests 500
    """
    try:
        r = execute_run(
            targets=target, spec=spec, scale=scale, schema=schema, ratios=ratios, requests=requests,
            warmup=warmup, keys=keys, hot_fraction=hot_fraction, io_sample_every=io_sample_every,
            reset_stats=reset_stats, evict_os_cache=evict_os_cache, seed=seed, out=out, run_id=run_id, overwrite=overwrite, keys_from=keys_from,
            strategy=strategy, ratio_order=ratio_order, live=not as_json,
            concurrency=concurrency, rate=rate, arrival=arrival, duration=duration,
            warmup_seconds=warmup_seconds, interval=interval, distribution=distribution,
            theta=theta, thetas=thetas,
        )  # fmt: skip
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted[/]: the ratios finished so far are saved (status: interrupted)"
        )
        raise typer.Exit(130) from None
    if as_json:
        typer.echo(json.dumps({"path": str(r.path), "status": r.status, **r.summary}, indent=2))
    else:
        print_run(r)
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
    r = load_run(run_dir)
    if as_json:
        typer.echo(json.dumps({"path": str(r.path), "status": r.status, **r.summary}, indent=2))
    else:
        print_run(r)
        print_headline_safe(r.path)


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
    finally:
        b.close()
    doc = {
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
    """Per-ratio deltas (B − A) of p50/p95/p99 and hit ratio; changes within noise are marked.

    Example: featbench compare results/run-a results/run-b
    """
    from featbench.results.compare import compare_runs

    doc = compare_runs(load_run(run_a), load_run(run_b), force=force)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    out = wide_console()
    for w in doc["warnings"]:
        out.print(f"[yellow]note:[/] {w}", highlight=False)
    for sec in doc["sections"]:
        t = RichTable(
            title=f"{doc['a']['run_id']} → {doc['b']['run_id']}  {sec['a']['backend']} · {sec['a']['strategy']}",
            title_justify="left",
        )
        t.add_column("hot %", justify="right")
        for stat in ("p50", "p95", "p99"):
            t.add_column(f"{stat} A→B ms", justify="right")
            t.add_column(f"Δ{stat}", justify="right")
        t.add_column("hit ratio A→B", justify="right")
        for r in sec["ratios"]:
            cells = [f"{r.get('hot_pct', r.get('theta')):g}"]
            for stat in ("p50", "p95", "p99"):
                d = r[stat]
                cells.append(f"{_f(d['a_ms'])} → {_f(d['b_ms'])}")
                pct = _f(d["delta_pct"], "{:+.1f}%")
                if d["significant"] is None:
                    cells.append(f"{pct} [dim](too few)[/]")
                elif d["significant"]:
                    cells.append(f"[bold]{pct}[/]")
                else:
                    cells.append(f"[dim]{pct} (noise)[/]")
            h = r["hit_ratio"]
            cells.append(f"{_f(h['a'], '{:.4f}')} → {_f(h['b'], '{:.4f}')}")
            t.add_row(*cells)
        out.print(t)
    out.print(
        f"significance: {doc['method']}; '(noise)' = the interval contains 0", highlight=False
    )
