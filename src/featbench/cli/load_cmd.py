"""`featbench load` and `featbench verify`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from featbench.backends.base import LoadReport, TableCheck, open_backend
from featbench.cli.app import app
from featbench.cli.options import JsonOpt, SchemaOpt, SpecOpt, TargetOpt
from featbench.errors import FeatbenchError
from featbench.progress import console
from featbench.spec import WorkloadSpec, check_scale, load_spec
from featbench.target import parse_target

DEFAULT_SCALE = 1.0
DEFAULT_SEED = 42

_ScaleOpt = typer.Option(
    None,
    "--scale",
    help="Row-count multiplier: scale 1 is about 1.5 M rows for fraud-30 (default 1, or the manifest's with --from-dir).",
)
_SeedOpt = typer.Option(
    None, "--seed", help="Seed of data generation (default 42, or the manifest's with --from-dir)."
)


def resolve_dataset(
    spec: str | None, scale: float | None, seed: int | None, from_dir: Path | None
) -> tuple[WorkloadSpec, float, int]:
    """Spec, scale and seed from the options; with --from-dir the manifest supplies defaults."""
    if from_dir is not None:
        from featbench.backends.pgload.loader import read_manifest

        m = read_manifest(from_dir)
        if spec is None and (from_dir / "spec.toml").exists():
            spec = str(from_dir / "spec.toml")
        scale = float(m["scale"]) if scale is None else scale
        seed = int(m["seed"]) if seed is None else seed
    s = load_spec(spec)
    scale = DEFAULT_SCALE if scale is None else scale
    check_scale(scale)
    return s, scale, DEFAULT_SEED if seed is None else seed


def _checks_json(checks: list[TableCheck]) -> list[dict[str, Any]]:
    return [{"table": c.table, "ok": c.ok, "rows": c.rows, "problems": c.problems} for c in checks]


def print_checks(checks: list[TableCheck]) -> None:
    bad = [c for c in checks if not c.ok]
    if not bad:
        console.print(
            f"[green]verify: all {len(checks)} tables OK[/] (rows, primary keys, sampled rows)"
        )
        return
    console.print(f"[red]verify: {len(bad)} of {len(checks)} tables failed[/]")
    for c in bad:
        shown = c.problems[:3] + ([f"… {len(c.problems) - 3} more"] if len(c.problems) > 3 else [])
        console.print(
            f"  [red]FAIL[/] {c.table}: " + "; ".join(shown), highlight=False, soft_wrap=True
        )


def _summary(r: LoadReport) -> str:
    rate = ""
    rows_per_s = getattr(r, "rows_per_s", None)
    mb_per_s = getattr(r, "mb_per_s", None)
    if rows_per_s and mb_per_s:
        rate = f" — COPY {rows_per_s:,.0f} rows/s, {mb_per_s:,.1f} MB/s"
    if r.tables_loaded == 0 and r.rows == 0:
        return f"nothing to load: all {r.tables_skipped} tables were already loaded"
    streams = getattr(r, "streams", None)
    with_streams = f" with {streams} stream{'s' if streams != 1 else ''}" if streams else ""
    return (
        f"loaded {r.tables_loaded} tables ({r.tables_skipped} already loaded), {r.rows:,} rows, "
        f"{r.bytes / 1e6:,.1f} MB in {r.seconds:,.1f} s{with_streams}{rate}"
    )


@app.command()
def load(
    target: str = TargetOpt,
    spec: str = SpecOpt,
    scale: float = _ScaleOpt,
    seed: int = _SeedOpt,
    streams: int = typer.Option(
        None,
        "--streams",
        "-k",
        help="Parallel COPY streams (processes) (default: number of cores).",
    ),
    schema: str = SchemaOpt,
    force: bool = typer.Option(
        False,
        "--force",
        help="Load even into a non-empty schema featbench did not create, or replace a different data set "
        "featbench loaded there. Only featbench's own tables are ever dropped.",
    ),
    from_dir: Path = typer.Option(
        None,
        "--from-dir",
        help="Load files written by `featbench generate` (checked against their manifest).",
    ),
    copy_format: str = typer.Option(
        "binary", "--copy-format", help="binary (fastest, default) or csv."
    ),
    chunk_rows: int = typer.Option(
        None,
        "--chunk-rows",
        help="Rows per COPY transaction: the unit of resuming after an interruption (default 100000).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Create the tables and stream generated rows into them with COPY, then verify.

    Re-running skips finished tables and resumes a half-loaded one; Ctrl-C leaves the
    database consistent. Primary keys are built after the data, then ANALYZE.

    Examples:
      featbench load --target postgresql://me@db.example.com/features --scale 10 --streams 4
      featbench load --target embedded --scale 0.2
      featbench generate --scale 0.1 --out data/ && featbench load --target postgresql://localhost/test --from-dir data/
    """
    s, scale, seed = resolve_dataset(spec, scale, seed, from_dir)
    t = parse_target(target)
    from featbench.backends.pgload.loader import default_streams

    k = default_streams() if streams is None else streams
    if k < 1:
        raise FeatbenchError(f"--streams must be at least 1, got {k}")
    if t.kind != "postgres" and (from_dir is not None or copy_format != "binary" or chunk_rows):
        raise FeatbenchError(
            "--from-dir, --copy-format and --chunk-rows apply to PostgreSQL targets only"
        )
    backend = open_backend(t, schema=schema)
    try:
        if t.kind == "postgres":
            report = backend.load(  # type: ignore[call-arg]
                s,
                scale,
                seed,
                streams=k,
                force=force,
                from_dir=from_dir,
                copy_format=copy_format,
                chunk_rows=chunk_rows,
            )
        else:
            report = backend.load(s, scale, seed, streams=k, force=force)
    finally:
        backend.close()
    ok = all(c.ok for c in report.checks)
    if as_json:
        doc: dict[str, Any] = {
            "target": t.redacted if not t.embedded else "embedded",
            "spec": s.name,
            "scale": scale,
            "seed": seed,
        }
        to_dict = getattr(report, "to_dict", None)
        doc.update(
            to_dict()
            if to_dict
            else {
                "tables_loaded": report.tables_loaded,
                "tables_skipped": report.tables_skipped,
                "rows": report.rows,
                "bytes": report.bytes,
                "seconds": report.seconds,
                "ok": ok,
                "checks": _checks_json(report.checks),
            }
        )
        typer.echo(json.dumps(doc, indent=2))
    else:
        for note in getattr(report, "notes", []):
            console.print(f"  {note}", highlight=False)
        console.print(_summary(report), highlight=False)
        print_checks(report.checks)
    if not ok:
        raise typer.Exit(2)


@app.command()
def verify(
    target: str = TargetOpt,
    spec: str = SpecOpt,
    scale: float = _ScaleOpt,
    seed: int = _SeedOpt,
    schema: str = SchemaOpt,
    sample: int = typer.Option(
        20, "--sample", help="Rows per table compared with the generator (by row index)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Check that the target holds exactly the data set: tables, row counts, primary keys, sampled rows.

    Scale and seed default to what featbench recorded when it loaded the data (else 1 and
    42); a --scale or --seed that disagrees with that record is an error naming both.
    Exits with code 2 and names each failing table when anything differs.

    Example: featbench verify --target postgresql://localhost/test
    """
    from featbench.cli.dataset import resolve_loaded

    s = load_spec(spec)
    if scale is not None:
        check_scale(scale)
    t = parse_target(target)
    backend = open_backend(t, schema=schema)
    try:
        data = resolve_loaded([backend], s, scale=scale, seed=seed)
        scale = data.scale
        seed = DEFAULT_SEED if data.seed is None else data.seed
        checks = backend.verify(s, scale, seed, sample=sample)
    finally:
        backend.close()
    ok = all(c.ok for c in checks)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "target": t.redacted if not t.embedded else "embedded",
                    "schema": schema,
                    "spec": s.name,
                    "scale": scale,
                    "seed": seed,
                    "scale_source": data.source,
                    "ok": ok,
                    "failed": [c.table for c in checks if not c.ok],
                    "checks": _checks_json(checks),
                },
                indent=2,
            )
        )
    else:
        print_checks(checks)
    if not ok:
        raise typer.Exit(2)
