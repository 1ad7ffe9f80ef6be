"""PNG output: the same plotly figures as the HTML, rendered by kaleido.

kaleido 1.x drives a Chrome/Chromium it finds on the machine (Debian's `chromium`
package works; set BROWSER_PATH to point at another binary). All charts are rendered
in one browser session, which is much faster than one session per chart.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from featbench.errors import FeatbenchError
from featbench.report.charts import Chart

WIDTH, SCALE = 1100, 1.5
_CHROME_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chrome() -> str | None:
    """A Chrome/Chromium binary kaleido can drive, or None."""
    env = os.environ.get("BROWSER_PATH")
    if env and Path(env).exists():
        return env
    for name in _CHROME_NAMES:
        p = shutil.which(name)
        if p:
            return p
    return None


def write_pngs(charts: Sequence[Chart], out_dir: Path) -> list[Path]:
    try:
        import kaleido  # noqa: F401
        import plotly.io as pio
    except ModuleNotFoundError:
        raise FeatbenchError(
            "--png needs the kaleido package: pip install 'featbench[report]'"
        ) from None
    chrome = find_chrome()
    if chrome is None:
        raise FeatbenchError(
            "--png needs Chrome or Chromium for kaleido: install it (Debian/Ubuntu: apt-get install chromium) "
            "or set BROWSER_PATH to its binary"
        )
    os.environ.setdefault("BROWSER_PATH", chrome)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{i:02d}_{c.id}.png" for i, c in enumerate(charts, 1)]
    figs = [c.figure for c in charts]
    heights = [int(c.figure.layout.height or 430) for c in charts]
    try:
        pio.write_images(
            figs,
            [str(p) for p in paths],
            format="png",
            width=[WIDTH] * len(figs),
            height=heights,
            scale=[SCALE] * len(figs),
        )
    except Exception as e:  # noqa: BLE001 - kaleido/choreographer raise many kinds
        raise FeatbenchError(
            f"writing PNGs with kaleido failed ({type(e).__name__}: {e}); the HTML report was written"
        ) from None
    return paths
