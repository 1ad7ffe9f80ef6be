"""Helpers of the data-side fault tests: the CLI in-process, its one-line errors, and a
featbench process interrupted at a moment it is seen to reach (never after a sleep)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from featbench.cli import main

FEATBENCH = [sys.executable, "-c", "from featbench.cli import main; main()"]  # + arguments


def cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str, str]:
    """Run the command line in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as ex:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(ex.value.code or 0), out, err


def one_line_error(err: str) -> str:
    """The error, the last thing said (notes shown before timing may precede it)."""
    assert "Traceback" not in err
    lines = [x for x in err.strip().splitlines() if x.strip()]
    starts = [i for i, x in enumerate(lines) if x.startswith("error:")]
    assert len(starts) == 1, err
    return " ".join(lines[starts[0] :])  # rich may wrap one long line


def one_line_exit_2(code: int, err: str) -> str:
    assert code == 2, err
    return one_line_error(err)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def interrupt_when(
    args: list[str], ready: Callable[[], bool], *, max_rss_mib: float = 400
) -> tuple[int, str, float]:
    """Start featbench with `args` (output not a terminal), wait until `ready()`, check its
    memory, send SIGINT: (exit code, stderr, seconds it took to stop)."""
    proc = subprocess.Popen([*FEATBENCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _, err = proc.communicate()
                pytest.fail(f"never ready (exit {proc.returncode}): {err.decode()}")
            time.sleep(0.05)
        rss = rss_mib(proc.pid)
        assert rss < max_rss_mib, f"{rss:.0f} MiB resident"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        return proc.returncode, err.decode(), time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
