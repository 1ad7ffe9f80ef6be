"""`featbench demo`: everything on embedded servers, nothing to install but Python.

One store (the default, PostgreSQL) or several side by side (`--backends
postgres,redis,dynamodb`): the same data loaded into each embedded server, the same
plan (same keys) run against each into ONE run directory, then the table, the
headline and an HTML report a person can open.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from featbench.cli.app import app
from featbench.cli.options import JsonOpt
from featbench.cli.run_cmd import DEMO_RATIOS, ThresholdOpt, run_exit_code
from featbench.errors import FeatbenchError
from featbench.progress import console

DEMO_BACKENDS = ("postgres", "redis", "dynamodb")
DEMO_TARGETS = {
    "postgres": "embedded",
    "redis": "redis://embedded",
    "dynamodb": "dynamodb://embedded",
}
# Each store's natural one-round-trip strategy when several run side by side; PostgreSQL
# alone runs serial (the seed's way, and the one that measures each entity's part).
SIDE_BY_SIDE_STRATEGY = {"postgres": "union", "redis": "pipeline", "dynamodb": "batch"}
# The embedded DynamoDB is moto, a Python emulator: ~1,800 rows/s to load and ~35 ms a
# BatchGetItem on 2 cores. So with DynamoDB in the demo the data set is small (about 58k
# rows, ~32 s to load into moto; still >= 2,320 keys per entity, enough cold keys for the
# plan's 400 requests per ratio) and DynamoDB replays only the first requests of each ratio
# of the same plan: 40, enough for a closed p50 interval; p99's needs 368 (2 more minutes
# of moto at least), so DynamoDB's p95/p99/p99.9 are shown with open intervals (marked ?).
SCALE_ONE = 0.5  # ~220 MB: several times the embedded server's shared_buffers (32 MB)
SCALE_WITH_DYNAMODB = 0.04
# PostgreSQL alone: warm-up requests per ratio. With cold-first order the cold ratios
# evict the hot set from the embedded server's 32 MB shared_buffers, and each ratio's
# warm-up must bring its ~55 hot keys per entity back: 50 warm-up requests left 100%-hot
# lookups missing (hit ratio 0.945 in one run); 200 (~4x the hot keys) gave 1.000 in every
# run. (Side by side, at scale 0.04, the data fits in shared_buffers anyway, and there are
# too few keys for 200 cold warm-up keys per ratio.)
PG_DEMO_WARMUP = 200
DYNAMODB_REQUESTS = 40  # measured per ratio (a prefix of the plan every store replays)
DYNAMODB_WARMUP = 10
MOTO_ROWS_PER_S = 1800  # measured (README): for the load-time warning only


def parse_backends(text: str) -> list[str]:
    out: list[str] = []
    for item in (x.strip().lower() for x in text.split(",")):
        if not item:
            continue
        item = "postgres" if item in ("pg", "postgresql") else item
        if item not in DEMO_BACKENDS:
            raise FeatbenchError(
                f"--backends: unknown store {item!r}; choose from {', '.join(DEMO_BACKENDS)}"
            )
        if item not in out:
            out.append(item)
    if not out:
        raise FeatbenchError("--backends is empty (e.g. postgres,redis,dynamodb)")
    return out


def _load_kv(kind: str, scale: float, seed: int) -> Any:
    """Load fraud-30 into the embedded Redis / DynamoDB (verified by the load itself)."""
    from featbench.backends.base import open_backend
    from featbench.spec import builtin_spec

    b = open_backend(DEMO_TARGETS[kind])
    try:
        return b.load(builtin_spec("fraud-30"), scale, seed, streams=2, force=True)
    finally:
        b.close()


def _write_report(run_path: Path) -> tuple[Path | None, str | None]:
    """The HTML report in the run directory, priced at the rate the run sustained."""
    from featbench.report.build import make_report
    from featbench.report.costing import headline_qps
    from featbench.results.reader import read_run

    try:
        measured = headline_qps(read_run(run_path))
        res = make_report([run_path], qps=measured[0] if measured else None)
        return res.html, None
    except FeatbenchError as e:  # the run is kept; say why there is no report
        return None, str(e)


@app.command()
def demo(
    scale: float = typer.Option(
        None,
        "--scale",
        help=f"Scale of fraud-30 to load (default {SCALE_ONE:g}, about 734k rows, ~220 MB; "
        f"{SCALE_WITH_DYNAMODB:g} when DynamoDB is in --backends).",
    ),
    seed: int = typer.Option(42, "--seed", help="Seed of data generation."),
    backends: str = typer.Option(
        "postgres",
        "--backends",
        "-b",
        help="Stores to run side by side on embedded servers: postgres, redis, dynamodb "
        "(comma list). Alone, PostgreSQL runs the serial strategy (one query per table, the "
        "seed's way); side by side each store runs its natural one-round-trip strategy: "
        "postgres union, redis pipeline, dynamodb batch (BatchGetItem). DynamoDB is moto, a "
        f"slow local emulator: it replays only the first {DYNAMODB_REQUESTS} requests of each "
        "ratio of the same plan, and its latency is not AWS's.",
    ),
    keep: bool = typer.Option(
        False,
        "--keep",
        help="Leave the embedded PostgreSQL running afterwards (for psql, or more featbench commands).",
    ),
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Where the run directory goes."),
    threshold: list[str] = ThresholdOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Start embedded servers, load fraud-30 at a small scale, verify it, run the hot/cold
    benchmark (9 ratios x 400 requests: closed 95% intervals up to p99), print the table and
    the headline, and write an HTML report into the run directory.

    The data stays in $FEATBENCH_HOME (default: your cache directory), so a second demo
    reuses it. The PostgreSQL server is stopped at the end unless --keep;
    `featbench embedded stop --purge` removes everything.

    Examples: featbench demo --scale 0.05;  featbench demo --backends postgres,redis,dynamodb
    """
    from featbench.backends import embedded
    from featbench.cli.load_cmd import _summary, print_checks
    from featbench.cli.run_cmd import DEMO_REQUESTS, demo_benchmark
    from featbench.load.demo import demo_load
    from featbench.spec import builtin_spec, check_scale, scaled_rows

    kinds = parse_backends(backends)
    from featbench.measure.thresholds import check_levels, parse_thresholds

    check_levels(parse_thresholds(threshold or ()), DEMO_RATIOS)  # before anything starts
    if scale is None:
        scale = SCALE_WITH_DYNAMODB if "dynamodb" in kinds else SCALE_ONE
    check_scale(scale)
    rows = sum(scaled_rows(t, scale) for t in builtin_spec("fraud-30").tables)
    several = len(kinds) > 1
    console.print(
        f"[bold]featbench demo[/]: fraud-30 at scale {scale:g} ({rows:,} rows) on embedded "
        f"{', '.join(kinds)}",
        highlight=False,
    )
    if "dynamodb" in kinds:
        console.print(
            f"  DynamoDB is moto, a local emulator: loading takes ~{rows / MOTO_ROWS_PER_S:,.0f} s "
            "and its latency is not AWS's",
            highlight=False,
        )

    ok = True
    pg_result = None
    loads: dict[str, Any] = {}
    run = None
    try:
        for kind in kinds:
            if kind == "postgres":
                pg_result = demo_load(scale, seed)
                loads[kind] = pg_result.report
                ok = ok and pg_result.ok
            else:
                console.print(f"loading the embedded {kind} …", highlight=False)
                rep = _load_kv(kind, scale, seed)
                loads[kind] = rep
                ok = ok and all(c.ok for c in rep.checks)
        if ok:  # the benchmark run: while the servers are up
            strategy = (
                ",".join(f"{k}={SIDE_BY_SIDE_STRATEGY[k]}" for k in kinds) if several else
                ("serial" if kinds == ["postgres"] else SIDE_BY_SIDE_STRATEGY[kinds[0]])
            )  # fmt: skip
            caps = (
                {"dynamodb": (DYNAMODB_REQUESTS, DYNAMODB_WARMUP)} if "dynamodb" in kinds else None
            )
            console.print(
                f"running the hot/cold matrix: 9 ratios x {DEMO_REQUESTS} requests "
                f"({strategy.replace(',', ', ')})"
                + (
                    f"; DynamoDB replays the first {DYNAMODB_REQUESTS} of each ratio"
                    if caps
                    else ""
                ),
                highlight=False,
            )
            run = demo_benchmark(
                scale=scale,
                seed=seed,
                out=out,
                live=not as_json,
                targets=[DEMO_TARGETS[k] for k in kinds],
                strategy=strategy,
                requests_by_backend=caps,
                thresholds=tuple(threshold or ()),
                warmup=PG_DEMO_WARMUP if kinds == ["postgres"] else None,
            )
    finally:
        status = None
        if "postgres" in kinds:
            if keep:
                status = embedded.status()
            else:
                embedded.stop()
    report_path, report_error = (None, None)
    if run is not None:
        report_path, report_error = _write_report(run.path)

    if as_json:
        from featbench.report.terminal import headline_data

        srv = pg_result.server if pg_result else None
        doc = {
            "backends": kinds,
            "scale": scale,
            "server": srv,
            "load": pg_result.report.to_dict() if pg_result else None,
            "loads": {
                k: (r.to_dict() if hasattr(r, "to_dict") else _load_dict(r))
                for k, r in loads.items()
            },
            "embedded": {
                "data_dir": str(embedded.data_dir()),
                "running": keep and "postgres" in kinds,
                "uri": (status or {}).get("uri"),
            },
            "run": None
            if run is None
            else {"path": str(run.path), "status": run.status, **run.summary},
            "report": str(report_path) if report_path else None,
            "report_error": report_error,
            "headline": _quiet(headline_data, run.path) if run is not None else None,
            "cold_vs_hot": cold_story(run.path) if run is not None else None,
        }
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        if pg_result is not None:
            srv = pg_result.server
            st = srv["settings"]
            console.print(
                f"server: PostgreSQL {srv['server_version']} (embedded, data in {embedded.data_dir()}), "
                f"shared_buffers {st['shared_buffers']}, database now {srv['database_bytes'] / 1e6:,.0f} MB",
                highlight=False,
            )
            for note in pg_result.report.notes:
                console.print(f"  {note}", highlight=False)
        for kind, r in loads.items():
            console.print(f"{kind}: {_summary(r)}", highlight=False)
            if kind == "postgres" and getattr(r, "index_seconds", None) is not None:
                console.print(
                    f"primary keys + ANALYZE: {r.index_seconds:,.1f} s of worker time",
                    highlight=False,
                )
            print_checks(r.checks)
        if "postgres" in kinds:
            if keep and status and status.get("uri"):
                console.print(
                    f"server left running: psql '{status['uri']}'  (stop: featbench embedded stop)",
                    highlight=False,
                )
            else:
                console.print(
                    "server stopped (data kept; featbench embedded stop --purge removes it)"
                )
        if run is not None:
            from featbench.cli.run_cmd import print_headline_safe, print_run

            print_run(run, notes=False)  # the notes were shown as they came
            story = cold_story(run.path)
            if story is not None:
                console.print(story["text"], highlight=False)
            if "dynamodb" in kinds:
                console.print(
                    "note: DynamoDB here is moto, a Python emulator on this machine — its "
                    "latency is not AWS's (compare the shapes, not DynamoDB's milliseconds)",
                    highlight=False,
                )
            if report_error:
                console.print(f"[yellow]note:[/] no report written: {report_error}")
            print_headline_safe(run.path, report_path=report_path)
    if not ok:
        raise typer.Exit(2)
    if run is not None and run_exit_code(run):
        raise typer.Exit(run_exit_code(run))


def cold_story(run_dir: Path) -> dict[str, Any] | None:
    """What the demo is about, in figures: PostgreSQL at 0% hot against 100% hot (p50, p99,
    buffer reads per request, hit ratio) and whether reads went to the disk (OS page cache
    emptied before each ratio, direct I/O). None when the run lacks those two ratios."""
    from featbench.cli.run_cmd import _f as f
    from featbench.results.reader import read_run

    run = read_run(run_dir)
    sections = run.summary.get("sections") or []
    idx = next((i for i, s in enumerate(sections) if s.get("backend") == "postgres"), None)
    if idx is None:
        return None
    by_pct = {r.get("hot_pct"): r for r in sections[idx]["ratios"]}
    hot, cold = by_pct.get(100), by_pct.get(0)
    if hot is None or cold is None:
        return None

    def reads(r: dict[str, Any]) -> float | None:
        n, rd = r.get("requests") or 0, (r.get("io") or {}).get("buffer_reads")
        return None if rd is None or n == 0 else rd / n

    def times(key: str) -> float | None:
        a, b = hot["latency_ms"].get(key), cold["latency_ms"].get(key)
        return None if not a or b is None else round(b / a, 2)

    target = sections[idx].get("target")
    tdoc = next((t for t in run.manifest.get("targets", []) if t.get("target") == target), {})
    evicted = bool((tdoc.get("os_cache_eviction") or {}).get("enabled"))
    direct = bool((tdoc.get("cache") or {}).get("direct_io"))
    doc: dict[str, Any] = {
        "target": target,
        "p50_ms": [hot["latency_ms"].get("p50"), cold["latency_ms"].get("p50")],
        "p99_ms": [hot["latency_ms"].get("p99"), cold["latency_ms"].get("p99")],
        "p50_x": times("p50"),
        "p99_x": times("p99"),
        "reads_per_request": [reads(hot), reads(cold)],
        "hit_ratio": [
            (hot.get("io") or {}).get("hit_ratio"),
            (cold.get("io") or {}).get("hit_ratio"),
        ],
        "os_cache_evicted": evicted,
        "direct_io": direct,
        "order": "[100% hot, 0% hot]",
    }
    where = (
        "reads go to the disk: direct I/O, and the tables' files are dropped from the OS page "
        "cache before each ratio"
        if direct and evicted
        else "reads go to the disk at the start of each ratio (OS page cache emptied)"
        if evicted
        else "reads may come from the OS page cache (not emptied)"
    )
    cold_reads = doc["reads_per_request"][1]
    fits = bool((tdoc.get("cache") or {}).get("fits_shared_buffers"))
    if cold_reads is not None and cold_reads >= 1:
        lead = "cold keys cost reads"
    else:  # say why the sweep shows little, instead of claiming what it did not measure
        lead = "cold keys cost almost no reads here" + (
            " (the data fits in shared_buffers)" if fits else ""
        )
    doc["text"] = (
        f"{lead}: p50 {f(doc['p50_ms'][0])} -> {f(doc['p50_ms'][1])} ms "
        f"({f(doc['p50_x'], '{:.1f}')}x), p99 {f(doc['p99_ms'][0])} -> {f(doc['p99_ms'][1])} ms "
        f"({f(doc['p99_x'], '{:.1f}')}x) from 100% to 0% hot; buffer reads per request "
        f"{f(doc['reads_per_request'][0], '{:.1f}')} -> {f(doc['reads_per_request'][1], '{:.1f}')}, "
        f"hit ratio {f(doc['hit_ratio'][0], '{:.3f}')} -> {f(doc['hit_ratio'][1], '{:.3f}')}; {where}"
    )
    return doc


def _load_dict(r: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    return asdict(r) if is_dataclass(r) else {"repr": repr(r)}


def _quiet(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except FeatbenchError as e:
        return {"error": str(e)}
