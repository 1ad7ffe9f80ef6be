"""`featbench report` (HTML + PNG charts from run directories) and `featbench cost`:
parse the options, call the library, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from featbench.cli.app import app
from featbench.cli.options import Consistency, Cu, HoursPerDay, Json, Prices, ReferenceP99

RunDirs = Annotated[list[Path], typer.Argument(help="One or more run directories (results/RUN_ID).", metavar="RUN_DIR...")]  # fmt: skip
ReportOut = Annotated[Path | None, typer.Option("--out", "-o", help="HTML file to write (default: RUN_DIR/report.html of the first run).")]  # fmt: skip
Png = Annotated[Path | None, typer.Option("--png", help="Also write every chart as a PNG into this directory (e.g. RUN_DIR/png).", metavar="DIR")]  # fmt: skip
ReportQps = Annotated[float | None, typer.Option("--qps", help="Request rate (requests/s) to price: adds the cost table to the report.")]  # fmt: skip
CostQps = Annotated[float, typer.Option("--qps", help="Request rate to serve, requests/s (averaged over the hours of traffic).")]  # fmt: skip
CostRuns = Annotated[list[Path] | None, typer.Option("--run", help="Run directory to take sizes, rows and measured units from (repeatable).", metavar="RUN_DIR")]  # fmt: skip
Rows = Annotated[float | None, typer.Option("--rows", help="Rows in all tables (instead of a run or spec).")]  # fmt: skip
ItemBytes = Annotated[float | None, typer.Option("--item-bytes", help="Mean item (row) size in bytes.")]  # fmt: skip
Tables = Annotated[int | None, typer.Option("--tables", help="Tables (items) read per request.")]  # fmt: skip
StorageGb = Annotated[float | None, typer.Option("--storage-gb", help="PostgreSQL data + index size, GB (default: measured or estimated).")]  # fmt: skip
MemoryPerRow = Annotated[float | None, typer.Option("--memory-per-row", help="Redis memory per row, bytes (default: measured or estimated).")]  # fmt: skip
Churn = Annotated[float | None, typer.Option("--churn", help="Fraction of the data changed per day, for PITR history (default 0.10).")]  # fmt: skip
PitrDays = Annotated[float | None, typer.Option("--pitr-days", help="Point-in-time-recovery retention, days (default 7).")]  # fmt: skip
ConsistencyOpt = Annotated[Consistency | None, typer.Option("--consistency", help="DynamoDB reads: eventual (default) or strong.")]  # fmt: skip
Headroom = Annotated[float | None, typer.Option("--headroom", help="Provisioned capacity over the mean rate (default 1.5).")]  # fmt: skip
RedisReplicas = Annotated[int | None, typer.Option("--redis-replicas", help="Replicas per Redis shard (default 0).")]  # fmt: skip
RedisOverhead = Annotated[float | None, typer.Option("--redis-overhead", help="Redis memory overhead over the data (default 0.10).")]  # fmt: skip
CostSpec = Annotated[str | None, typer.Option("--spec", help="Workload spec to size from when no run is given (default fraud-30).", metavar="FILE|NAME")]  # fmt: skip
CostScale = Annotated[float | None, typer.Option("--scale", help="Scale to size at (default: the run's, or 1); measured per-row sizes still apply.")]  # fmt: skip


@app.command()
def report(
    run_dirs: RunDirs = ...,
    out: ReportOut = None,
    png: Png = None,
    qps: ReportQps = None,
    prices: Prices = None,
    reference_p99: ReferenceP99 = None,
    cu: Cu = None,
    hours_per_day: HoursPerDay = None,
    as_json: Json = False,
) -> None:
    """Write one self-contained HTML report (works offline) with every chart and the numbers behind it.

    Example: featbench report results/20261126T081500Z-3f2a1c --png results/20261126T081500Z-3f2a1c/png --qps 2000
    """
    from featbench.report.build import make_report
    from featbench.report.terminal import print_report_result

    res = make_report(
        run_dirs,
        out=out,
        png_dir=png,
        qps=qps,
        prices_file=prices,
        reference_p99=reference_p99,
        cost_inputs={"cu": cu, "hours_per_day": hours_per_day},
    )
    if as_json:
        typer.echo(json.dumps(res.as_dict(), indent=2, default=str))
    else:
        print_report_result(res)


@app.command()
def cost(
    qps: CostQps = ...,
    run: CostRuns = None,
    hours_per_day: HoursPerDay = None,
    cu: Cu = None,
    prices: Prices = None,
    rows: Rows = None,
    item_bytes: ItemBytes = None,
    tables: Tables = None,
    storage_gb: StorageGb = None,
    memory_per_row: MemoryPerRow = None,
    churn: Churn = None,
    pitr_days: PitrDays = None,
    consistency: ConsistencyOpt = None,
    headroom: Headroom = None,
    redis_replicas: RedisReplicas = None,
    redis_overhead: RedisOverhead = None,
    spec: CostSpec = None,
    scale: CostScale = None,
    reference_p99: ReferenceP99 = None,
    as_json: Json = False,
) -> None:
    """What Lakebase, DynamoDB (on-demand, provisioned) and ElastiCache cost for a workload:
    per day, per month, per million requests, with break-even rates and skew.

    Examples:
      featbench cost --run results/20261126T081500Z-3f2a1c --qps 2000
      featbench cost --qps 500 --cu 32 --storage-gb 1500 --churn 0.1 --pitr-days 7
      featbench cost --qps 1000 --rows 15.6e9 --item-bytes 300 --tables 30
    """
    from featbench.report.build import cost_for_runs
    from featbench.report.cost_text import print_cost

    result = cost_for_runs(
        run or [], qps=qps, prices_file=prices, reference_p99=reference_p99, spec=spec,
        hours_per_day=hours_per_day, cu=cu, rows=rows, item_bytes=item_bytes, tables=tables,
        storage_gb=storage_gb, memory_per_row=memory_per_row, churn=churn, pitr_days=pitr_days,
        consistency=consistency, headroom=headroom, redis_replicas=redis_replicas,
        redis_overhead=redis_overhead, scale=scale,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        print_cost(result)
