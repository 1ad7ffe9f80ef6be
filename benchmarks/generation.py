"""Generation speed vs one COPY stream: is the generator ever the loader's bottleneck?

Measured side by side in one run, on the same data (fraud-30 at --scale):

- generate: `generate_batch` alone, in the batches the loader uses (20,000 rows);
- generate + binary: plus the binary COPY encoder — what one load stream does per row;
- generate + CSV: plus pyarrow's CSV writer (`csv_bytes`), the text path, for reference;
- one COPY stream: the already-encoded binary rows sent with one `COPY … FROM STDIN
  (FORMAT binary)` into fresh tables (no primary key, as the loader does), timed
  around the COPY only — the rate one server backend absorbs.

The machine is shared and noisy, so the two sides alternate over several rounds and the
reported ratio is the median of the per-round ratios (generate+binary rows/s ÷ COPY
rows/s). Wall-clock rates swing with whatever else runs on
the machine, so CPU time is measured too: the generator's own CPU seconds
(`time.process_time`, it is single-threaded) and the server backend's CPU seconds for
the COPY (from /proc via psutil, when the server runs on this machine; null
otherwise). Their ratio — rows per CPU-second of generation ÷ rows per CPU-second of
one COPY backend — depends far less on contention, and is the figure with an aim:
>= 3 (issue #18: generation must never be what limits a stream). Usage:

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

from featbench.backends.pgload.encode import (
    HEADER,
    TRAILER,
    column_order,
    encode_batch,
    variable_text_columns,
)
from featbench.backends.pgload.loader import DEFAULT_CHUNK_ROWS
from featbench.backends.pgload.state import table_ddl
from featbench.backends.pgload.worker import sub_batches
from featbench.backends.postgres import PostgresBackend
from featbench.generate import chunk_ranges, csv_bytes, generate_batch
from featbench.spec import builtin_spec, scaled_rows
from featbench.target import parse_target

SPEC = builtin_spec()
AIM_CPU_RATIO = 3.0  # rows per CPU-second: generator + encoder / one COPY backend


def _ranges(scale: float) -> list[tuple[Any, int, int]]:
    """The batches a load generates: chunks of DEFAULT_CHUNK_ROWS, each in sub-batches."""
    return [
        (t, a, b)
        for t in SPEC.tables
        for c0, c1 in chunk_ranges(scaled_rows(t, scale), DEFAULT_CHUNK_ROWS)
        for a, b in sub_batches(c0, c1)
    ]


def time_generate(scale: float) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = 0
    for t, a, b in _ranges(scale):
        rows += generate_batch(SPEC, t, 42, a, b).num_rows
    return time.perf_counter() - t0, rows


def time_generate_binary(
    scale: float, keep: bool = False
) -> tuple[float, float, int, int, dict[str, list[bytes]]]:
    """(wall seconds, CPU seconds, rows, bytes, encoded data per table if `keep`).

    Timed without `keep`: a load stream sends each batch and drops it, so memory is
    reused; keeping 100 MB of batches would add page-fault time a load never pays.
    """
    out: dict[str, list[bytes]] = {}
    c0, t0 = time.process_time(), time.perf_counter()
    rows = nbytes = 0
    for t, a, b in _ranges(scale):
        enc = encode_batch(generate_batch(SPEC, t, 42, a, b), variable_text_columns(SPEC, t))
        if keep:
            out.setdefault(t.table_name, []).append(enc.data)  # a reference, no copy
        rows += enc.rows
        nbytes += enc.nbytes
    return time.perf_counter() - t0, time.process_time() - c0, rows, nbytes, out


def backend_cpu(conn: psycopg.Connection) -> Any:
    """A psutil handle on the connection's server process, or None when it is not local."""
    try:
        import psutil

        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        p = psutil.Process(pid)
        if "postgres" not in p.name() and "postgres" not in " ".join(p.cmdline()[:1]):
            return None  # same pid number, other machine
        p.cpu_times()
        return p
    except Exception:  # noqa: BLE001 - remote server, or no permission: CPU time is unknown
        return None


def _cpu(p: Any) -> float:
    t = p.cpu_times()
    return t.user + t.system


def time_generate_csv(scale: float) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    rows = nbytes = 0
    for t, a, b in _ranges(scale):
        batch = generate_batch(SPEC, t, 42, a, b)
        nbytes += len(csv_bytes(batch))
        rows += batch.num_rows
    return time.perf_counter() - t0, rows, nbytes


def time_copy(
    conn: psycopg.Connection, schema: str, data: dict[str, list[bytes]]
) -> tuple[float, float | None]:
    """One COPY stream: recreate the tables, then time only the COPYs of the encoded rows.

    Returns (wall seconds, server CPU seconds or None)."""
    for t in SPEC.tables:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                sql.Identifier(schema), sql.Identifier(t.table_name)
            )
        )
        conn.execute(table_ddl(SPEC, t, schema))
    total = 0.0
    proc = backend_cpu(conn)
    cpu0 = _cpu(proc) if proc is not None else None
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
    cpu = _cpu(proc) - cpu0 if proc is not None and cpu0 is not None else None
    return total, cpu


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
            # warm-up, not counted: first-use costs (imports, allocator, server caches)
            time_copy(conn, schema, time_generate_binary(args.scale, keep=True)[4])
            for i in range(args.rounds):
                gen_s, rows = time_generate(args.scale)
                enc_s, enc_cpu, rows2, nbytes, _ = time_generate_binary(args.scale)
                data = time_generate_binary(args.scale, keep=True)[4]  # untimed: COPY's input
                copy_s, copy_cpu = time_copy(conn, schema, data)
                del data
                r: dict[str, Any] = {
                    "generate_rows_s": rows / gen_s,
                    "generate_binary_rows_s": rows2 / enc_s,
                    "generate_binary_mb_s": nbytes / 1e6 / enc_s,
                    "copy_rows_s": rows2 / copy_s,
                    "copy_mb_s": nbytes / 1e6 / copy_s,
                }
                r["ratio"] = r["generate_binary_rows_s"] / r["copy_rows_s"]
                r["generate_binary_rows_per_cpu_s"] = rows2 / enc_cpu
                r["copy_rows_per_server_cpu_s"] = rows2 / copy_cpu if copy_cpu else None
                r["cpu_ratio"] = (
                    r["generate_binary_rows_per_cpu_s"] / r["copy_rows_per_server_cpu_s"]
                    if r["copy_rows_per_server_cpu_s"]
                    else None
                )
                rounds.append(r)
                print(
                    f"round {i + 1}: generate {r['generate_rows_s']:,.0f} rows/s | generate+binary "
                    f"{r['generate_binary_rows_s']:,.0f} rows/s {r['generate_binary_mb_s']:.0f} MB/s | one COPY "
                    f"stream {r['copy_rows_s']:,.0f} rows/s {r['copy_mb_s']:.0f} MB/s | ratio {r['ratio']:.2f}",
                    file=sys.stderr,
                )
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    def med(k: str) -> float | None:
        vals = [r[k] for r in rounds if r[k] is not None]
        return statistics.median(vals) if vals else None

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
        "cpu_ratio_generate_binary_vs_one_copy_backend": med("cpu_ratio"),
        "aim_cpu_ratio": AIM_CPU_RATIO,
        "load_average_after": os.getloadavg()[0],
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
            f"  ratio generate+binary / one COPY stream: {doc['ratio_generate_binary_vs_one_copy_stream']:.2f}"
        )
        cr = doc["cpu_ratio_generate_binary_vs_one_copy_backend"]
        if cr is not None:
            print(
                f"  per CPU-second: generate+binary {m['generate_binary_rows_per_cpu_s']:,.0f} rows, one COPY "
                f"backend {m['copy_rows_per_server_cpu_s']:,.0f} rows: ratio {cr:.2f} (aim >= {AIM_CPU_RATIO:g})"
            )
        print(f"  load average after: {doc['load_average_after']:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
