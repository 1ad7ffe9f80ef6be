"""A test-only pause point: make the moment of a fault certain, never hoped for.

With `FEATBENCH_TEST_PAUSE_AT=<name>` and `FEATBENCH_TEST_PAUSE_DIR=<dir>` set, a run
reaching the point `<name>` writes `<dir>/<name>.reached` (holding its pid) and waits
until `<dir>/<name>.go` exists, then goes on. A test does its damage (terminate a
connection, restart a server, send a signal) in between. Points are only ever between
phases of a run (before a level is measured, after its results are written) or a load
(after a chunk is committed), never in a timed request. Unset (always, outside tests), a point costs one dict lookup.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

ENV_AT = "FEATBENCH_TEST_PAUSE_AT"
ENV_DIR = "FEATBENCH_TEST_PAUSE_DIR"
WAIT_LIMIT_S = 300.0  # a forgotten go file must not hang a test run forever


def pause_point(name: str, stop: Callable[[], bool] | None = None) -> None:
    """Pause at `name` if the environment asks for it (see the module doc); `stop`, when
    given, ends the wait early (a Ctrl-C recorded as a flag while paused)."""
    wanted = os.environ.get(ENV_AT)
    if not wanted or name not in wanted.split(","):
        return
    d = Path(os.environ.get(ENV_DIR) or ".")
    go = d / f"{name}.go"
    reached = d / f"{name}.reached"
    tmp = reached.with_name(reached.name + ".tmp")
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, reached)
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not go.exists() and time.monotonic() < deadline:
        if stop is not None and stop():
            return
        time.sleep(0.02)
