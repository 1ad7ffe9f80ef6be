"""How long `featbench --help` takes, against a bare Python start in the same run.

Runs `featbench --help`, `featbench run --help` and `python -c pass` alternately,
`--rounds` times each, and prints the median wall-clock and CPU time (user + system of
the child) of each, and the help's wall time minus the bare interpreter's. Aim (issue
#17): `featbench --help` under 0.5 s.

    .venv/bin/python benchmarks/cli_startup.py [--rounds 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

COMMANDS = {
    "featbench --help": [str(Path(sys.executable).with_name("featbench")), "--help"],
    "featbench run --help": [str(Path(sys.executable).with_name("featbench")), "run", "--help"],
    "python -c pass": [sys.executable, "-c", "pass"],
}


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one run of argv, output discarded."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    got: dict[str, list[tuple[float, float]]] = {k: [] for k in COMMANDS}
    for _ in range(a.rounds):
        for name, argv in COMMANDS.items():
            got[name].append(timed(argv))
    res = {
        name: {
            "wall_s": statistics.median(w for w, _ in runs),
            "cpu_s": statistics.median(c for _, c in runs),
        }
        for name, runs in got.items()
    }
    res["load_average"] = list(os.getloadavg())
    if a.json:
        print(json.dumps(res, indent=2))
        return
    base = res["python -c pass"]["wall_s"]
    for name in COMMANDS:
        r = res[name]
        print(
            f"{name:24} wall {r['wall_s']:.3f} s  cpu {r['cpu_s']:.3f} s  "
            f"(+{r['wall_s'] - base:.3f} s over a bare interpreter)"
        )
    print(f"load average {res['load_average'][0]:.2f}; aim: featbench --help < 0.5 s")


if __name__ == "__main__":
    main()
