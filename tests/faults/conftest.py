"""Fault tests: servers of the tests' own, runs in subprocesses, moments made certain.

Every fault is done while the run waits at a pause point (`featbench/pausepoint.py`):
the run writes `<name>.reached` and waits for `<name>.go`, so a connection is
terminated, a server restarted or a signal sent at a known moment, never "soon enough".
The servers are the tests' own (a PostgreSQL from pgserver's binaries in a temporary
directory, a redis-server on a free loopback port): restarting them or terminating
every backend disturbs no one else.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import tomli_w

from run_helpers import tiny_spec

RUN_TIMEOUT_S = 240


def write_spec(path: Path) -> Path:
    spec = tiny_spec(entities=2, rows=500, name="faults")
    path.write_text(tomli_w.dumps(spec.model_dump(mode="json", exclude_none=True)))
    return path


@dataclass
class OwnPostgres:
    """A PostgreSQL started by pgserver in a temporary directory (unix socket only)."""

    server: Any

    @property
    def uri(self) -> str:
        return str(self.server.get_uri())

    def restart(self) -> None:
        from pgserver import pg_ctl
        from pgserver.utils import PostmasterInfo

        srv = self.server
        pg_ctl(
            ["-w", "-m", "fast", "-l", str(srv.pgdata / "log"), "restart"],
            pgdata=srv.pgdata,
            user=srv.system_user,
            timeout=60,
        )
        srv._postmaster_info = PostmasterInfo.read_from_pgdata(srv.pgdata)

    def terminate_others(self) -> int:
        """pg_terminate_backend every client connection but this one; how many."""
        import psycopg

        with psycopg.connect(self.uri, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchall()
        return len(rows)


@pytest.fixture(scope="package")
def own_pg() -> Iterator[OwnPostgres]:
    import pgserver

    # not under pytest's 0700 temp dirs: as root, pgserver runs the server as another user
    d = Path(tempfile.mkdtemp(prefix="featbench-faults-pg-"))
    d.chmod(0o755)
    server = pgserver.get_server(d / "pgdata", cleanup_mode="stop")
    try:
        yield OwnPostgres(server)
    finally:
        server.cleanup()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="package")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_spec(tmp_path_factory.mktemp("spec") / "faults.toml")


@pytest.fixture(scope="package")
def loaded_pg(own_pg: OwnPostgres, spec_file: Path) -> OwnPostgres:
    r = featbench(["load", "-t", own_pg.uri, "--spec", str(spec_file), "--scale", "1"])
    assert r.returncode == 0, r.stderr
    return own_pg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OwnRedis:
    """A redis-server of the test's own: loopback, a free port, an RDB file in a temp dir."""

    port: int
    dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def command(self, *args: str) -> None:
        import redis

        r = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            r.execute_command(*args)
        finally:
            r.close()

    def shutdown(self) -> None:
        """SHUTDOWN NOSAVE: the server goes at once; its data comes back from the last SAVE."""
        import redis

        try:
            self.command("SHUTDOWN", "NOSAVE")
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        assert self.proc is not None
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="package")
def own_redis(tmp_path_factory: pytest.TempPathFactory, spec_file: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH to restart")
    srv = OwnRedis(free_port(), tmp_path_factory.mktemp("own_redis"))
    srv.start()
    try:
        r = featbench(["load", "-t", srv.url, "--spec", str(spec_file), "--scale", "1"])
        assert r.returncode == 0, r.stderr
        srv.command("SAVE")  # what a restart brings back
        yield srv
    finally:
        srv.stop()


# -- running featbench -------------------------------------------------------------------------
def featbench(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "featbench", *args],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env={**os.environ, **(env or {})},
    )  # fmt: skip


@dataclass
class PausedRun:
    """A `featbench run` in a subprocess that stops at pause points until told to go."""

    proc: subprocess.Popen[str]
    pause_dir: Path
    out: Path
    run_id: str

    @property
    def run_dir(self) -> Path:
        return self.out / self.run_id

    def wait_reached(self, name: str, timeout: float = RUN_TIMEOUT_S) -> None:
        marker = self.pause_dir / f"{name}.reached"
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"the run ended before {name}: {err}{out}")
            assert time.monotonic() < deadline, f"the run never reached {name}"
            time.sleep(0.02)

    def go(self, name: str) -> None:
        (self.pause_dir / f"{name}.go").touch()

    def finish(self, timeout: float = RUN_TIMEOUT_S) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode, out, err

    def family(self) -> list[psutil.Process]:
        """The run's process and every process it started (clients, resource tracker…)."""
        p = psutil.Process(self.proc.pid)
        return [p, *p.children(recursive=True)]


@pytest.fixture
def start_run(tmp_path: Path, spec_file: Path) -> Iterator[Any]:
    runs: list[PausedRun] = []

    def start(target: str, pause_at: str, *extra: str, run_id: str = "r1") -> PausedRun:
        pause_dir = tmp_path / "pause"
        pause_dir.mkdir(exist_ok=True)
        env = {**os.environ, "FEATBENCH_TEST_PAUSE_AT": pause_at}
        env["FEATBENCH_TEST_PAUSE_DIR"] = str(pause_dir)
        out = tmp_path / "results"
        args = [
            "run", "-t", target, "--spec", str(spec_file), "--ratios", "100,50,0",
            "-n", "100", "--warmup", "10", "--keys", "400", "--hot-fraction", "0.1",
            "--io-sample-every", "50", "--out", str(out), "--run-id", run_id, "--json",
            *extra,
        ]  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "featbench", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        run = PausedRun(proc, pause_dir, out, run_id)
        runs.append(run)
        return run

    yield start
    for r in runs:
        for p in r.family() if r.proc.poll() is None else []:
            p.kill()
        r.finish(timeout=30)


def show_json(run_dir: Path) -> dict[str, Any]:
    r = featbench(["show", str(run_dir), "--json"])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)
