"""How long `generate` and `load` take to stop after Ctrl-C (SIGINT), sent at varied moments.

Each round starts the command as a child process (output not a terminal), waits a
varied 2.0–3.9 s so that the signal lands at different points of its work, sends
SIGINT and times the exit. Prints each command's median and maximum and checks the
exit code (130). Aim (issue #13): within a second at any point.

    .venv/bin/python benchmarks/interrupt_latency.py [--target URL] [--rounds 6]

`load` writes to temporary schemas `fb_intr_<random>_<round>` of the target (default
$FEATBENCH_BENCH_PG_DSN, else postgresql://postgres@127.0.0.1:5432/test), dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

FB = str(Path(sys.executable).with_name("featbench"))


def stop_time(argv: list[str], after_s: float) -> float:
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after_s)
    if p.poll() is not None:
        raise SystemExit(f"{' '.join(argv)} ended before the signal: use a larger data set")
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)
    code = p.wait()
    took = time.perf_counter() - t0
    if code != 130:
        raise SystemExit(f"{' '.join(argv)} exited {code} after SIGINT, not 130")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("FEATBENCH_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--target", default=default)
    ap.add_argument("--rounds", type=int, default=6)
    a = ap.parse_args()
    tag = f"fb_intr_{uuid.uuid4().hex[:8]}"
    schemas = [f"{tag}_{i}" for i in range(a.rounds)]  # a fresh one each round: nothing to skip
    out: dict[str, list[float]] = {"generate": [], "load": []}
    try:
        for i in range(a.rounds):
            after = 2.0 + 1.9 * i / max(1, a.rounds - 1)
            with tempfile.TemporaryDirectory() as d:
                gen = [FB, "generate", "--scale", "1", "--out", f"{d}/out"]
                out["generate"].append(stop_time(gen, after))
            load = [FB, "load", "-t", a.target, "--schema", schemas[i], "--scale", "1"]
            out["load"].append(stop_time(load, after))
    finally:
        with psycopg.connect(a.target, autocommit=True) as conn:
            for schema in schemas:
                drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                conn.execute(drop)
    for name, ts in out.items():
        print(
            f"{name:9} SIGINT -> exit: median {statistics.median(ts):.2f} s, "
            f"max {max(ts):.2f} s over {len(ts)} rounds"
        )
    print(f"load average {os.getloadavg()[0]:.2f}; aim: within 1 s")


if __name__ == "__main__":
    main()
