"""What `featbench demo` prints: the server and the loads, the run's tables, what cold
keys cost (the demo's point, in figures), notes and the headline; or all of it as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from rich.markup import escape

from featbench.backends import embedded
from featbench.errors import FeatbenchError
from featbench.progress import console
from featbench.report.load_text import load_line, load_report_doc, print_checks
from featbench.report.tables import f
from featbench.report.terminal import headline_data, print_headline_safe, print_run, wide_console
from featbench.results.reader import Run, Section


class DemoOutcome(Protocol):
    """What the demo did (featbench.demo.DemoResult)."""

    kinds: list[str]
    scale: float
    keep: bool
    pg: Any  # load.demo.DemoLoad of the embedded PostgreSQL, or None
    loads: dict[str, Any]  # kind -> LoadReport
    run: Run | None
    report: Path | None
    report_error: str | None
    embedded: dict[str, Any] | None


def demo_doc(res: DemoOutcome) -> dict[str, Any]:
    """`demo --json`: the loads, the server, the run, the report and the headline."""
    run = res.run
    headline: Any = None
    if run is not None:
        try:
            headline = headline_data(run)
        except FeatbenchError as e:
            headline = {"error": str(e)}
    return {
        "backends": res.kinds,
        "scale": res.scale,
        "server": res.pg.server if res.pg else None,
        "load": res.pg.report.to_dict() if res.pg else None,
        "loads": {k: load_report_doc(r) for k, r in res.loads.items()},
        "embedded": {
            "data_dir": str(embedded.data_dir()),
            "running": res.keep and "postgres" in res.kinds,
            "uri": (res.embedded or {}).get("uri"),
        },
        "run": None
        if run is None
        else {"path": str(run.path), "status": run.status, **run.summary},
        "report": str(res.report) if res.report else None,
        "report_error": res.report_error,
        "headline": headline,
        "cold_vs_hot": cold_story(run) if run is not None else None,
    }


def print_demo(res: DemoOutcome) -> None:
    if res.pg is not None:
        srv = res.pg.server
        st = srv["settings"]
        console.print(
            f"server: PostgreSQL {srv['server_version']} (embedded, data in {embedded.data_dir()}), "
            f"shared_buffers {st['shared_buffers']}, database now {srv['database_bytes'] / 1e6:,.0f} MB",
            highlight=False,
        )
        for note in res.pg.report.notes:
            console.print(f"  {note}", highlight=False, markup=False)
    for kind, r in res.loads.items():
        console.print(f"{kind}: {load_line(r)}", highlight=False, markup=False)
        print_checks(r.checks)
        if kind == "postgres" and getattr(r, "index_seconds", None) is not None:
            console.print(
                f"primary keys + ANALYZE: {r.index_seconds:,.1f} s of worker time", highlight=False
            )
    if "postgres" in res.kinds:
        uri = (res.embedded or {}).get("uri")
        if res.keep and uri:
            console.print(
                f"server left running: psql '{uri}'  (stop: featbench embedded stop)",
                highlight=False,
            )
        else:
            console.print("server stopped (data kept; featbench embedded stop --purge removes it)")
    if res.run is None:
        return
    out = wide_console()
    print_run(res.run, out, notes=False)  # the notes were shown as they came
    for story in cold_story(res.run):
        console.print(story["text"], highlight=False, markup=False)
    if "dynamodb" in res.kinds:
        console.print(
            "note: DynamoDB here is moto, a Python emulator on this machine — its "
            "latency is not AWS's (compare the shapes, not DynamoDB's milliseconds)",
            highlight=False,
        )
    if res.report_error:
        console.print(f"[yellow]note:[/] no report written: {escape(str(res.report_error))}")
    print_headline_safe(res.run, out, report_path=res.report)


def cold_story(run: Run) -> list[dict[str, Any]]:
    """What the demo is about, in figures, per PostgreSQL strategy of the run: 0% hot
    against 100% hot (p50, p99, buffer reads per request, hit ratio) and whether reads went
    to the disk (OS page cache emptied before each ratio, direct I/O). Sections lacking
    those two ratios are left out."""
    pgs = [s for s in run.sections if s.backend == "postgres"]
    return [d for d in (_cold_story(run, s, len(pgs) > 1) for s in pgs) if d is not None]


def _cold_story(run: Run, pg: Section, name_strategy: bool) -> dict[str, Any] | None:
    by_pct = {r.get("hot_pct"): r for r in pg.levels}
    hot, cold = by_pct.get(100), by_pct.get(0)
    if hot is None or cold is None:
        return None

    def reads(r: dict[str, Any]) -> float | None:
        n, rd = r.get("requests") or 0, (r.get("io") or {}).get("buffer_reads")
        return None if rd is None or n == 0 else rd / n

    def times(key: str) -> float | None:
        a, b = hot["latency_ms"].get(key), cold["latency_ms"].get(key)
        return None if not a or b is None else round(b / a, 2)

    target = pg.target
    tdoc = next((t for t in run.manifest.get("targets", []) if t.get("target") == target), {})
    evicted = bool((tdoc.get("os_cache_eviction") or {}).get("enabled"))
    direct = bool((tdoc.get("cache") or {}).get("direct_io"))
    doc: dict[str, Any] = {
        "target": target,
        "strategy": pg.strategy,
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
    if name_strategy:
        lead += f" ({pg.strategy})"
    doc["text"] = (
        f"{lead}: p50 {f(doc['p50_ms'][0])} -> {f(doc['p50_ms'][1])} ms "
        f"({f(doc['p50_x'], '{:.1f}')}x), p99 {f(doc['p99_ms'][0])} -> {f(doc['p99_ms'][1])} ms "
        f"({f(doc['p99_x'], '{:.1f}')}x) from 100% to 0% hot; buffer reads per request "
        f"{f(doc['reads_per_request'][0], '{:.1f}')} -> {f(doc['reads_per_request'][1], '{:.1f}')}, "
        f"hit ratio {f(doc['hit_ratio'][0], '{:.3f}')} -> {f(doc['hit_ratio'][1], '{:.3f}')}; {where}"
    )
    return doc
