"""The report in a real browser: headless Debian Chromium driven by playwright.

Fails on any console error or uncaught page error, on any network request (the report
must work offline), and on any chart that did not render; saves screenshots under the
test's tmp_path. Skips only when no Chromium binary exists (CI installs Debian's
`chromium` with .ci/install-chromium).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from featbench.report.build import make_report
from runfactory import make_run

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_binary() -> str | None:
    env = os.environ.get("FEATBENCH_CHROMIUM")
    if env and Path(env).exists():
        return env
    for cand in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if cand and Path(cand).exists():
            return cand
    return None


CHROMIUM = chromium_binary()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (apt-get install chromium)"
)

# Per chart: its plotly div exists, has a drawn SVG of real size, and holds traces (or,
# for a chart that only says why it has no data, its annotation).
CHECK_CHARTS = """
() => Array.from(document.querySelectorAll('section.fb-chart')).map(sec => {
  const gd = sec.querySelector('.js-plotly-plot');
  const svg = gd ? gd.querySelector('svg.main-svg') : null;
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const drawn = gd ? gd.querySelectorAll(
      'g.trace path, g.trace rect, g.points path, g.hm image, image, g.table .cell-text').length : 0;
  return {
    id: sec.id,
    measured: sec.dataset.measured === 'true',
    plots: sec.querySelectorAll('.js-plotly-plot').length,
    traces: gd && gd.data ? gd.data.length : 0,
    width: box.width, height: box.height,
    drawn: drawn,
    annotation: gd ? gd.querySelectorAll('g.annotation').length : 0,
  };
})
"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


def open_report(browser, path: Path, width: int = 1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def no_network(route):
        problems.append(f"network request: {route.request.url}")
        route.abort()

    page.route(lambda url: not url.startswith("file:"), no_network)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
    page.wait_for_timeout(300)  # let plotly finish its async layout passes
    return page, problems


def check_rendered(page, expected: int) -> list[dict]:
    charts = page.evaluate(CHECK_CHARTS)
    assert len(charts) == expected == int(page.get_attribute("body", "data-chart-count"))
    for c in charts:
        assert c["plots"] == 1, c
        assert c["width"] > 300 and c["height"] > 150, c
        if c["measured"]:
            assert c["traces"] > 0 and c["drawn"] > 0, c
        else:
            assert c["annotation"] > 0, c  # says why it is empty
    return charts


def test_full_report_renders_in_chromium(browser, tmp_path: Path):
    pg = make_run(
        tmp_path,
        "20261126T081500Z-3f2a1c",
        strategies=("serial", "pipeline"),
        open_loop=True,
        requests=120,
        extra_targets=(
            ("dynamodb", "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:5000", ("batch",)),
        ),
    )
    res = make_report([pg], qps=2000, reference_p99=8.0)
    page, problems = open_report(browser, res.html)
    charts = check_rendered(page, len(res.charts))
    ids = [c["id"] for c in charts]
    assert ids[:7] == [
        "latency",
        "break_even",
        "cache",
        "entities",
        "distribution",
        "io",
        "worst_case",
    ]
    for optional in ("strategies", "targets", "timeseries", "corrected", "cost"):
        assert optional in ids
    assert all(c["measured"] for c in charts)
    # The data embedded for machines parses, and the cost table shows a dollar figure.
    data = page.evaluate("JSON.parse(document.getElementById('featbench-data').textContent)")
    assert data["runs"][0]["run_id"] == "20261126T081500Z-3f2a1c"
    assert "$" in page.inner_text("#cost")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    page.close()
    assert problems == []


def test_interrupted_and_sparse_report_renders(browser, tmp_path: Path):
    d = make_run(
        tmp_path,
        status="interrupted",
        strategies=("pipeline",),
        ratios=(100, 50),
        requests=40,
        with_requests=False,
    )
    res = make_report([d])
    page, problems = open_report(browser, res.html)
    charts = check_rendered(page, len(res.charts))
    assert any(not c["measured"] for c in charts)  # entities/worst case say why, not blank
    banner = page.locator(".banner.interrupted")
    assert banner.is_visible() and "INTERRUPTED" in banner.inner_text()
    # the page's first line says so
    first = page.evaluate("document.body.innerText.trim().split('\\n')[0]")
    assert "INTERRUPTED" in first, first
    assert "From an interrupted run" in page.inner_text("p.verdict")
    page.screenshot(path=str(tmp_path / "interrupted.png"))
    page.close()
    assert problems == []


LAYOUT = """
() => {
  const top = el => el.getBoundingClientRect().top + window.scrollY;
  const main = document.querySelector('main');
  const firstBlock = Array.from(main.children).find(el => el.offsetHeight > 0);
  const charts = Array.from(document.querySelectorAll('section.fb-chart'));
  const settings = document.querySelector('section#settings');
  return {
    first_block: firstBlock ? (firstBlock.id || firstBlock.className) : null,
    answer_top: top(document.querySelector('section.answer')),
    first_chart_top: top(charts[0]),
    last_chart_top: top(charts[charts.length - 1]),
    settings_top: top(settings),
    settings_open: settings.querySelector('details').open,
    header: document.querySelector('header').innerText,
  };
}
"""

# Tick labels of every axis of every chart: pairs that overlap on the page.
OVERLAPPING_TICKS = """
() => {
  const bad = [];
  for (const [layer, along] of [['.yaxislayer-above', 'y'], ['.xaxislayer-above', 'x']]) {
    document.querySelectorAll(layer).forEach(ax => {
      const boxes = Array.from(ax.querySelectorAll('text')).map(t => t.getBoundingClientRect())
        .filter(b => b.width > 0 && b.height > 0)
        .sort((a, b) => along === 'y' ? a.top - b.top : a.left - b.left);
      for (let i = 1; i < boxes.length; i++) {
        const a = boxes[i - 1], b = boxes[i];
        const overlap = along === 'y' ? a.bottom - b.top : a.right - b.left;
        if (overlap > 1) bad.push(ax.closest('section').id + ' ' + along + ' ' + overlap.toFixed(1));
      }
    });
  }
  return bad;
}
"""

P99_TRACES = """
() => {
  const gd = document.querySelector('#latency .js-plotly-plot');
  return gd.data.filter(t => t.meta && t.meta.quantile === 'p99')
               .map(t => ({section: t.meta.section, x: Array.from(t.x), y: Array.from(t.y)}));
}
"""


def test_multi_target_report_answers_first(browser, tmp_path: Path):
    """The issue's "Done when": at 1400x900 the headline block is the first thing on the
    page and the first chart starts within 1,000 px; no console error; every chart drawn;
    the p99 chart's numbers are summary.json's; settings last and collapsed; the header
    says what ran."""
    import json

    d = make_run(
        tmp_path,
        strategies=("union", "pipeline"),
        requests=400,
        extra_targets=(
            ("redis", "redis://127.0.0.1:6379/0", ("pipeline",)),
            ("dynamodb", "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:5000", ("batch",)),
        ),
    )
    res = make_report([d])
    page, problems = open_report(browser, res.html, width=1400)
    check_rendered(page, len(res.charts))
    lay = page.evaluate(LAYOUT)
    assert lay["first_block"] == "answer", lay
    assert lay["answer_top"] < lay["first_chart_top"] <= 1000, lay
    assert lay["settings_top"] > lay["last_chart_top"] and not lay["settings_open"], lay
    for ran in ("union, pipeline", "redis://127.0.0.1:6379/0 (pipeline)", "closed loop"):
        assert ran in lay["header"], (ran, lay["header"])
    assert "config.strategies" not in page.content()
    assert page.evaluate(OVERLAPPING_TICKS) == []  # axis labels readable at a glance
    # one headline row per target and strategy, with a cost and a verdict sentence
    rows = page.locator("table.headline tbody tr")
    assert rows.count() == 4
    assert page.inner_text("p.verdict").strip().endswith(".")
    assert "$" in page.inner_text("table.headline")
    # the p99 chart draws summary.json's numbers
    summary = json.loads((d / "summary.json").read_text())
    data = page.evaluate("JSON.parse(document.getElementById('featbench-data').textContent)")
    shown = data["runs"][0]["sections"]  # the report's sections, in summary.json's order
    traces = {
        t["section"]: dict(zip(t["x"], t["y"], strict=True)) for t in page.evaluate(P99_TRACES)
    }
    assert len(traces) == len(summary["sections"]) == len(shown) == 4
    for sec, sh in zip(summary["sections"], shown, strict=True):
        assert (sec["backend"], sec["strategy"]) == (sh["backend"], sh["strategy"])
        drawn = traces[sh["label"]]
        want = {float(r["hot_pct"]): r["latency_ms"]["p99"] for r in sec["ratios"]}
        assert {float(k): v for k, v in drawn.items()} == want
    page.screenshot(path=str(tmp_path / "top.png"))
    page.close()
    assert problems == []
