"""What a cold 8 KB read costs on this machine: the OS page cache against the disk.

A shared-buffer miss of PostgreSQL is a read(2) of an 8 KB page. Served from the OS
page cache it is a memory copy; after the file is dropped from the cache it reaches
the disk. This measures both on a temporary file of the size of a small data set,
with random page offsets (as primary-key lookups read):

- cached: after reading the whole file once;
- after posix_fadvise(DONTNEED), buffered reads (kernel readahead as is, and with
  POSIX_FADV_RANDOM, which turns readahead off for the file);
- O_DIRECT: what PostgreSQL's `debug_io_direct=data` does (the embedded server).

Rounds alternate the variants; medians and p99 in µs are printed. mincore(2) (via
featbench.backends.pg_cache.resident_bytes) confirms residency before each variant.

    .venv/bin/python benchmarks/page_cache.py [--mb 256] [--reads 300] [--rounds 3] [--dir DIR]

The file goes into --dir (default: the current directory — put it on the disk you care
about; tmpfs has no O_DIRECT and no disk).
"""

from __future__ import annotations

import argparse
import mmap
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from featbench.backends.pg_cache import drop_file, resident_bytes

PAGE = 8192


def _make(path: Path, mb: int) -> None:
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())  # clean pages: DONTNEED cannot drop dirty ones


def _reads(path: Path, n: int, seed: int, flags: int = 0, advice: int | None = None) -> list[float]:
    pages = path.stat().st_size // PAGE
    rnd = random.Random(seed)
    fd = os.open(path, os.O_RDONLY | flags)
    buf = mmap.mmap(-1, PAGE)  # page-aligned: O_DIRECT needs an aligned buffer
    try:
        if advice is not None:
            os.posix_fadvise(fd, 0, 0, advice)
        out = []
        for _ in range(n):
            off = rnd.randrange(pages) * PAGE
            t0 = time.perf_counter_ns()
            os.preadv(fd, [buf], off)
            out.append((time.perf_counter_ns() - t0) / 1000)
        return out
    finally:
        os.close(fd)
        buf.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--reads", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=".")
    a = ap.parse_args()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        path = Path(d) / "pages.bin"
        _make(path, a.mb)
        for r in range(a.rounds):
            seed = 1000 + r
            path.read_bytes()
            print(f"round {r + 1}: resident before 'cached' {resident_bytes(path) >> 20} MB")
            results.setdefault("cached", []).extend(_reads(path, a.reads, seed))
            for name, advice in (
                ("dropped, readahead as is", None),
                ("dropped, POSIX_FADV_RANDOM", os.POSIX_FADV_RANDOM),
            ):
                drop_file(path)
                print(f"round {r + 1}: resident before '{name}' {resident_bytes(path) >> 20} MB")
                results.setdefault(name, []).extend(_reads(path, a.reads, seed + 7, 0, advice))
            results.setdefault("O_DIRECT", []).extend(_reads(path, a.reads, seed + 13, os.O_DIRECT))
    print(f"\n{a.mb} MB file, {a.reads} random 8 KB reads x {a.rounds} rounds per variant")
    for name, xs in results.items():
        xs.sort()
        p99 = xs[min(len(xs) - 1, int(0.99 * len(xs)))]
        print(f"  {name:28s} p50 {statistics.median(xs):7.1f} µs   p99 {p99:7.1f} µs")


if __name__ == "__main__":
    main()
