"""`featbench demo`: everything on an embedded PostgreSQL, nothing to install but Python."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from featbench.cli.app import app
from featbench.cli.options import JsonOpt
from featbench.progress import console


@app.command()
def demo(
    scale: float = typer.Option(
        0.2, "--scale", help="Scale of fraud-30 to load (0.2 is about 290k rows, ~60 MB)."
    ),
    seed: int = typer.Option(42, "--seed", help="Seed of data generation."),
    keep: bool = typer.Option(
        False,
        "--keep",
        help="Leave the embedded server running afterwards (for psql, or more featbench commands).",
    ),
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Where the run directory goes."),
    as_json: bool = JsonOpt,
) -> None:
    """Start an embedded PostgreSQL, load fraud-30 at a small scale, verify it, run the hot/cold
    benchmark (9 ratios x 150 requests) and print its table.

    The data stays in $FEATBENCH_HOME (default: your cache directory), so a second demo
    reuses it. The server is stopped at the end unless --keep;
    `featbench embedded stop --purge` removes everything.

    Example: featbench demo --scale 0.05
    """
    from featbench.backends import embedded
    from featbench.cli.load_cmd import print_checks
    from featbench.load.demo import demo_load

    console.print(f"[bold]featbench demo[/]: fraud-30 at scale {scale:g} on an embedded PostgreSQL")
    result = demo_load(scale, seed)
    run = None
    if result.ok:  # the benchmark run: while the server is up, before it is stopped
        from featbench.cli.run_cmd import DEMO_REQUESTS, demo_benchmark

        console.print(f"running the hot/cold matrix: 9 ratios x {DEMO_REQUESTS} requests (serial)")
        run = demo_benchmark(scale=scale, seed=seed, out=out, live=not as_json)
    srv = result.server
    r = result.report
    status = None
    if not keep:
        embedded.stop()
    else:
        status = embedded.status()
    if as_json:
        doc = {
            "server": srv,
            "load": r.to_dict(),
            "embedded": {
                "data_dir": str(embedded.data_dir()),
                "running": keep,
                "uri": (status or {}).get("uri"),
            },
            "run": None
            if run is None
            else {"path": str(run.path), "status": run.status, **run.summary},
        }
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        st = srv["settings"]
        console.print(
            f"server: PostgreSQL {srv['server_version']} (embedded, data in {embedded.data_dir()}), "
            f"shared_buffers {st['shared_buffers']}, database now {srv['database_bytes'] / 1e6:,.0f} MB",
            highlight=False,
        )
        for note in r.notes:
            console.print(f"  {note}", highlight=False)
        from featbench.cli.load_cmd import _summary

        console.print(_summary(r), highlight=False)
        if r.index_seconds is not None:
            console.print(
                f"primary keys + ANALYZE: {r.index_seconds:,.1f} s of worker time", highlight=False
            )
        print_checks(r.checks)
        if keep and status and status.get("uri"):
            console.print(
                f"server left running: psql '{status['uri']}'  (stop: featbench embedded stop)",
                highlight=False,
            )
        else:
            console.print("server stopped (data kept; featbench embedded stop --purge removes it)")
        if run is not None:
            from featbench.cli.run_cmd import hit_ratio_trend, print_run

            print_run(run)
            console.print(hit_ratio_trend(run), highlight=False)
    if not result.ok:
        raise typer.Exit(2)
