"""Chart definitions: each chart is built once as a plotly Figure plus the table of
numbers behind it; the HTML writer and the PNG writer both render that same object.

The seven charts of the original Lakebase benchmark always appear (with a visible "not
measured" note where a run lacks the data, never an invented figure); the others appear
when the runs have what they show (several strategies, several targets, per-request logs, open-loop
corrected latency, a cost result).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from featbench.measure import cost as cm
from featbench.measure.percentiles import LEGEND, interval, mark, percentile
from featbench.report.costing import REQUEST_COLUMNS, CostResult
from featbench.results.reader import Run, Section

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)
ENTITY_SCALE = "Blues"
HEIGHT = 430


@dataclass
class TableData:
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Chart:
    id: str
    title: str
    sentence: str  # one sentence: what the chart shows
    figure: go.Figure
    table: TableData
    notes: list[str] = field(default_factory=list)
    measured: bool = True  # False: the chart only says why it has no data


# -- formatting ----------------------------------------------------------------------
def fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != 0 and abs(v) < 10 ** (-digits):
            return f"{v:.{digits}g}"
        return f"{v:,.{digits}f}"
    return str(v)


def short(v: float | None) -> str:
    """A latency in ms in at most 4 characters below 10 s (3 significant digits): 5.97, 12.3, 181."""
    if v is None:
        return "?"
    if v < 9.995:  # what rounds to 10.00 is written 10.0
        return f"{v:.2f}"
    return f"{v:.1f}" if v < 99.95 else f"{v:.0f}"


def fmt_ci(ci: Sequence[float | None] | None) -> str:
    """A 95% interval as "lo–hi" ("?" for an open bound); "—" when none was recorded."""
    if ci is None or len(ci) != 2:
        return "—"
    return f"{short(ci[0])}–{short(ci[1])}"


def fmt_marked(v: float | None, ci: Sequence[float | None] | None, digits: int = 2) -> str:
    """A percentile with its interval's mark ("?" open, "~" wider than ±25%)."""
    return fmt(v, digits) + mark(v, ci)


def money(v: float | None) -> str:
    if v is None:
        return "—"
    if abs(v) >= 100:
        return f"${v:,.0f}"
    if abs(v) >= 1:
        return f"${v:,.2f}"
    return f"${v:.3g}" if v else "$0"


def _base_layout(
    fig: go.Figure, title: str, x: str | None = None, y: str | None = None
) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        template="plotly_white",
        height=HEIGHT,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "yanchor": "top", "y": -0.15, "x": 0},
        font={"family": "Helvetica, Arial, sans-serif", "size": 12},
    )
    if x:
        fig.update_xaxes(title_text=x)
    if y:
        fig.update_yaxes(title_text=y)
    return fig


def _empty(title: str, why: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=why,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 14, "color": "#666"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base_layout(fig, title)


def _auto_log(fig: go.Figure, ratio: float = 20.0) -> go.Figure:
    """Latency across stores can differ by orders of magnitude (Redis vs a remote
    DynamoDB): switch the y axis to log scale when one linear axis would flatten a series."""
    ys = [
        float(v)
        for tr in fig.data
        for v in (getattr(tr, "y", None) or ())
        if isinstance(v, (int, float)) and v > 0
    ]
    if ys and max(ys) / min(ys) > ratio:
        fig.update_yaxes(type="log", dtick="D2")  # labels at 1, 2, 5 only: none overlap
    return fig


def _colors(sections: Sequence[Section]) -> dict[str, str]:
    return {s.label: PALETTE[i % len(PALETTE)] for i, s in enumerate(sections)}


def _xtitle(sections: Sequence[Section]) -> str:
    return "Zipf θ" if sections and sections[0].level_key == "theta" else "hot traffic (%)"


def _xfmt(s: Section, r: dict[str, Any]) -> str:
    v = r.get(s.level_key)
    return f"θ={v:g}" if s.level_key == "theta" else f"{v:g}%"


def _sorted_levels(s: Section) -> list[dict[str, Any]]:
    return sorted(s.levels, key=lambda r: float(r[s.level_key]))


def _get(r: dict[str, Any], *path: str) -> float | None:
    v: Any = r
    for p in path:
        v = v.get(p) if isinstance(v, dict) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


CI_NOTE = (
    "Error bars: each percentile's distribution-free 95% interval (order statistics over the "
    "ratio's requests, summary.json latency_ci_ms). Hollow markers: the interval is open (too "
    "few requests for a bound; the bar is drawn on the side that has one) or wider than ±25% of "
    "the value. In the table: " + LEGEND + "."
)


CI_NOTE_BARS = CI_NOTE.replace("Hollow markers", "Hatched bars")


def _ci(r: dict[str, Any], key: str, q: str) -> list[float | None] | None:
    """The recorded interval of percentile q of `key` (latency_ms → latency_ci_ms)."""
    ci = (r.get(key.replace("_ms", "_ci_ms")) or {}).get(q)
    return ci if isinstance(ci, list) and len(ci) == 2 else None


def _ci_style(
    rs: Sequence[dict[str, Any]], key: str, q: str, width: float = 1.5, *, bar: bool = False
) -> dict[str, Any]:
    """Trace arguments drawing percentile q's intervals: error bars to the bounds, and hollow
    markers (hatched bars) where the interval is open or wide; nothing for runs that record
    none."""
    cis = [_ci(r, key, q) for r in rs]
    if all(c is None for c in cis):
        return {}
    plus, minus, symbols = [], [], []
    for r, ci in zip(rs, cis, strict=True):
        v = _get(r, key, q)
        lo, hi = ci if ci is not None else (None, None)
        plus.append(hi - v if v is not None and hi is not None else None)
        minus.append(v - lo if v is not None and lo is not None else None)
        symbols.append("circle-open" if mark(v, ci) else "circle")
    err = {"type": "data", "array": plus, "arrayminus": minus, "thickness": width}
    if bar:
        hatch = ["/" if m == "circle-open" else "" for m in symbols]
        return {"error_y": err, "marker_pattern_shape": hatch}
    return {"error_y": err, "marker": {"symbol": symbols, "size": 8}}


def _has_ci(sections: Sequence[Section]) -> bool:
    return any(r.get("latency_ci_ms") for s in sections for r in s.levels)


def _pct_cells(r: dict[str, Any], key: str, qs: Sequence[str]) -> list[str]:
    """Table cells: each percentile (with its mark) followed by its 95% interval."""
    lat = r.get(key) or {}
    out = []
    for q in qs:
        ci = _ci(r, key, q)
        out += [fmt_marked(_get(lat, q), ci), fmt_ci(ci) if _get(lat, q) is not None else "—"]
    return out


# The one sentence under each chart: what it shows.
WHAT = {
    "latency": (
        "Request latency percentiles (p50 dotted, p95 dashed, p99 solid, its 95% interval "
        "shaded) at each hot-traffic ratio, one panel per target and strategy: the core story "
        "of how skew moves the tail."
    ),
    "break_even": (
        "p99 of each store against hot traffic; the dotted line marks the hot % where "
        "PostgreSQL's p99 crosses the other store's (measured when both are in the report, "
        "otherwise against a reference p99 flagged as an assumption)."
    ),
    "cache": (
        "p99 latency against the cache as the server measured it (shared-buffer hit ratio, "
        "solid) and as the plan intended it (planned hot fraction, dotted): how much locality "
        "buys."
    ),
    "entities": (
        "Each entity's p99 as a share of the sum of the entities' p99s, per ratio (cell text: "
        "the entity's p99 in ms): which entity dominates the tail."
    ),
    "io": (
        "Shared-buffer block hits and reads per request (server counters ÷ requests) and blocks"
        " per request from EXPLAIN (ANALYZE, BUFFERS) samples, against hot traffic: how many "
        "pages a request really costs."
    ),
    "worst_case": (
        "Latency distribution of the requests in which every entity's key was cold — the full "
        "fan-out missing the cache — over all ratios, from the per-request log (percentiles "
        "computed exactly from it)."
    ),
    "timeseries": (
        "Requests per second and p99 in short time buckets over the run (one line per series): "
        "stalls, warm-up effects and drift show here, averaged away elsewhere."
    ),
    "corrected": (
        "p99 measured from each request's scheduled start (corrected for coordinated omission, "
        "dashed) beside p99 from its actual start (service time, solid): the gap is queueing a "
        "closed loop hides."
    ),
    "cost": (
        "What each option costs per day, per month and per million requests at the given rate, "
        "with the formula of every line and the inputs (measured, estimated or given) below."
    ),
}


NO_HOTCOLD = "no hot/cold ratios in these runs"
# What a chart says when the runs lack its data: chart id -> (sentence, why, notes).
NOT_MEASURED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "break_even": (
        "PostgreSQL p99 against another store's p99 by hot traffic; the crossing is the break-even skew.",
        NO_HOTCOLD,
        (),
    ),
    "entities": (
        "Each entity's share of the request's p99 per ratio.",
        "per-entity latency not measured by these strategies",
        (
            "Per-entity time is measured by the serial (and parallel) strategies only; it is never estimated.",
        ),
    ),
    "distribution": ("Fully hot, mixed and fully cold requests per ratio.", NO_HOTCOLD, ()),
    "io": (
        "Blocks touched per request (buffer hits and disk reads) against hot traffic.",
        "no block counters: the store exposes none",
        ("DynamoDB and Redis report no buffer or block counters; PostgreSQL runs do.",),
    ),
    "worst_case": (
        "Latency distribution of requests where every entity's key was cold.",
        "no per-request log with fully cold requests in these runs",
        (),
    ),
}


def _not_measured(cid: str, title: str, columns: Sequence[str]) -> Chart:
    """A chart without data: it says why, and invents no figure."""
    sentence, why, notes = NOT_MEASURED[cid]
    return Chart(
        cid, title, sentence, _empty(title, why), TableData(list(columns), []), list(notes), False
    )


def _line(
    xs: Sequence[Any],
    ys: Sequence[Any],
    name: str,
    color: str | None = None,
    *,
    dash: str | None = None,
    width: float | None = None,
    mode: str = "lines+markers",
    **kw: Any,
) -> go.Scatter:
    """One series of a line chart (`kw`: more trace arguments, e.g. error bars)."""
    line = {k: v for k, v in (("color", color), ("dash", dash), ("width", width)) if v is not None}
    return go.Scatter(x=list(xs), y=list(ys), name=name, mode=mode, line=line, **kw)


def _series(s: Section) -> tuple[list[dict[str, Any]], list[float]]:
    """A section's levels in ascending order, and their x values."""
    rs = _sorted_levels(s)
    return rs, [float(r[s.level_key]) for r in rs]


def _p99_line(s: Section, rs: Sequence[dict[str, Any]], key: str = "latency_ms") -> list[Any]:
    return [_get(r, key, "p99") for r in rs]


def _ci_notes(sections: Sequence[Section], bars: bool = False) -> list[str]:
    return [CI_NOTE_BARS if bars else CI_NOTE] if _has_ci(sections) else []


# -- 1. latency vs hot % ----------------------------------------------------------------
QUANTILE_STYLE = {  # one look per percentile in every facet, so one legend reads them all
    "p99": ("#1f3b5c", "solid", 3.0),
    "p95": ("#4a7ab0", "dash", 1.5),
    "p50": ("#7fa7d4", "dot", 1.5),
}
BAND = "rgba(31,59,92,0.16)"


def facet_grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max(n, 1), max_cols)
    return -(-max(n, 1) // cols), cols


def _facets(sections: Sequence[Section]) -> tuple[go.Figure, int, int]:
    """A grid of panels, one per target and strategy, each titled with its label."""
    nrows, ncols = facet_grid(len(sections))
    fig = make_subplots(
        rows=nrows, cols=ncols, subplot_titles=[s.label for s in sections] or None,
        horizontal_spacing=0.07, vertical_spacing=min(0.18, 0.5 / max(nrows, 1)),
    )  # fmt: skip
    return fig, nrows, ncols


def _facet_layout(fig: go.Figure, title: str, nrows: int, x: str, y: str) -> go.Figure:
    """Axis titles once (bottom row, first column), each panel's own y axis from zero, few
    ticks so that labels never overlap, and room for the panel titles under the chart's."""
    fig = _base_layout(fig, title)
    fig.update_layout(height=max(HEIGHT, 300 * nrows + 130), margin={"t": 80})
    fig.update_xaxes(title_text=x, row=nrows)
    fig.update_yaxes(title_text=y, col=1)
    fig.update_yaxes(rangemode="tozero", nticks=6)
    return fig


def _band(xs: Sequence[float], ci: Sequence[list[float | None] | None], first: bool) -> list[go.Scatter]:  # fmt: skip
    """The p99 interval as a shaded band (gaps where a bound is open)."""
    lo = [c[0] if c else None for c in ci]
    hi = [c[1] if c else None for c in ci]
    common = {"x": list(xs), "mode": "lines", "line": {"width": 0}, "hoverinfo": "skip",
              "legendgroup": "band", "connectgaps": False}  # fmt: skip
    return [
        go.Scatter(y=lo, showlegend=False, name="p99 95% interval (low)", **common),
        go.Scatter(
            y=hi,
            fill="tonexty",
            fillcolor=BAND,
            showlegend=first,
            name="p99 95% interval",
            **common,
        ),  # fmt: skip
    ]


def chart_latency(sections: Sequence[Section]) -> Chart:
    """One facet per target and strategy (its own y axis: stores differ by orders of
    magnitude), p50/p95/p99 lines and p99's 95% interval as a band."""
    title = "Latency vs hot traffic"
    fig, nrows, ncols = _facets(sections)
    rows = []
    for i, s in enumerate(sections):
        r_, c_ = i // ncols + 1, i % ncols + 1
        rs, xs = _series(s)
        cis = [_ci(r, "latency_ms", "p99") for r in rs]
        if any(c is not None for c in cis):
            for tr in _band(xs, cis, i == 0):
                fig.add_trace(tr, row=r_, col=c_)
        for q, (color, dash, width) in QUANTILE_STYLE.items():
            ys = [_get(r, "latency_ms", q) for r in rs]
            # p99 also gets error bars: they show the one bound an open interval has
            style = _ci_style(rs, "latency_ms", q, 1.2) if q == "p99" else {}
            style.setdefault("marker", {"symbol": [
                "circle-open" if mark(y, _ci(r, "latency_ms", q)) else "circle"
                for y, r in zip(ys, rs, strict=True)
            ], "size": 6})  # fmt: skip
            fig.add_trace(
                _line(xs, ys, q, color, dash=dash, width=width, legendgroup=q,
                      showlegend=i == 0, meta={"section": s.label, "quantile": q}, **style),
                row=r_, col=c_,
            )  # fmt: skip
        for r in rs:
            lat = r.get("latency_ms") or {}
            rows.append(
                [s.label, _xfmt(s, r), r.get("requests"), r.get("errors")]
                + _pct_cells(r, "latency_ms", ("p50", "p95", "p99", "p999"))
                + [fmt(_get(lat, q)) for q in ("max", "mean")]
            )
    ci_cols = [c for q in ("p50", "p95", "p99", "p99.9") for c in (f"{q} ms", f"{q} 95% CI")]
    fig = _facet_layout(fig, title, nrows, _xtitle(sections), "latency (ms)")
    table = TableData(["series", "hot", "requests", "errors", *ci_cols, "max ms", "mean ms"], rows)
    notes = [
        "One panel per target and strategy, each with its own latency axis. The band and the "
        "error bars are p99's distribution-free 95% interval (the band is missing and the bar "
        "one-sided where the interval is open: too few requests for a bound); hollow markers: "
        "the interval is open or wider than ±25% of the value. "
        "In the table: " + LEGEND + "."
    ] if _has_ci(sections) else []  # fmt: skip
    return Chart("latency", title, WHAT["latency"], fig, table, notes)


# -- 2. break-even skew -------------------------------------------------------------------
BREAK_EVEN_COLUMNS = ["comparison", "break-even hot %", "basis", "what it means"]


def chart_break_even(
    sections: Sequence[Section], crossings: Sequence[cm.SkewCrossing], reference_p99: float | None
) -> Chart:
    title = "Break-even skew"
    hot = [s for s in sections if s.level_key == "hot_pct"]
    if not hot:
        return _not_measured("break_even", title, BREAK_EVEN_COLUMNS)
    fig = go.Figure()
    colors = _colors(sections)
    for s in hot:
        rs, xs = _series(s)
        fig.add_trace(
            _line(xs, _p99_line(s, rs), f"{s.label} p99", colors[s.label], width=3,
                  **_ci_style(rs, "latency_ms", "p99"))
        )  # fmt: skip
    if reference_p99 is not None:
        fig.add_hline(
            y=reference_p99,
            line={"dash": "dash", "color": "#555"},
            annotation_text=f"reference p99 {reference_p99:g} ms (assumption)",
            annotation_position="top left",
        )
    marked = [c for c in crossings if c.hot_pct is not None]
    for i, c in enumerate(marked):
        # Stagger the labels so that neighbouring crossings stay readable.
        fig.add_vline(x=c.hot_pct, line={"dash": "dot", "color": "#000"})
        fig.add_annotation(
            x=c.hot_pct,
            y=1.0 - 0.08 * (i % 4),
            xref="x",
            yref="paper",
            showarrow=False,
            xanchor="left" if c.hot_pct < 55 else "right",
            text=f" {c.hot_pct:.1f}%: {c.other} ",
            font={"size": 11},
            bgcolor="rgba(255,255,255,0.8)",
        )
    notes = _ci_notes(hot)
    if not crossings:
        notes.append(
            "These runs hold one store only: add a run of another store to the report, or pass "
            "--reference-p99 MS (another store's p99) to mark where PostgreSQL crosses it."
        )
    rows = [[c.other, fmt(c.hot_pct, 1), c.basis, c.note] for c in crossings]
    fig = _auto_log(_base_layout(fig, title, "hot traffic (%)", "p99 latency (ms)"))
    table = TableData(BREAK_EVEN_COLUMNS, rows)
    return Chart("break_even", title, WHAT["break_even"], fig, table, notes)


# -- 3. cache locality -> latency -------------------------------------------------------------
def chart_cache(sections: Sequence[Section]) -> Chart:
    """One panel per target and strategy: p99 against the measured hit ratio and against
    the planned hot fraction."""
    title = "Cache locality → latency"
    fig, nrows, ncols = _facets(sections)
    rows: list[list[Any]] = []
    any_hit = False
    measured_c, planned_c = QUANTILE_STYLE["p99"][0], "#d62728"
    for i, s in enumerate(sections):
        r_, c_ = i // ncols + 1, i % ncols + 1
        rs = _sorted_levels(s)
        p99 = _p99_line(s, rs)
        hit = [_get(r, "io", "hit_ratio") for r in rs]
        planned = [_get(r, "planned_hot_fraction") for r in rs]
        labels = [_xfmt(s, r) for r in rs]
        if any(h is not None for h in hit):
            first_hit = not any_hit
            any_hit = True
            err = _ci_style(rs, "latency_ms", "p99").get("error_y")
            fig.add_trace(
                _line(hit, p99, "measured hit ratio", measured_c, width=3, legendgroup="hit",
                      showlegend=first_hit, text=labels, textposition="top center",
                      mode="lines+markers+text" if ncols == 1 else "lines+markers",
                      marker={"size": 8}, error_y=err,
                      meta={"section": s.label}),
                row=r_, col=c_,
            )  # fmt: skip
        fig.add_trace(
            _line(planned, p99, "planned hot fraction", planned_c, dash="dot", text=labels,
                  legendgroup="planned", showlegend=i == 0,
                  marker={"symbol": "circle-open", "size": 8}, meta={"section": s.label}),
            row=r_, col=c_,
        )  # fmt: skip
        for r, h, pl, lat in zip(rs, hit, planned, p99, strict=False):
            ci = _ci(r, "latency_ms", "p99")
            rows.append(
                [s.label, _xfmt(s, r), fmt(pl, 3), fmt(h, 4), fmt(_get(r, "latency_ms", "p50")),
                 fmt_marked(lat, ci), fmt_ci(ci), fmt(_get(r, "latency_cache_corr"), 3)]
            )  # fmt: skip
    notes = _ci_notes(sections) if any_hit else []
    if not any_hit:
        notes.append(
            "No buffer-cache counters in these runs (DynamoDB and Redis expose none): only the planned hot fraction is shown."
        )
    fig = _facet_layout(
        fig, title, nrows, "fraction (hit ratio / planned hot fraction)", "p99 latency (ms)"
    )
    table = TableData(
        [
            "series",
            "hot",
            "planned hot fraction",
            "measured hit ratio",
            "p50 ms",
            "p99 ms",
            "p99 95% CI",
            "latency–hot corr",
        ],
        rows,
    )
    return Chart("cache", title, WHAT["cache"], fig, table, notes)


# -- 4. entity contribution heatmap -----------------------------------------------------------
ENTITY_COLUMNS = ["series", "hot", "entity", "p99 ms", "share of p99 %"]


def chart_entities(sections: Sequence[Section]) -> Chart:
    title = "Entity contribution to p99"
    with_data = [s for s in sections if any((r.get("entity_latency_ms") or {}) for r in s.levels)]
    if not with_data:
        return _not_measured("entities", title, ENTITY_COLUMNS)
    xs_all: list[str] = []
    ylabels: list[str] = []
    zrows: list[list[float | None]] = []
    trows: list[list[str]] = []
    rows = []
    for s in with_data:
        rs = _sorted_levels(s)
        xs = [_xfmt(s, r) for r in rs]
        xs_all = xs if len(xs) > len(xs_all) else xs_all
        entities: list[str] = []
        for r in rs:
            for e in r.get("entity_latency_ms") or {}:
                if e not in entities:
                    entities.append(e)
        for e in entities:
            z, t = [], []
            for r, x in zip(rs, xs, strict=False):
                el = r.get("entity_latency_ms") or {}
                total = sum(_get(v, "p99") or 0.0 for v in el.values())
                v = _get(el.get(e) or {}, "p99")
                share = (v / total * 100) if (v is not None and total > 0) else None
                z.append(share)
                t.append(f"{fmt(v)} ms" if v is not None else "")
                rows.append([s.label, x, e, fmt(v), fmt(share, 1)])
            ylabels.append(e if len(with_data) == 1 else f"{s.label}: {e}")
            zrows.append(z)
            trows.append(t)
    fig = go.Figure(
        go.Heatmap(
            z=zrows,
            x=xs_all,
            y=ylabels,
            text=trows,
            texttemplate="%{text}",
            colorscale=ENTITY_SCALE,
            zmin=0,
            zmax=100,
            colorbar={"title": "% of p99"},
            hoverongaps=False,
        )
    )
    fig = _base_layout(fig, title, _xtitle(with_data), None)
    table = TableData(ENTITY_COLUMNS, rows)
    return Chart("entities", title, WHAT["entities"], fig, table)


# -- 5. request distribution --------------------------------------------------------------------
DISTRIBUTION_COLUMNS = [
    "hot",
    "fully hot %",
    "expected r^E %",
    "mixed %",
    "fully cold %",
    "expected (1−r)^E %",
    "planned hot fraction",
]


def chart_distribution(sections: Sequence[Section], n_entities: int | None) -> Chart:
    title = "Request distribution"
    hot = [s for s in sections if s.level_key == "hot_pct"]
    if not hot:
        return _not_measured(
            "distribution", title, ["hot", "fully hot %", "mixed %", "fully cold %"]
        )
    s = hot[0]
    rs = _sorted_levels(s)
    xs = [f"{float(r['hot_pct']):g}%" for r in rs]
    fig = go.Figure()
    for key, name, color in (
        ("fully_hot_pct", "fully hot", "#d62728"),
        ("mixed_pct", "mixed", "#ffbb78"),
        ("fully_cold_pct", "fully cold", "#1f77b4"),
    ):
        fig.add_trace(go.Bar(x=xs, y=[_get(r, key) for r in rs], name=name, marker_color=color))
    e = n_entities
    ps = [float(r["hot_pct"]) / 100 for r in rs]
    exp_hot = [p**e * 100 if e else None for p in ps]
    exp_cold = [(1 - p) ** e * 100 if e else None for p in ps]
    rows = [
        [x, fmt(_get(r, "fully_hot_pct"), 1), fmt(eh, 1), fmt(_get(r, "mixed_pct"), 1),
         fmt(_get(r, "fully_cold_pct"), 1), fmt(ec, 1), fmt(_get(r, "planned_hot_fraction"), 3)]
        for r, x, eh, ec in zip(rs, xs, exp_hot, exp_cold, strict=True)
    ]  # fmt: skip
    if e:
        fig.add_trace(_line(xs, exp_hot, f"expected fully hot r^{e}", "#000", dash="dash"))
        fig.add_trace(_line(xs, exp_cold, f"expected fully cold (1−r)^{e}", "#555", dash="dot"))
    fig.update_layout(barmode="stack")
    return Chart(
        "distribution",
        title,
        f"Share of requests whose entities were all hot, mixed, or all cold at each ratio ({s.label}), "
        f"against the independent-entities expectation r^E and (1−r)^E with E = {e if e else '?'} entities.",
        _base_layout(fig, title, "hot traffic (%)", "requests (%)"),
        TableData(DISTRIBUTION_COLUMNS, rows),
    )


# -- 6. I/O amplification --------------------------------------------------------------------------
IO_COLUMNS = [
    "series",
    "hot",
    "buffer hits",
    "buffer reads",
    "hit ratio",
    "hits / request",
    "reads / request",
    "blocks / request (EXPLAIN)",
    "sampled requests",
]


def _per_request(r: dict[str, Any], key: str) -> float | None:
    """A ratio's io counter divided by its requests."""
    n, v = r.get("requests") or 0, _get(r, "io", key)
    return v / n if v is not None and n else None


def chart_io(sections: Sequence[Section]) -> Chart:
    title = "I/O amplification"
    with_io = [
        s
        for s in sections
        if any(
            _get(r, "io", "buffer_hits") is not None
            or _get(r, "io", "blocks_per_request") is not None
            for r in s.levels
        )
    ]
    if not with_io:
        return _not_measured("io", title, IO_COLUMNS)
    fig, colors, rows = go.Figure(), _colors(sections), []
    for s in with_io:
        rs, xs = _series(s)
        hits = [_per_request(r, "buffer_hits") for r in rs]
        reads = [_per_request(r, "buffer_reads") for r in rs]
        bpr = [_get(r, "io", "blocks_per_request") for r in rs]
        c = colors[s.label]
        fig.add_trace(_line(xs, hits, f"{s.label}: buffer hits / request", c, width=3))
        fig.add_trace(_line(xs, reads, f"{s.label}: reads / request", c, dash="dash"))
        if any(v is not None for v in bpr):
            fig.add_trace(
                _line(xs, bpr, f"{s.label}: blocks / request (EXPLAIN samples)", mode="markers",
                      marker={"color": c, "symbol": "diamond", "size": 10})
            )  # fmt: skip
        for r, h, rd, b in zip(rs, hits, reads, bpr, strict=False):
            io = r.get("io") or {}
            rows.append(
                [s.label, _xfmt(s, r), fmt(io.get("buffer_hits")), fmt(io.get("buffer_reads")),
                 fmt(_get(io, "hit_ratio"), 4), fmt(h, 1), fmt(rd, 1), fmt(b, 1),
                 fmt(io.get("sampled_requests"))]
            )  # fmt: skip
    fig = _base_layout(fig, title, _xtitle(with_io), "blocks per request")
    table = TableData(IO_COLUMNS, rows)
    return Chart("io", title, WHAT["io"], fig, table)


# -- per-request helpers ---------------------------------------------------------------------
def _section_requests(run: Run, s: Section, sections_in_run: int) -> dict[str, np.ndarray] | None:
    """The successful requests of one section (requests.parquet columns as numpy arrays)."""
    t = run.requests(REQUEST_COLUMNS)
    if "latency_us" not in t.column_names:
        return None
    from featbench.target import redact

    mask = np.ones(t.num_rows, dtype=bool)
    if "target" in t.column_names and sections_in_run > 1:
        mask &= np.array([redact(str(x)) == s.target for x in t["target"].to_pylist()])
    if "strategy" in t.column_names and sections_in_run > 1:
        mask &= np.array([x == s.strategy for x in t["strategy"].to_pylist()])
    if "error" in t.column_names:
        mask &= np.array([e is None for e in t["error"].to_pylist()])
    out: dict[str, np.ndarray] = {}
    for c in ("latency_us", "hot_entities", "start_ns", "end_ns", "hot_pct", "theta"):
        if c in t.column_names:
            arr = np.array(t[c].to_pylist(), dtype="float64")
            out[c] = arr[mask]
    return out


def _pct(a: np.ndarray, q: float) -> float | None:
    """Percentile q (in percent) of raw values, by featbench's one definition."""
    return percentile(a, q / 100.0)


def _requests_by_section(runs: Sequence[Run]) -> Iterator[tuple[Section, dict[str, np.ndarray]]]:
    """Every section of the runs with its successful requests (sections without a log skipped)."""
    for run in runs:
        for s in run.sections:
            req = _section_requests(run, s, len(run.sections))
            if req is not None:
                yield s, req


# -- 7. worst case: fully cold requests ------------------------------------------------------------
WORST_COLUMNS = [
    "series",
    "fully cold requests",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "p99 95% CI",
    "max ms",
    "all requests p99 ms",
]


def chart_worst_case(runs: Sequence[Run]) -> Chart:
    title = "Worst case: fully cold requests"
    fig = go.Figure()
    rows = []
    colors = _colors([s for r in runs for s in r.sections])
    for s, req in _requests_by_section(runs):
        if "hot_entities" not in req:
            continue
        lat = req["latency_us"] / 1000.0
        cold = lat[req["hot_entities"] == 0]
        if cold.size == 0:
            continue
        fig.add_trace(
            go.Histogram(
                x=cold,
                name=s.label,
                opacity=0.55,
                marker_color=colors[s.label],
                nbinsx=60,
                histnorm="percent",
            )
        )
        ci99 = list(interval(cold, 0.99))
        rows.append(
            [s.label, int(cold.size), fmt(_pct(cold, 50)), fmt(_pct(cold, 95)),
             fmt_marked(_pct(cold, 99), ci99), fmt_ci(ci99), fmt(float(cold.max())),
             fmt(_pct(lat, 99))]
        )  # fmt: skip
    if not rows:
        return _not_measured("worst_case", title, WORST_COLUMNS)
    fig.update_layout(barmode="overlay")
    fig = _base_layout(fig, title, "latency (ms)", "share of the series' fully cold requests (%)")
    table = TableData(WORST_COLUMNS, rows)
    return Chart("worst_case", title, WHAT["worst_case"], fig, table)


# -- optional: strategies and targets side by side -------------------------------------------------
def _p99_bars(
    sections: Sequence[Section],
    cid: str,
    title: str,
    sentence: str,
    bars: Sequence[tuple[Section, str, str]],
    columns: Sequence[str],
    cells: Callable[[Section], list[Any]],
) -> Chart:
    """p99 bars per level, one bar series per (section, name, colour), grouped; the table
    gives each series' `cells`, then the level, p50, p99 and its interval."""
    fig = go.Figure()
    rows = []
    for s, name, color in bars:
        rs = _sorted_levels(s)
        fig.add_trace(
            go.Bar(
                x=[_xfmt(s, r) for r in rs],
                y=_p99_line(s, rs),
                name=name,
                marker_color=color,
                **_ci_style(rs, "latency_ms", "p99", bar=True),
            )
        )
        rows += [
            cells(s) + [_xfmt(s, r), fmt(_get(r, "latency_ms", "p50"))]
            + _pct_cells(r, "latency_ms", ("p99",))
            for r in rs
        ]  # fmt: skip
    fig.update_layout(barmode="group")
    return Chart(
        cid,
        title,
        sentence,
        _auto_log(_base_layout(fig, title, "hot traffic", "p99 latency (ms)")),
        TableData([*columns, "hot", "p50 ms", "p99 ms", "p99 95% CI"], rows),
        _ci_notes(sections, bars=True),
    )


def _by_target(sections: Sequence[Section]) -> dict[str, list[Section]]:
    by_target: dict[str, list[Section]] = {}
    for s in sections:
        by_target.setdefault(s.target, []).append(s)
    return by_target


def chart_strategies(sections: Sequence[Section]) -> Chart | None:
    groups = {t: ss for t, ss in _by_target(sections).items() if len({s.strategy for s in ss}) > 1}
    if not groups:
        return None
    multi = len(groups) > 1
    bars = [
        (s, f"{s.label if multi else s.strategy} p99", PALETTE[(i * 4 + j) % len(PALETTE)])
        for i, ss in enumerate(groups.values())
        for j, s in enumerate(ss)
    ]
    return _p99_bars(
        sections,
        "strategies",
        "Strategies side by side",
        "p99 of each execution strategy on the same target at each ratio: what the way a request is "
        "executed (round trips, batching) is worth.",
        bars,
        ["target", "strategy"],
        lambda s: [s.target, s.strategy],
    )


def chart_targets(sections: Sequence[Section]) -> Chart | None:
    by_target = _by_target(sections)
    if len(by_target) < 2:
        return None

    def med(s: Section) -> float:
        vals = [v for v in s.metric("latency_ms", "p99") if v is not None]
        return float(np.median(vals)) if vals else math.inf

    # Each target with its best strategy (lowest median p99 across levels).
    best = [min(ss, key=med) for ss in by_target.values()]
    bars = [
        (s, f"{s.backend} ({s.strategy})", PALETTE[i % len(PALETTE)]) for i, s in enumerate(best)
    ]
    return _p99_bars(
        sections,
        "targets",
        "Targets side by side",
        "p99 of each target (with its best strategy) at each ratio: the stores compared on the same workload.",
        bars,
        ["target", "backend", "strategy"],
        lambda s: [s.target, s.backend, s.strategy],
    )


# -- optional: time series ---------------------------------------------------------------------------
def chart_timeseries(runs: Sequence[Run]) -> Chart | None:
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=("throughput (requests/s)", "p99 latency (ms)"),
    )
    rows = []
    colors = _colors([s for r in runs for s in r.sections])
    any_data = False
    for s, req in _requests_by_section(runs):
        if "start_ns" not in req or req["start_ns"].size < 2:
            continue
        start = req["start_ns"]
        t0 = float(np.nanmin(start))
        secs = (start - t0) / 1e9
        span = float(np.nanmax(secs))
        if not span > 0:
            continue
        any_data = True
        width = max(span / 80.0, 0.05)
        edges = np.arange(0.0, span + width, width)
        idx = np.clip(np.digitize(secs, edges) - 1, 0, len(edges) - 1)
        lat = req["latency_us"] / 1000.0
        xs, tput, p99 = [], [], []
        for b in range(len(edges)):
            sel = lat[idx == b]
            if sel.size == 0:
                continue
            xs.append(edges[b])
            tput.append(sel.size / width)
            p99.append(percentile(sel, 0.99))
        c = colors[s.label]
        fig.add_trace(_line(xs, tput, f"{s.label} req/s", c, mode="lines"), row=1, col=1)
        fig.add_trace(_line(xs, p99, f"{s.label} p99", c, dash="dot", mode="lines"), row=2, col=1)
        key = s.level_key if s.level_key in req else None
        for v in sorted(set(req[key].tolist())) if key is not None else []:
            m = req[key] == v
            hi = req["end_ns"][m] if "end_ns" in req else start[m]
            dur = (float(np.max(hi)) - float(np.min(start[m]))) / 1e9
            rows.append(
                [s.label, f"{v:g}%" if key == "hot_pct" else f"θ={v:g}", int(m.sum()),
                 fmt(dur, 2), fmt(m.sum() / dur if dur > 0 else None, 1), fmt(_pct(lat[m], 99))]
            )  # fmt: skip
    if not any_data:
        return None
    _base_layout(fig, "Throughput and p99 over time", None, None)
    fig.update_xaxes(title_text="seconds since the first measured request", row=2, col=1)
    table = TableData(["series", "ratio", "requests", "seconds", "requests/s", "p99 ms"], rows)
    return Chart(
        "timeseries",
        "Throughput and p99 over time",
        WHAT["timeseries"],
        fig,
        table,
        ["The table gives the numbers per ratio; the chart buckets them by time."],
    )


# -- optional: corrected vs service time -----------------------------------------------------------------
def chart_corrected(sections: Sequence[Section]) -> Chart | None:
    with_c = [
        s
        for s in sections
        if any(isinstance(r.get("corrected_latency_ms"), dict) for r in s.levels)
    ]
    if not with_c:
        return None
    title = "Corrected vs service-time latency"
    fig, colors, rows = go.Figure(), _colors(sections), []
    for s in with_c:
        rs, xs = _series(s)
        c = colors[s.label]
        for key, what, dash in (
            ("latency_ms", "service-time", None),
            ("corrected_latency_ms", "corrected", "dash"),
        ):
            fig.add_trace(
                _line(xs, _p99_line(s, rs, key), f"{s.label} {what} p99", c, dash=dash,
                      **_ci_style(rs, key, "p99"))
            )  # fmt: skip
        for r in rs:
            rows.append(
                [s.label, _xfmt(s, r)]
                + [fmt(_get(r, k, "p50")) for k in ("latency_ms", "corrected_latency_ms")]
                + _pct_cells(r, "latency_ms", ("p99",))
                + _pct_cells(r, "corrected_latency_ms", ("p99",))
            )
    fig = _auto_log(_base_layout(fig, title, _xtitle(with_c), "p99 latency (ms)"))
    table = TableData(
        [
            "series",
            "hot",
            "service p50 ms",
            "corrected p50 ms",
            "service p99 ms",
            "service p99 95% CI",
            "corrected p99 ms",
            "corrected p99 95% CI",
        ],
        rows,
    )
    return Chart("corrected", title, WHAT["corrected"], fig, table, _ci_notes(with_c))


# -- optional: cost table -----------------------------------------------------------------------------
def chart_cost(result: CostResult) -> Chart:
    title = "Cost"
    qps = result.input("qps")
    opts = result.options
    header = ["option", "per day", "per month", "per million requests"]
    cells = [
        [o.label for o in opts],
        [money(o.per_day) for o in opts],
        [money(o.per_month) for o in opts],
        [money(o.per_million_requests) for o in opts],
    ]
    fig = go.Figure(
        go.Table(
            header={
                "values": header,
                "fill_color": "#1f3b5c",
                "font": {"color": "white", "size": 13},
                "align": "left",
            },
            cells={"values": cells, "align": "left", "height": 28, "font": {"size": 13}},
        )
    )
    _base_layout(fig, f"{title} at {qps.value:g} requests/s" if qps else title)
    fig.update_layout(height=260)
    rows = [
        [
            o.label,
            money(o.per_day),
            money(o.per_month),
            money(o.per_million_requests),
            "; ".join(f"{x.label}: {x.formula}" for x in o.lines),
        ]
        for o in opts
    ]
    notes = [f"break-even: {b.note}" for b in result.break_even_rates if b.qps is not None]
    notes += [n for o in opts for n in (f"{o.label}: {x}" for x in o.notes)]
    notes += [
        "The inputs (measured, estimated or given), the prices and their sources follow the charts."
    ]
    table = TableData(["option", "per day", "per month", "per million requests", "how"], rows)
    return Chart("cost", title, WHAT["cost"], fig, table, notes)


def build_charts(
    runs: Sequence[Run],
    *,
    cost: CostResult | None = None,
    reference_p99: float | None = None,
) -> list[Chart]:
    from featbench.report.costing import skew_crossings

    sections = [s for r in runs for s in r.sections]
    crossings = (
        cost.break_even_skew if cost is not None else skew_crossings(list(runs), reference_p99)
    )
    n_entities = next((len(r.entity_names) for r in runs if r.entity_names), None)
    charts: list[Chart | None] = [
        chart_latency(sections),
        chart_break_even(sections, crossings, reference_p99),
        chart_cache(sections),
        chart_entities(sections),
        chart_distribution(sections, n_entities),
        chart_io(sections),
        chart_worst_case(runs),
        chart_strategies(sections),
        chart_targets(sections),
        chart_timeseries(runs),
        chart_corrected(sections),
        chart_cost(cost) if cost is not None else None,
    ]
    out = [c for c in charts if c is not None]
    partial = sorted({r.status for r in runs if r.partial})
    if partial:
        # The mark travels with each figure, so PNGs copied elsewhere carry it too.
        mark = " — " + "/".join(p.upper() for p in partial) + " RUN"
        for c in out:
            c.title += mark
            c.figure.update_layout(title_text=(c.figure.layout.title.text or c.title) + mark)
    return out
