"""Load throughput: `featbench load` vs psql's `\\copy` of the same rows, same server, same run.

The data set is fraud-30 at --scale. Once, up front, `featbench generate --format csv`
writes it to files (header-less CSV: exactly what COPY reads), and the same rows are
also written as binary COPY files. Then, per round, each side loads it into fresh,
identical tables (featbench's DDL, no primary key yet):

- psql CSV: one psql session running `\\copy t FROM 'file' (FORMAT csv)` for every table
  — PostgreSQL's own COPY from a file, the reference;
- psql binary: the same with the binary COPY files (`FORMAT binary`);
- featbench, K streams (1 and 2 by default): `load` generating the rows on the fly and
  streaming them into binary COPY, with primary keys and verification switched off so
  that both sides do the same work (COPY only). Its time is the whole `load` call:
  worker start-up, DDL and bookkeeping included.

MB/s everywhere is the size of the data set as CSV divided by the time, so every line
has the same numerator. The machine is shared, so the sides alternate over several
rounds; the reported figures are medians and each ratio the median of per-round ratios.
Each side starts from the same state: a `CHECKPOINT` (untimed) first, so that no side
pays for writing out the pages and WAL of the one before it (a load of scale 1 writes
~0.4 GB of WAL; at the default max_wal_size a checkpoint would otherwise start inside
whichever side comes next), and the order of the sides rotates from round to round.
A full featbench load (primary keys, ANALYZE, verify) is timed once at the end for
reference. Usage:

    .venv/bin/python benchmarks/load_throughput.py [--target URL] [--scale S] [--rounds R]
        [--streams 1,2] [--json]

Default target: $FEATBENCH_BENCH_PG_DSN, else the embedded server. Writes only to
temporary schemas `fb_loadbench_<random>_*`, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from featbench.backends.pgload.encode import (
    HEADER,
    TRAILER,
    column_order,
    encode_batch,
    variable_text_columns,
)
from featbench.backends.pgload.state import table_ddl
from featbench.backends.postgres import PostgresBackend
from featbench.datafiles import write_dataset
from featbench.generate import iter_batches
from featbench.spec import builtin_spec
from featbench.target import parse_target

SPEC = builtin_spec()
SEED = 42
# issue #18: one featbench stream (generating its rows) / psql loading ready binary files
AIM_1_STREAM_VS_PSQL_BINARY = 0.90


def psql_path(embedded: bool) -> str:
    if embedded:
        import pgserver._commands as pc

        return str(Path(pc.POSTGRES_BIN_PATH) / "psql")
    return shutil.which("psql") or "/usr/bin/psql"


def write_binary_files(scale: float, out: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    files = {}
    for t in SPEC.tables:
        var = variable_text_columns(SPEC, t)
        names = [SPEC.key_column_of(t)] + [c.name for c in t.columns]
        p = out / f"{t.table_name}.bin"
        with open(p, "wb") as fh:
            fh.write(HEADER)
            for b in iter_batches(SPEC, t, SEED, scale):
                fh.write(encode_batch(b, var).data)
            fh.write(TRAILER)
        files[t.table_name] = (p, column_order(names, var))
    return files


def fresh_tables(conninfo: str, schema: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for t in SPEC.tables:
            conn.execute(table_ddl(SPEC, t, schema))


def drop(conninfo: str, schema: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def checkpoint(conninfo: str) -> bool:
    """Write out every dirty page and start a fresh WAL segment; False if refused."""
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def psql_copy(psql: str, conninfo: str, schema: str, lines: list[str]) -> float:
    script = "\\set ON_ERROR_STOP on\n" + "\n".join(lines) + "\n"
    fresh_tables(conninfo, schema)
    checkpoint(conninfo)
    t0 = time.perf_counter()
    subprocess.run([psql, "-X", "-q", "-d", conninfo, "-f", "-"], input=script.encode(), check=True)
    return time.perf_counter() - t0


def csv_lines(schema: str, data_dir: Path) -> list[str]:
    return [
        f'\\copy "{schema}"."{t.table_name}" FROM \'{data_dir / (t.table_name + ".csv")}\' (FORMAT csv)'
        for t in SPEC.tables
    ]


def binary_lines(schema: str, files: dict[str, tuple[Path, tuple[str, ...]]]) -> list[str]:
    out = []
    for name, (p, cols) in files.items():
        collist = ", ".join(f'"{c}"' for c in cols)
        out.append(f'\\copy "{schema}"."{name}" ({collist}) FROM \'{p}\' (FORMAT binary)')
    return out


def featbench_load(
    target: str, schema: str, scale: float, streams: int, conninfo: str, full: bool = False
) -> tuple[float, Any]:
    drop(conninfo, schema)
    checkpoint(conninfo)
    b = PostgresBackend(parse_target(target), schema=schema)
    try:
        t0 = time.perf_counter()
        r = b.load(SPEC, scale, SEED, streams=streams, progress=False, build_keys=full, verify=full)
        secs = time.perf_counter() - t0
    finally:
        b.close()
    return secs, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default=os.environ.get("FEATBENCH_BENCH_PG_DSN", "embedded"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--streams", default="1,2")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    streams = [int(x) for x in args.streams.split(",")]

    backend = PostgresBackend(parse_target(args.target))
    conninfo, server = backend.conninfo, backend.describe()
    backend.close()
    psql = psql_path(server["embedded"])
    tag = f"fb_loadbench_{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="fb_loadbench_"))
    os.chmod(tmp, 0o755)  # psql reads the files client-side, but keep them readable anyway
    try:
        manifest = write_dataset(SPEC, args.scale, SEED, tmp, fmt="csv")
        rows = manifest["total_rows"]
        csv_mb = sum((tmp / e["file"]).stat().st_size for e in manifest["tables"].values()) / 1e6
        bins = write_binary_files(args.scale, tmp)
        runners: dict[str, Callable[[], float]] = {
            "psql_csv": lambda: psql_copy(
                psql, conninfo, f"{tag}_psql", csv_lines(f"{tag}_psql", tmp)
            ),
            "psql_binary": lambda: psql_copy(
                psql, conninfo, f"{tag}_psql", binary_lines(f"{tag}_psql", bins)
            ),
        }
        for k in streams:
            runners[f"featbench_{k}"] = lambda k=k: featbench_load(
                args.target, f"{tag}_fb", args.scale, k, conninfo
            )[0]
        can_checkpoint = checkpoint(conninfo)
        names = list(runners)
        results: list[dict[str, float]] = []
        for i in range(args.rounds):
            order = names[i % len(names) :] + names[: i % len(names)]  # rotate who goes first
            r = {name: runners[name]() for name in order}
            r = {name: r[name] for name in names}  # printed in a fixed order
            results.append(r)
            print(
                f"round {i + 1}: "
                + " | ".join(
                    f"{name} {csv_mb / secs:.1f} MB/s ({secs:.1f} s)" for name, secs in r.items()
                ),
                file=sys.stderr,
            )
        full_s, full_r = featbench_load(
            args.target, f"{tag}_fb", args.scale, max(streams), conninfo, full=True
        )
        assert full_r.ok, [c for c in full_r.checks if not c.ok]
    finally:
        for suffix in ("_psql", "_fb"):
            drop(conninfo, tag + suffix)
        shutil.rmtree(tmp, ignore_errors=True)

    def med_secs(k: str) -> float:
        return statistics.median(r[k] for r in results)

    def med_ratio(a: str, b: str) -> float:  # throughput of a / throughput of b, per round
        return statistics.median(r[b] / r[a] for r in results)

    sides = list(results[0])
    doc: dict[str, Any] = {
        "benchmark": "load_throughput",
        "machine": {"cpus": os.cpu_count(), "note": "shared with other jobs; medians of rounds"},
        "server": {
            "version": server["server_version"],
            "embedded": server["embedded"],
            "target": server["target"],
        },
        "scale": args.scale,
        "rows": rows,
        "csv_mb": round(csv_mb, 1),
        "rounds": args.rounds,
        "checkpoint_before_each_side": can_checkpoint,
        "median": {
            k: {
                "seconds": round(med_secs(k), 2),
                "mb_s": round(csv_mb / med_secs(k), 1),
                "rows_s": round(rows / med_secs(k)),
            }
            for k in sides
        },
        "ratios": {
            f"featbench_{k}_vs_psql_csv": round(med_ratio(f"featbench_{k}", "psql_csv"), 2)
            for k in streams
        }
        | {
            f"featbench_{k}_vs_psql_binary": round(med_ratio(f"featbench_{k}", "psql_binary"), 2)
            for k in streams
        },
        "aims": {"featbench_1_vs_psql_binary": AIM_1_STREAM_VS_PSQL_BINARY},
        "full_load": {
            "streams": max(streams),
            "seconds": round(full_s, 2),
            "index_seconds": None
            if full_r.index_seconds is None
            else round(full_r.index_seconds, 2),
            "note": "COPY + primary keys + ANALYZE + verify, whole command",
        },
    }
    if len(streams) > 1:
        doc["ratios"][f"featbench_{streams[-1]}_vs_{streams[0]}_streams"] = round(
            med_ratio(f"featbench_{streams[-1]}", f"featbench_{streams[0]}"), 2
        )
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(
        f"fraud-30 scale {args.scale:g}: {rows:,} rows, {csv_mb:,.0f} MB as CSV; {server['target']} (PostgreSQL {server['server_version']})"
    )
    for k in sides:
        m = doc["median"][k]
        print(
            f"  {k:<20} {m['seconds']:>7.2f} s  {m['mb_s']:>7.1f} MB/s  {m['rows_s']:>10,} rows/s"
        )
    for k, v in doc["ratios"].items():
        aim = AIM_1_STREAM_VS_PSQL_BINARY if k == "featbench_1_vs_psql_binary" else None
        print(f"  ratio {k}: {v:.2f}" + ("" if aim is None else f" (aim >= {aim:.2f})"))
    f = doc["full_load"]
    print(
        f"  full featbench load ({f['streams']} streams, keys + ANALYZE + verify): {f['seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
