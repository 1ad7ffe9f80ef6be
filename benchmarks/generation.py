"""Generation speed vs one COPY stream: is the generator ever the loader's bottleneck?

Measured side by side in one run, on the same data (fraud-30 at --scale):

- generate: `generate_batch` alone, as the loader calls it (10,000-row batches);
- generate + binary: plus the binary COPY encoder — what one load stream does per row;
- generate + CSV: plus pyarrow's CSV writer (`csv_bytes`), the text path, for reference;
- one COPY stream: the already-encoded binary rows sent with one `COPY … FROM STDIN
  (FORMAT binary)` into fresh tables (no primary key, as the loader does), timed
  around the COPY only — the rate one server backend absorbs.

The machine is shared and noisy, so the two sides alternate over several rounds and the
reported ratio is the median of the per-round ratios (generate+binary rows/s ÷ COPY
rows/s). The issue asks for >= 2. Usage:

    .venv/bin/python benchmarks/generation.py [--target URL] [--scale S] [--rounds R] [--json]

Default target: $FEATBENCH_BENCH_PG_DSN, else the embedded server. Writes only to a
temporary schema `fb_genbench_<random>`, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql

from featbench.backends.postgres import PostgresBackend
from featbench.generate import chunk_ranges, csv_bytes, generate_batch
from featbench.load.encode import HEADER, TRAILER, column_order, encode_batch, variable_text_columns
from featbench.load.state import table_ddl
from featbench.load.worker import SUB_BATCH_ROWS
from featbench.spec import builtin_spec, scaled_rows
from featbench.target import parse_target

SPEC = builtin_spec()


def _ranges(scale: float) -> list[tuple[Any, int, int]]:
    return [
        (t, a, b)
        for t in SPEC.tables
        for a, b in chunk_ranges(scaled_rows(t, scale), SUB_BATCH_ROWS)
    ]


def time_generate(scale: float) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = 0
    for t, a, b in _ranges(scale):
        rows += generate_batch(SPEC, t, 42, a, b).num_rows
    return time.perf_counter() - t0, rows


def time_generate_binary(scale: float) -> tuple[float, int, int, dict[str, list[bytes]]]:
    out: dict[str, list[bytes]] = {}
    t0 = time.perf_counter()
    rows = nbytes = 0
    for t, a, b in _ranges(scale):
        enc = encode_batch(generate_batch(SPEC, t, 42, a, b), variable_text_columns(SPEC, t))
        out.setdefault(t.table_name, []).append(enc.data)  # keep a reference, no copy
        rows += enc.rows
        nbytes += enc.nbytes
    return time.perf_counter() - t0, rows, nbytes, out


def time_generate_csv(scale: float) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    rows = nbytes = 0
    for t, a, b in _ranges(scale):
        batch = generate_batch(SPEC, t, 42, a, b)
        nbytes += len(csv_bytes(batch))
        rows += batch.num_rows
    return time.perf_counter() - t0, rows, nbytes


def time_copy(conn: psycopg.Connection, schema: str, data: dict[str, list[bytes]]) -> float:
    """One COPY stream: recreate the tables, then time only the COPYs of the encoded rows."""
    for t in SPEC.tables:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                sql.Identifier(schema), sql.Identifier(t.table_name)
            )
        )
        conn.execute(table_ddl(SPEC, t, schema))
    total = 0.0
    for t in SPEC.tables:
        names = [SPEC.key_column_of(t)] + [c.name for c in t.columns]
        cols = column_order(names, variable_text_columns(SPEC, t))
        stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT binary)").format(
            sql.Identifier(schema),
            sql.Identifier(t.table_name),
            sql.SQL(", ").join(map(sql.Identifier, cols)),
        )
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(stmt) as cp:
            cp.write(HEADER)
            for part in data[t.table_name]:
                cp.write(part)
            cp.write(TRAILER)
        total += time.perf_counter() - t0
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default=os.environ.get("FEATBENCH_BENCH_PG_DSN", "embedded"))
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    backend = PostgresBackend(parse_target(args.target))
    conninfo, server = backend.conninfo, backend.describe()
    backend.close()
    schema = f"fb_genbench_{uuid.uuid4().hex[:8]}"
    rounds: list[dict[str, float]] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            csv_s, csv_rows, csv_bytes_n = time_generate_csv(args.scale)
            for i in range(args.rounds):
                gen_s, rows = time_generate(args.scale)
                enc_s, rows2, nbytes, data = time_generate_binary(args.scale)
                copy_s = time_copy(conn, schema, data)
                del data
                r = {
                    "generate_rows_s": rows / gen_s,
                    "generate_binary_rows_s": rows2 / enc_s,
                    "generate_binary_mb_s": nbytes / 1e6 / enc_s,
                    "copy_rows_s": rows2 / copy_s,
                    "copy_mb_s": nbytes / 1e6 / copy_s,
                }
                r["ratio"] = r["generate_binary_rows_s"] / r["copy_rows_s"]
                rounds.append(r)
                print(
                    f"round {i + 1}: generate {r['generate_rows_s']:,.0f} rows/s | generate+binary "
                    f"{r['generate_binary_rows_s']:,.0f} rows/s {r['generate_binary_mb_s']:.0f} MB/s | one COPY "
                    f"stream {r['copy_rows_s']:,.0f} rows/s {r['copy_mb_s']:.0f} MB/s | ratio {r['ratio']:.2f}",
                    file=sys.stderr,
                )
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    def med(k: str) -> float:
        return statistics.median(r[k] for r in rounds)

    doc = {
        "benchmark": "generation",
        "machine": {
            "cpus": os.cpu_count(),
            "note": "shared with other jobs; figures are medians of rounds",
        },
        "server": {
            "version": server["server_version"],
            "embedded": server["embedded"],
            "target": server["target"],
        },
        "scale": args.scale,
        "rows": rows,
        "binary_bytes": nbytes,
        "rounds": args.rounds,
        "median": {k: med(k) for k in rounds[0]},
        "generate_csv_rows_s": csv_rows / csv_s,
        "generate_csv_mb_s": csv_bytes_n / 1e6 / csv_s,
        "ratio_generate_binary_vs_one_copy_stream": med("ratio"),
        "target_ratio": 2.0,
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        m = doc["median"]
        print(
            f"fraud-30 scale {args.scale:g}: {rows:,} rows, {nbytes / 1e6:,.0f} MB as binary COPY; median of {args.rounds} rounds"
        )
        print(f"  generate alone            {m['generate_rows_s']:>12,.0f} rows/s")
        print(
            f"  generate + binary encode  {m['generate_binary_rows_s']:>12,.0f} rows/s  {m['generate_binary_mb_s']:>6.0f} MB/s"
        )
        print(
            f"  generate + CSV (pyarrow)  {doc['generate_csv_rows_s']:>12,.0f} rows/s  {doc['generate_csv_mb_s']:>6.0f} MB/s (once)"
        )
        print(
            f"  one binary COPY stream    {m['copy_rows_s']:>12,.0f} rows/s  {m['copy_mb_s']:>6.0f} MB/s"
        )
        print(
            f"  ratio generate+binary / one COPY stream: {doc['ratio_generate_binary_vs_one_copy_stream']:.2f} (want >= 2)"
        )


if __name__ == "__main__":
    main()
