"""`featbench export RUN_DIR --format csv|openmetrics [--out FILE]`: a run's summary figures
for spreadsheets and Prometheus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from featbench.cli.app import app
from featbench.cli.options import RunDir

ExportFormat = Annotated[Literal["csv", "openmetrics"], typer.Option("--format", "-f", help="csv: one row per target, strategy and level; openmetrics: gauges in the OpenMetrics text format Prometheus scrapes (ends with # EOF).")]  # fmt: skip
ExportOut = Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).", metavar="FILE")]  # fmt: skip


@app.command()
def export(run_dir: RunDir, fmt: ExportFormat = "csv", out: ExportOut = None) -> None:
    """Per ratio, target and strategy, the run's summary figures (requests, errors,
    percentiles with p99's interval, hit ratio, …) as CSV or OpenMetrics text. A figure
    the run did not measure is an empty cell / no sample, never 0.

    Examples:
      featbench export results/20261126T081500Z-3f2a1c > run.csv
      featbench export results/20261126T081500Z-3f2a1c --format openmetrics -o run.prom
    """
    from featbench.fsutil import write_text_atomic
    from featbench.progress import console
    from featbench.report.export import export_run
    from featbench.results.reader import read_run

    text = export_run(read_run(run_dir), fmt)
    if out is None:
        typer.echo(text, nl=False)
        return
    write_text_atomic(out, text)
    console.print(f"wrote {out}", highlight=False, markup=False)
