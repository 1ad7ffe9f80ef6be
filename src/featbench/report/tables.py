"""The terminal tables of a run (`run`, `show`, `demo`): one per section with a row per
level, then the sections side by side, open-loop corrected latency and the thresholds.

Compact enough for an 80-column terminal; numbers are never truncated. Each percentile
carries its interval's mark (measure/percentiles.py: ? open, ~ wider than ±25%).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from featbench.measure.percentiles import mark
from featbench.report.charts import fmt_ci
from featbench.results.reader import Run, Section

PERCENTILES = ("p50", "p95", "p99", "p999")


def f(x: Any, fmt: str = "{:.2f}") -> str:
    return "–" if x is None else fmt.format(x)


def marked_column(pairs: Sequence[tuple[float | None, Any]]) -> list[str]:
    """Percentiles of one column (value, interval) with their marks; when any is marked,
    the others get a space so the decimal points stay aligned."""
    marks = [mark(v, ci) for v, ci in pairs]
    pad = " " if any(marks) else ""
    return [f(v) + (m or pad) for (v, _), m in zip(pairs, marks, strict=True)]


def _pairs(levels: Sequence[dict[str, Any] | None], q: str) -> list[tuple[float | None, Any]]:
    """(value, interval) of percentile q at each level (None: the level is missing)."""
    return [
        (((r or {}).get("latency_ms") or {}).get(q), ((r or {}).get("latency_ci_ms") or {}).get(q))
        for r in levels
    ]


def has_marks(run: Run) -> bool:
    return any(
        mark(v, ci) for s in run.sections for q in PERCENTILES for v, ci in _pairs(s.levels, q)
    )


def _table(title: str, padding: tuple[int, int, int, int] = (0, 0, 0, 1)) -> Table:
    return Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=padding, pad_edge=False
    )


def _level_head(sections: Sequence[Section]) -> tuple[str, str]:
    """(level key, column head) of sections: θ for a Zipfian sweep, else hot %."""
    theta = any(s.level_key == "theta" for s in sections)
    return ("theta", "θ") if theta else ("hot_pct", "hot\n%")


def level_tables(run: Run) -> list[Table]:
    """One table per section, one row per level, as the original benchmark's results
    query showed: request counts go in the title, an error column appears only when there
    were errors, hit ratio and blk/req only when the store has them; p99's 95% interval
    has a column (`show --json` has every percentile's)."""
    tables = []
    for sec in run.sections:
        levels = sec.levels
        counts = sorted({r["requests"] for r in levels})
        n = (
            f"{counts[0]} requests/ratio"
            if len(counts) == 1
            else f"{counts[0]}–{counts[-1]} requests/ratio"
            if counts
            else "no ratio finished"
        )
        io = [r.get("io") or {} for r in levels]
        errors = any(r.get("errors") for r in levels)
        io_cols = any(x.get("hit_ratio") is not None for x in io) or any(
            x.get("blocks_per_request") is not None for x in io
        )
        # the box's one-space column separator is the only gap: fits 80 columns
        t = _table(
            f"{run.run_id}  {sec.backend} · {sec.strategy} · {sec.target}\n{n}, latency in ms",
            padding=(0, 0, 0, 0),
        )
        key, head = _level_head([sec])
        heads = [head] + (["err"] if errors else [])
        heads += ["p50", "p95", "p99", "p99\n95% CI", "p99.9", "plan\nhot"]
        heads += ["hit\nratio", "blk/\nreq"] if io_cols else []
        heads += ["all\nhot %", "all\ncold %", "corr"]
        pcols = {q: marked_column(_pairs(levels, q)) for q in PERCENTILES}
        rows = []
        for i, (r, x) in enumerate(zip(levels, io, strict=True)):
            p99 = _pairs([r], "p99")[0]
            cells = [f"{r[key]:g}"] + ([str(r.get("errors"))] if errors else [])
            cells += [pcols[q][i] for q in ("p50", "p95", "p99")]
            cells += [
                fmt_ci(p99[1]) if p99[0] is not None else "–",
                pcols["p999"][i],
                f(r.get("planned_hot_fraction"), "{:.3f}"),
            ]
            if io_cols:
                cells += [f(x.get("hit_ratio"), "{:.3f}"), f(x.get("blocks_per_request"), "{:.1f}")]
            cells += [
                f(r.get("fully_hot_pct"), "{:.0f}"),
                f(r.get("fully_cold_pct"), "{:.0f}"),
                f(r.get("latency_cache_corr"), "{:+.2f}"),
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


def side_by_side_table(run: Run) -> Table | None:
    """The one table of a run of several targets or strategies: a row per level, per
    section p50 / p99 ms (with its interval's mark) and the measured hit ratio where the
    store reports one; None for a run of one section (level_tables has its table)."""
    secs = run.sections
    if len(secs) < 2:
        return None
    key, head = _level_head(secs)
    counts = sorted({r["requests"] for s in secs for r in s.levels})
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}" if counts else "no"
    t = _table(f"p50 / p99 ms, same keys, {n} requests/ratio")
    t.add_column(head, justify="right", no_wrap=True)
    levels = sorted({r[key] for s in secs for r in s.levels}, reverse=True)
    columns: list[list[str]] = []
    for s in secs:
        rs = [next((x for x in s.levels if x[key] == lvl), None) for lvl in levels]
        p50, p99 = (marked_column(_pairs(rs, q)) for q in ("p50", "p99"))
        name = (s.label or f"{s.backend} · {s.strategy}").replace(" · ", "\n", 1)
        t.add_column(name, justify="right", no_wrap=True)
        columns.append([f"{a} / {b}" if r else "–" for r, a, b in zip(rs, p50, p99, strict=True)])
        hits = [((r or {}).get("io") or {}).get("hit_ratio") for r in rs]
        if any(h is not None for h in hits):
            t.add_column("hit", justify="right", no_wrap=True)
            columns.append([f(h, "{:.2f}") for h in hits])
        errs = [(r or {}).get("errors") or 0 for r in rs]
        if any(errs):
            t.add_column("err", justify="right", no_wrap=True)
            columns.append([str(e) for e in errs])
    for i, lvl in enumerate(levels):
        t.add_row(f"{lvl:g}", *(c[i] for c in columns))
    return t


def corrected_table(run: Run) -> Table | None:
    """Open-loop runs: latency from the intended start (corrected for coordinated omission)
    beside service time, p50 / p99 per level and section; None in closed loop."""
    secs = [s for s in run.sections if any(r.get("corrected_latency_ms") for r in s.levels)]
    if not secs:
        return None
    key, head = _level_head(secs)
    t = _table(
        "open loop, ms: service time (from the actual start) vs corrected latency "
        "(from the intended start)"
    )
    t.add_column("section", no_wrap=True)
    t.add_column(head, justify="right", no_wrap=True)
    for col in ("service\np50", "corrected\np50", "service\np99", "corrected\np99"):
        t.add_column(col, justify="right", no_wrap=True)
    for s in secs:
        for r in s.levels:
            lat = r.get("latency_ms") or {}
            cor = r.get("corrected_latency_ms") or {}
            t.add_row(
                f"{s.backend} · {s.strategy}",
                f"{r.get(key):g}",
                *(f(x.get(q)) for q in ("p50", "p99") for x in (lat, cor)),
            )
    return t


def thresholds_table(run: Run) -> Table | None:
    """The run's --threshold results, one row per expression and level; None without any."""
    rows = run.summary.get("thresholds") or []
    if not rows:
        return None
    failed = sum(1 for x in rows if not x.get("passed"))
    t = _table(f"thresholds: {len(rows) - failed} passed, {failed} failed")
    for col in ("threshold", "section", "ratio", "value", ""):
        t.add_column(col, justify="left" if col in ("threshold", "section") else "right")
    for x in rows:
        where = f"{x['backend']} · {x['strategy']}" if x.get("backend") else "–"
        lvl = x.get("ratio")
        level = (
            "–"
            if lvl is None
            else (f"θ {lvl:g}" if x.get("level_key") == "theta" else f"{lvl:g}% hot")
        )
        value = "–" if x.get("value") is None else f"{x['value']:.3g} {x.get('unit', '')}"
        verdict = "[green]pass[/]" if x.get("passed") else "[bold red]FAIL[/]"
        t.add_row(Text(x["expression"]), where, level, value, verdict)
    return t
