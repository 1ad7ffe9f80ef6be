"""`dynamodb://embedded`: a local DynamoDB API (moto's ThreadedMotoServer) on a free loopback port.

The server runs in a child process, not in a thread of featbench's own process: its
request handling is Python work that would otherwise compete with the benchmark
client for the GIL and inflate the latencies being measured, and its per-request log
stays out of the terminal. The child exits when its parent does (it watches its parent
pid), so no server outlives featbench.

moto keeps tables in memory: the data lives as long as the featbench process that
started the server. Use it within one command (`featbench demo`, tests); for data
that must survive between commands, point featbench at a real endpoint
(`dynamodb://?region=…&endpoint=…`, e.g. DynamoDB Local).

Credentials: a dummy key pair is passed to the boto3 client of this server only; the
process environment is not touched.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from featbench.errors import TargetError

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "featbench", "aws_secret_access_key": "featbench-embedded"}
START_TIMEOUT_S = 60.0

_lock = threading.Lock()
_server: EmbeddedDynamoDB | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedDynamoDB:
    """A moto server in a child process; `endpoint` is its URL."""

    def __init__(self, start_timeout: float = START_TIMEOUT_S) -> None:
        try:
            import moto  # noqa: F401 - fail here, with the extra to install, not in the child
        except ModuleNotFoundError:
            raise TargetError(
                "dynamodb://embedded needs moto's server: pip install 'featbench[dynamodb]'"
            ) from None
        last = ""
        for _ in range(3):  # the free port can be taken between probing and binding
            self.port = _free_port()
            self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
                prefix="featbench-moto-", suffix=".log", delete=False
            )
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    __name__,
                    "--port",
                    str(self.port),
                    "--parent",
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + start_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if _port_open(self.port):
                    return
                time.sleep(0.05)
            self.stop()
            last = Path(self._log.name).read_text(errors="replace").strip().splitlines()[-1:] or [
                ""
            ]
            last = last[0]
        raise TargetError(
            f"cannot start the embedded DynamoDB (moto server): {last or 'timed out'}"
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        try:
            self._log.close()
            os.unlink(self._log.name)
        except OSError:
            pass


def embedded_dynamodb() -> EmbeddedDynamoDB:
    """The process-wide embedded server, started on first use and stopped at exit."""
    global _server
    with _lock:
        if _server is None or _server.proc.poll() is not None:
            _server = EmbeddedDynamoDB()
            atexit.register(_server.stop)
        return _server


def _serve(port: int, parent: int) -> None:  # pragma: no cover - runs in the child process
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        while os.getppid() == parent:  # re-parented: featbench is gone, so go too
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    ap = argparse.ArgumentParser(description="featbench's embedded DynamoDB (moto) server")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--parent", type=int, required=True)
    a = ap.parse_args()
    _serve(a.port, a.parent)
