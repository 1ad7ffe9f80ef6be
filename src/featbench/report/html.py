"""The self-contained HTML report: plotly.js inlined once, every chart's data embedded,
no network access needed to open it (no CDN, no web fonts, no MathJax)."""

from __future__ import annotations

import datetime as _dt
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

import featbench
from featbench.fsutil import write_text_atomic
from featbench.measure.cost import HOURS_PER_MONTH, MONTH_DAYS
from featbench.report.answer import Answer, LevelFigures, SectionAnswer
from featbench.report.charts import Chart, fmt, fmt_ci, money
from featbench.report.costing import CostResult
from featbench.results.reader import Run

# Server settings worth a line in the header, in this order; the rest go in a detail list.
_SERVER_FIRST = (
    "version",
    "server_version",
    "embedded",
    "shared_buffers",
    "settings.shared_buffers",
    "settings.effective_cache_size",
    "settings.work_mem",
    "settings.max_connections",
)

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#1f3b5c;color:#fff;padding:18px 28px}
header h1{margin:0 0 6px;font-size:22px}
header .meta{font-size:13px;opacity:.9}
main{padding:8px 28px 40px;max-width:1200px}
.banner{margin:16px 0;padding:12px 16px;border-radius:6px;font-weight:bold}
.banner.interrupted,.banner.failed,.banner.running{background:#fff1c2;border:2px solid #e0a800;color:#6b4d00}
.banner.warn{background:#fde8e8;border:1px solid #d33;color:#7a1111;font-weight:normal}
section.run,section.fb-chart{background:#fff;border:1px solid #dde2e8;border-radius:8px;margin:18px 0;padding:14px 18px}
section.fb-chart h2{font-size:18px;margin:4px 0 4px}
p.what{margin:4px 0 10px;color:#334}
ul.notes{color:#555;font-size:13px;margin:6px 0}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border:1px solid #dde2e8;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#eef1f5}
td:first-child,th:first-child{text-align:left}
td.text{text-align:left;white-space:normal}
details{margin:6px 0}
summary{cursor:pointer;color:#1f3b5c}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px;margin:6px 0}
dl.kv dt{color:#556}
dl.kv dd{margin:0;font-family:Menlo,Consolas,monospace}
.status-complete{color:#1a7f37}.status-interrupted,.status-failed,.status-running,.status-crashed{color:#b35900;font-weight:bold}
nav.toc{font-size:13px;margin:12px 0}
nav.toc a{margin-right:12px;color:#1f3b5c}
footer{font-size:12px;color:#667;padding:0 28px 30px}
section.answer{background:#fff;border:2px solid #1f3b5c;border-radius:8px;margin:16px 0;padding:12px 18px}
section.answer h2{font-size:18px;margin:2px 0 6px}
p.verdict{font-size:17px;font-weight:bold;margin:4px 0 10px;color:#1d2733}
table.headline{font-size:13.5px}
table.headline td.best{font-weight:bold}
p.basis{font-size:12px;color:#556;margin:6px 0 0}
header .ran{font-size:13px;margin-top:4px}
section.settings>details>summary{font-size:16px;font-weight:bold}
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """One level of nesting becomes dotted keys (settings.shared_buffers), deeper stays JSON."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and not prefix:
            out.update(_flatten(v, f"{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _kv(d: dict[str, Any]) -> str:
    d = _flatten(d)
    items = []
    keys = [k for k in _SERVER_FIRST if k in d] + [k for k in d if k not in _SERVER_FIRST]
    for k in keys:
        v = d[k]
        if isinstance(v, (dict, list)):
            v = json.dumps(v, sort_keys=True, default=str)
            if len(v) > 300:
                v = v[:297] + "…"
        items.append(f"<dt>{_e(k)}</dt><dd>{_e(fmt(v) if isinstance(v, float) else v)}</dd>")
    return f'<dl class="kv">{"".join(items)}</dl>' if items else "<p>—</p>"


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return '<p class="what"><em>no numbers: not measured in these runs</em></p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for v in r:
            text = fmt(v) if not isinstance(v, str) else v
            cls = ' class="text"' if isinstance(v, str) and len(v) > 40 else ""
            cells.append(f"<td{cls}>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _run_header(run: Run) -> str:
    m = run.manifest
    spec = run.spec
    spec_line = (
        f"{spec.name} ({len(spec.entities)} entities, {len(spec.tables)} tables)"
        if spec is not None
        else _e((m.get("spec") or {}).get("name", "?"))
    )
    status = run.status
    rows = [
        ("run", run.run_id),
        ("status", status),
        ("spec", spec_line),
        ("spec fingerprint", str(m.get("spec_fingerprint", ""))[:16]),
        ("scale", fmt(run.scale, 4) if run.scale is not None else "—"),
        ("seed", run.seed),
        ("started", m.get("started_at", "—")),
        ("finished", m.get("finished_at", "—")),
        ("featbench", m.get("featbench_version", "—")),
    ]
    cfg = run.config
    for k in (
        "ratios",
        "requests",
        "warmup",
        "distribution",
        "ratio_order",
        "hot_fraction",
        "io_sample_every",
        "mode",
        "rate",
        "concurrency",
    ):
        if k in cfg:
            rows.append(
                (f"config.{k}", json.dumps(cfg[k]) if isinstance(cfg[k], (list, dict)) else cfg[k])
            )
    client = m.get("client") or {}
    if client:
        rows.append(("client", ", ".join(f"{k}={v}" for k, v in client.items())))
    kv = "".join(
        f'<dt>{_e(k)}</dt><dd class="status-{_e(v)}">{_e(v)}</dd>'
        if k == "status"
        else f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>"
        for k, v in rows
    )
    targets = []
    for t in run.targets:
        targets.append(
            f"<h3>target {_e(t['target'])} <small>({_e(t['backend'])})</small></h3>"
            f"<details><summary>server version and settings</summary>{_kv(t['server'])}</details>"
        )
    # a run that is not a result is announced by the report's first line (render_html)
    return (
        f'<section class="run" data-run-id="{_e(run.run_id)}"><h2>Run {_e(run.run_id)}</h2>'
        f'<dl class="kv">{kv}</dl>{"".join(targets)}</section>'
    )


def what_ran(run: Run) -> str:
    """One line on what a run actually did, from its sections (not from its options):
    targets with their strategies, the engine, the load model, the levels."""
    by_target: dict[str, list[str]] = {}
    for s in run.sections:
        by_target.setdefault(s.target, []).append(s.strategy)
    targets = "; ".join(f"{t} ({', '.join(v)})" for t, v in by_target.items()) or "no section"
    cfg = run.config
    engine = (
        cfg.get("engine") or (run.manifest.get("client") or {}).get("engine") or "featbench client"
    )
    if cfg.get("rate"):
        load = f"open loop at {cfg['rate']:g} req/s, {cfg.get('arrival', 'uniform')} arrivals"
    else:
        load = "closed loop"
    conc = cfg.get("concurrency") or 1
    load += f", {conc} client{'s' if conc != 1 else ''}"
    dist = cfg.get("distribution", "hotcold")
    levels = sorted({float(r[s.level_key]) for s in run.sections for r in s.levels}, reverse=True)
    unit = "θ" if any(s.level_key == "theta" for s in run.sections) else "% hot"
    lv = ", ".join(f"{x:g}" for x in levels)
    return (
        f"ran {targets} · engine: {engine} · {load} · keys: {dist}, levels ({unit}) {lv}"
        f" · {cfg.get('requests', '?')} requests/level"
    )


def status_sentence(run: Run) -> str:
    """One line on a run that is not a result: the report's first line for it."""
    reason = run.manifest.get("error")
    if run.status == "failed":
        return (
            f"⚠ run {run.run_id} FAILED"
            + (f": {reason}" if reason else "")
            + ". Its figures describe failed requests, not the store; no cost is priced from it."
        )
    if run.status == "running":
        return (
            f"⚠ run {run.run_id} RUNNING: it has not finished yet; "
            "the report shows the ratios it completed."
        )
    if run.status == "crashed":
        return (
            f"⚠ run {run.run_id} CRASHED: {run.crash_reason}; "
            "the report shows the ratios it completed."
        )
    return (
        f"⚠ run {run.run_id} {run.status.upper()}: it did not finish; "
        "the report shows the ratios it completed."
    )


def _thresholds(run: Run) -> str:
    rows = run.summary.get("thresholds") or []
    if not rows:
        return ""
    failed = sum(1 for x in rows if not x.get("passed"))
    body = [
        [
            x["expression"],
            f"{x['backend']} · {x['strategy']}" if x.get("backend") else "—",
            "—" if x.get("ratio") is None else x["ratio"],
            "—" if x.get("value") is None else f"{x['value']:.4g} {x.get('unit', '')}",
            "pass" if x.get("passed") else "FAIL",
        ]
        for x in rows
    ]
    cls = "failed" if failed else "complete"
    return (
        f'<h3 class="thresholds status-{cls}">thresholds: {len(rows) - failed} passed, {failed} failed</h3>'
        + _table(["threshold", "section", "ratio", "value", "result"], body)
    )


def _level_cell(x: LevelFigures | None) -> str:
    if x is None or x.p99_ms is None:
        return "—"
    ci = f" [{fmt_ci(list(x.p99_ci_ms))}]" if x.p99_ci_ms else ""
    return f"{fmt(x.p99_ms)} ms{ci} at {x.where}"


def _break_even_cell(a: SectionAnswer, several: bool) -> str:
    if not a.break_even:
        return "— (one store in the run)" if not several else "—"
    parts = []
    for c in a.break_even:
        pg, other = c.other.split(" vs ", 1)
        vs = other if pg == a.label else pg
        parts.append(
            f"{c.hot_pct:.0f}% hot vs {vs}" if c.hot_pct is not None else f"no crossing vs {vs}"
        )
    return "; ".join(parts)


def _answer_html(ans: Answer) -> str:
    several = len({s.backend for s in ans.sections}) > 1
    rows = []
    for a in ans.sections:
        hit_h = (
            fmt(a.hottest.hit_ratio, 3) if a.hottest and a.hottest.hit_ratio is not None else "—"
        )
        hit_c = (
            fmt(a.coldest.hit_ratio, 3) if a.coldest and a.coldest.hit_ratio is not None else "—"
        )
        cost = money(a.cost_per_million) if a.cost_per_million is not None else "—"
        rows.append(
            f'<tr data-section="{_e(a.label)}"><td>{_e(a.label)}<br><small>{_e(a.target)}</small></td>'
            f"<td>{_e(_level_cell(a.hottest))}</td><td>{_e(hit_h)}</td>"
            f"<td>{_e(_level_cell(a.coldest))}</td><td>{_e(hit_c)}</td>"
            f'<td class="text">{_e(_break_even_cell(a, several))}</td>'
            f'<td title="{_e(a.cost_label or a.cost_why or "")}">{_e(cost)}</td></tr>'
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "target · strategy",
            "p99 hottest [95% CI]",
            "hit ratio",
            "p99 coldest [95% CI]",
            "hit ratio",
            "break-even skew",
            "cost / million requests",
        )
    )
    basis = (
        f"Cost per million requests {ans.cost_basis}, list prices (details at the end). "
        if ans.cost_basis
        else "No cost: no request rate to price (give --qps). "
    )
    return (
        '<section class="answer" id="answer" data-block="headline"><h2>The answer</h2>'
        f'<p class="verdict">{_e(ans.verdict)}</p>'
        f'<table class="headline"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        f'<p class="basis">{_e(basis)}p99 in ms with its distribution-free 95% interval '
        "(? = open: too few requests for a bound). Hit ratio: shared-buffer hits measured by "
        "the server (— where the store exposes none).</p></section>"
    )


def _chart_html(chart: Chart, index: int) -> str:
    div = pio.to_html(
        chart.figure,
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=f"chart-{chart.id}",
        config={"displaylogo": False, "responsive": True},
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in chart.notes)
    return (
        f'<section class="fb-chart" id="{_e(chart.id)}" data-chart="{_e(chart.id)}" data-measured="{str(chart.measured).lower()}">'
        f'<h2>{index}. {_e(chart.title)}</h2><p class="what">{_e(chart.sentence)}</p>{div}'
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + f"<details><summary>numbers behind the chart</summary>{_table(chart.table.columns, chart.table.rows)}</details>"
        "</section>"
    )


def _cost_inputs(cost: CostResult) -> str:
    rows = [
        [i.name, fmt(i.value, 3) if not isinstance(i.value, str) else i.value, i.unit, i.source]
        for i in cost.inputs
    ]
    prices = [[k, p.value, p.unit, p.source, p.date] for k, p in cost.prices.prices.items()]
    prices += [
        [
            f"elasticache.nodes.{n.name}",
            n.hourly,
            f"USD per node-hour, {n.memory_gib:g} GiB",
            n.source,
            n.date,
        ]
        for n in cost.prices.nodes
    ]
    rates = [[b.a, b.b, fmt(b.qps, 1), b.note] for b in cost.break_even_rates]
    return (
        '<section class="run" id="cost-inputs"><h2>Cost inputs, prices and break-even rates</h2>'
        f'<p class="what">A month is {HOURS_PER_MONTH:g} h ({MONTH_DAYS:.2f} days). Prices from {_e(cost.prices.origin)}.</p>'
        + _table(["input", "value", "unit", "source"], rows)
        + "<h3>break-even request rates</h3>"
        + _table(["option", "vs", "req/s", "meaning"], rates)
        + f"<details><summary>prices used</summary>{_table(['price', 'value', 'unit', 'source', 'date'], prices)}</details>"
        + "</section>"
    )


def render_html(
    runs: Sequence[Run],
    charts: Sequence[Chart],
    *,
    cost: CostResult | None = None,
    answer: Answer | None = None,
    generated_at: _dt.datetime | None = None,
) -> str:
    now = (generated_at or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    title = "featbench report — " + ", ".join(r.run_id for r in runs)
    fps = {r.manifest.get("spec_fingerprint") for r in runs}
    warn = ""
    if len(fps) > 1:
        warn = '<div class="banner warn">These runs used different workload specs (fingerprints differ): compare their numbers with care.</div>'
    toc = "".join(f'<a href="#{_e(c.id)}">{i}. {_e(c.title)}</a>' for i, c in enumerate(charts, 1))
    status_words = sorted({r.status for r in runs})
    data = {
        "featbench_version": featbench.__version__,
        "generated_at": now,
        "runs": [
            {
                "run_id": r.run_id,
                "status": r.status,
                "sections": [
                    {
                        "label": s.label,
                        "target": s.target,
                        "backend": s.backend,
                        "strategy": s.strategy,
                        "ratios": s.levels,
                    }
                    for s in r.sections
                ],
            }
            for r in runs
        ],
        "cost": cost.as_dict() if cost is not None else None,
        "answer": answer.as_dict() if answer is not None else None,
    }
    data_json = json.dumps(data, default=str).replace("</", "<\\/")
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head>",
        f'<body data-chart-count="{len(charts)}" data-status="{_e(",".join(status_words))}">',
        # a run that is not a result says so on the page's first line
        *(
            f'<div class="banner {_e(r.status)}" data-first-line="status">{_e(status_sentence(r))}</div>'
            for r in runs
            if r.partial
        ),
        f"<header><h1>featbench report: {_e(', '.join(r.run_id for r in runs))}</h1>"
        + "".join(f'<div class="ran">{_e(what_ran(r))}</div>' for r in runs)
        + f'<div class="meta">featbench {_e(featbench.__version__)} · generated {_e(now)}</div></header><main>',
        warn,
        _answer_html(answer) if answer is not None else "",
        *(_thresholds(r) for r in runs),
        f'<nav class="toc">{toc}</nav>',
        *(_chart_html(c, i) for i, c in enumerate(charts, 1)),
        _cost_inputs(cost) if cost is not None else "",
        '<section class="settings" id="settings"><details><summary>Settings, server configuration and manifest</summary>'
        + "".join(_run_header(r) for r in runs)
        + "</details></section>",
        "</main>",
        "<footer>Targets are shown without credentials. Latency: monotonic clock, first byte sent to last row received. "
        "Percentiles from HDR histograms (3 significant digits) except where a table says it used the per-request log.</footer>",
        f'<script type="application/json" id="featbench-data">{data_json}</script>',
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def write_html(path: Path, text: str) -> Path:
    """Write atomically: a crash never leaves a half-written report in place."""
    return write_text_atomic(path, text)
