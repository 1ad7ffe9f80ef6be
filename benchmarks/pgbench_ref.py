"""pgbench as the C reference client of the benchmarks (tail_overhead.py, fanout.py).

Both benchmarks compare featbench with `pgbench -n -M prepared -c 1 -j 1`: one
connection, one prepared statement per script command, per-transaction latencies read
from its `-l` log. Not a benchmark itself: run the others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np


def pgbench_path() -> str:
    """The pgbench that ships with pgserver, else the system's."""
    cands = []
    with contextlib.suppress(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR not set (noise)
        import pgserver._commands as pc

        cands.append(Path(pc.POSTGRES_BIN_PATH) / "pgbench")
    cands += sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)
    found = shutil.which("pgbench")
    if found:
        cands.append(Path(found))
    for c in cands:
        if c.exists():
            return str(c)
    sys.exit("pgbench not found (it ships with pgserver; or install postgresql-client)")


def run_pgbench(
    pgbench: str,
    conninfo: str,
    script: str,
    transactions: int,
    work: Path,
    tag: str,
    defines: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Per-transaction latencies (µs, in order) of `transactions` runs of `script`.

    `defines` become `-D name=value` variables: `:name` in the script is then sent as a
    parameter of the prepared statement (-M prepared), as text the server types.
    """
    path = work / f"{tag}.sql"
    path.write_text(script)
    prefix = work / f"pgbench_{tag}"
    cmd = [pgbench, "-n", "-M", "prepared", "-c", "1", "-j", "1", "-t", str(transactions),
           "-f", str(path), "-l", f"--log-prefix={prefix}"]  # fmt: skip
    for k, v in (defines or {}).items():
        cmd += ["-D", f"{k}={v}"]
    cmd.append(conninfo)
    subprocess.run(
        cmd, check=True, capture_output=True, text=True, env={**os.environ, "PGAPPNAME": "fb_ref"}
    )
    lat: list[int] = []
    for f in sorted(work.glob(f"pgbench_{tag}.*")):
        for line in f.read_text().splitlines():
            lat.append(int(line.split()[2]))  # client_id transaction_no time(us) script_no …
        f.unlink()
    return np.array(lat, dtype=np.float64)


@contextlib.contextmanager
def python_path(on: bool = True) -> Iterator[None]:
    """featbench's timed requests through `Session.execute` instead of the compiled path
    (FEATBENCH_TIMED_PATH=python, inherited by worker processes started inside)."""
    from featbench.backends import pg_native

    if not on:
        yield
        return
    os.environ[pg_native.ENV] = "python"
    pg_native._compiled.cache_clear()
    try:
        yield
    finally:
        del os.environ[pg_native.ENV]
        pg_native._compiled.cache_clear()


@contextlib.contextmanager
def cpu_hog(n: int) -> Iterator[None]:
    """`n` CPU-bound processes competing for the cores (True: one; 0 or False: none)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(int(n))]
    try:
        if procs:
            time.sleep(0.5)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()
