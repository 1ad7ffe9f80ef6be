"""Embedded PostgreSQL: a real server from the `pgserver` package, so a user needs only Python.

Lifecycle (the choice, and why): the server is started on first use and left
running (pgserver ``cleanup_mode=None``) so that `load`, `verify`, `run` and `report`
— separate processes — reuse the same server and data instead of paying a start and
a reload each time. `featbench embedded stop` stops it (`--purge` also deletes the
data); `featbench demo` stops it at the end unless `--keep`. The data directory is
`$FEATBENCH_HOME/pg` (default: the user cache directory), kept between runs.

Settings that matter to the benchmark are set by featbench (ALTER SYSTEM, i.e.
`postgresql.auto.conf`) and reported by `PostgresBackend.describe()`. shared_buffers is
deliberately small so that even the demo's data set is larger than the buffer cache
and the hit ratio falls as traffic gets colder — the effect the benchmark measures.

Cold must be cold: where the data directory's file system allows it, relation files
are opened with direct I/O (`debug_io_direct = data`, PostgreSQL 16+), so a
shared-buffer miss reads the disk for the whole ratio. Emptying the OS page cache
once before each ratio (`pg_cache.OsCacheEvictor`, which runs too) is not enough on
its own: measured here, kernel readahead brought 75 MB of an 85 MB data set back into
the page cache within one 500-request ratio, after which "reads" cost ~3 µs again
(README, "Cold is cold"). Set FEATBENCH_EMBEDDED_DIRECT_IO=off to compare.
Works as root: pgserver then runs the server as a `pgserver` system user.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featbench.errors import FeatbenchError, TargetError
from featbench.fsutil import ensure_writable_dir

# Settings featbench applies to the embedded server. Values are what SHOW prints.
SETTINGS: dict[str, str] = {
    # Small on purpose: the demo data set (~60 MB at scale 0.2) must not fit, so cold
    # keys really read from outside shared buffers.
    "shared_buffers": "32MB",
    "effective_cache_size": "256MB",
    "work_mem": "4MB",
    # Primary keys are built after the data: a larger sort memory makes that fast.
    "maintenance_work_mem": "128MB",
    "max_connections": "64",
    # JIT only adds compile time to short lookups.
    "jit": "off",
    # The embedded server is a throwaway benchmark server: losing the last commits on a
    # crash is acceptable, and the load is resumable anyway.
    "synchronous_commit": "off",
    "max_wal_size": "2GB",
    "checkpoint_timeout": "15min",
    "track_io_timing": "on",
    "huge_pages": "off",
}
# Direct I/O for relation files (see the module docstring); only where supported.
DIRECT_IO = ("debug_io_direct", "data")
DIRECT_IO_ENV = "FEATBENCH_EMBEDDED_DIRECT_IO"
# Settings that only take effect after a restart (the rest are applied with a reload).
_RESTART = {"shared_buffers", "max_connections", "huge_pages", "debug_io_direct"}
_log = logging.getLogger(__name__)


def home() -> Path:
    """featbench's own directory: $FEATBENCH_HOME, else the user cache directory."""
    env = os.environ.get("FEATBENCH_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("featbench"))


def data_dir() -> Path:
    return home() / "pg"


@dataclass
class EmbeddedServer:
    pgdata: Path
    uri: str  # unix-socket URI; no password (trust auth on a private socket)
    pid: int | None
    settings: dict[str, str] = field(default_factory=dict)


def _quiet_pgserver() -> None:
    # pgserver logs every command at INFO and dumps server logs at ERROR; featbench
    # reports failures itself, in one line.
    logging.getLogger("pgserver").setLevel(logging.CRITICAL)


def _import_pgserver() -> Any:
    """Import pgserver without platformdirs' XDG_RUNTIME_DIR warning (harmless, but noise)."""
    _quiet_pgserver()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pgserver
            import pgserver.utils  # noqa: F401
        except ImportError:  # pragma: no cover - a dependency of featbench
            raise FeatbenchError(
                "the embedded server needs the pgserver package: pip install pgserver"
            ) from None
    return pgserver


def start() -> EmbeddedServer:
    """Start (or reuse) the embedded server with featbench's settings; return how to reach it."""
    d = data_dir()
    ensure_writable_dir(
        d.parent, "the embedded server's data directory is not writable: set FEATBENCH_HOME "
        "to a writable directory",
    )  # fmt: skip
    _quiet_pgserver()
    from filelock import FileLock

    # One featbench process at a time initialises/reconfigures the server.
    with FileLock(str(d.parent / ".embedded.lock"), timeout=120):
        pgserver = _import_pgserver()
        # pgserver caches one handle per data directory and returns it without checking
        # that its server still runs: after `stop()` in this process, start afresh.
        cached = pgserver.PostgresServer._instances.get(d.expanduser().resolve())
        if cached is not None and not _running(cached._postmaster_info):
            pgserver.PostgresServer._instances.pop(d.expanduser().resolve(), None)
        try:
            srv = pgserver.get_server(d, cleanup_mode=None)
        except PermissionError as e:
            raise FeatbenchError(
                f"the embedded server's data directory {d} is not usable ({e.strerror}): "
                "set FEATBENCH_HOME to a writable directory"
            ) from None
        except (
            subprocess.CalledProcessError,
            subprocess.TimeoutExpired,
            AssertionError,
            OSError,
        ) as e:
            raise TargetError(
                f"the embedded PostgreSQL in {d} did not start ({type(e).__name__}{_last_log_line(d)}); "
                f"see {d / 'log'}"
            ) from None
        uri = srv.get_uri()
        settings = _apply_settings(srv, uri)
        uri = srv.get_uri() if srv._postmaster_info is not None else uri
        return EmbeddedServer(pgdata=d, uri=uri, pid=srv.get_pid(), settings=settings)


def _last_log_line(d: Path) -> str:
    try:
        lines = [x for x in (d / "log").read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return f": {lines[-1][-160:]}" if lines else ""


def _running(info: Any) -> bool:
    """Whether a pgserver PostmasterInfo names a live server.

    psutil counts a zombie as running, and a stopped postmaster whose parent (pg_ctl)
    has exited may stay a zombie in containers whose init does not reap: check that too.
    """
    if info is None or info.process is None:
        return False
    try:
        import psutil

        return bool(info.process.is_running()) and info.process.status() != psutil.STATUS_ZOMBIE
    except Exception:  # noqa: BLE001 - a vanished process is simply not running
        return False


def _current(conn: Any, names: list[str]) -> dict[str, str]:
    rows = conn.execute(
        "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
        (names,),
    ).fetchall()
    return dict(rows)


def direct_io_supported(d: Path) -> str | None:
    """None when files in directory `d` can be opened with O_DIRECT; otherwise why not
    (no O_DIRECT on this OS, tmpfs, some network file systems, or turned off)."""
    if os.environ.get(DIRECT_IO_ENV, "").lower() in ("0", "off", "no", "false"):
        return f"turned off ({DIRECT_IO_ENV})"
    if not hasattr(os, "O_DIRECT"):
        return "this OS has no O_DIRECT"
    probe = d / ".featbench-direct-io-test"
    try:
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o600)
        os.close(fd)
        return None
    except OSError as e:
        return f"the file system of {d} refuses O_DIRECT ({e.strerror or type(e).__name__})"
    finally:
        probe.unlink(missing_ok=True)


def _wanted(conn: Any, d: Path) -> dict[str, str]:
    """SETTINGS plus direct I/O where the server (16+) and the file system support it."""
    wanted = dict(SETTINGS)
    name, value = DIRECT_IO
    known = conn.execute("SELECT 1 FROM pg_settings WHERE name = %s", (name,)).fetchone()
    if known is not None:
        wanted[name] = value if direct_io_supported(d) is None else ""
    return wanted


def _apply_settings(srv: Any, uri: str) -> dict[str, str]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(uri, autocommit=True) as conn:
        wanted = _wanted(conn, Path(srv.pgdata).parent)
        cur = _current(conn, list(wanted))
        wrong = {k: v for k, v in wanted.items() if cur.get(k, "").lower() != v.lower()}
        if not wrong:
            return cur
        for k, v in wanted.items():
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(k), sql.Literal(v))
            )
        conn.execute("SELECT pg_reload_conf()")
    if set(wrong) & _RESTART:
        _restart(srv)
    with psycopg.connect(srv.get_uri(), autocommit=True) as conn:
        return _current(conn, list(wanted))


def _restart(srv: Any) -> None:
    from pgserver import pg_ctl
    from pgserver.utils import PostmasterInfo

    # pg_ctl restart reuses the original options (unix socket only, same socket dir).
    pg_ctl(
        ["-w", "-m", "fast", "-l", str(srv.pgdata / "log"), "restart"],
        pgdata=srv.pgdata,
        user=srv.system_user,
        timeout=60,
    )
    info = PostmasterInfo.read_from_pgdata(srv.pgdata)
    if not _running(info):
        raise TargetError(
            f"the embedded PostgreSQL in {srv.pgdata} did not restart; see {srv.pgdata / 'log'}"
        )
    srv._postmaster_info = info


def status() -> dict[str, Any]:
    """Whether the embedded server is running, where, and its URI (never starts it)."""
    d = data_dir()
    out: dict[str, Any] = {
        "data_dir": str(d),
        "initialised": (d / "PG_VERSION").exists(),
        "running": False,
    }
    if not out["initialised"]:
        return out
    _import_pgserver()
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(d)
    if _running(info):
        out.update(running=True, pid=info.pid, uri=info.get_uri())
    return out


STOP_WAIT_S = 300  # seconds pg_ctl waits for a fast shutdown (its shutdown checkpoint)


def stop(purge: bool = False) -> dict[str, Any]:
    """Stop the embedded server if running; with purge, delete its data directory too."""
    _quiet_pgserver()
    d = data_dir()
    st = status()
    stopped = False
    if st["running"]:
        _import_pgserver()
        from pgserver import pg_ctl

        user = "pgserver" if os.name == "posix" and os.geteuid() == 0 else None
        # A fast shutdown ends with a checkpoint that writes every dirty buffer: right
        # after a load, on a busy machine, that took longer than pg_ctl's default 60 s
        # wait and the stop "failed" (a flaky demo test). So wait longer, and if the
        # server still has not stopped, stop it immediately: committed data is in the
        # WAL, the next start replays it.
        last: Exception | None = None
        for mode, wait_s in (("fast", STOP_WAIT_S), ("immediate", 60)):
            try:
                pg_ctl(
                    ["-w", "-t", str(wait_s), "-m", mode, "stop"],
                    pgdata=d,
                    user=user,
                    timeout=wait_s + 30,
                )
                stopped = True
                break
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
                last = e
                if not status()["running"]:  # it stopped after all (e.g. pg_ctl timed out)
                    stopped = True
                    break
        if not stopped:
            raise TargetError(
                f"could not stop the embedded PostgreSQL in {d} ({type(last).__name__})"
            ) from None
    purged = False
    if purge and d.exists():
        shutil.rmtree(d)
        purged = True
    return {"data_dir": str(d), "was_running": st["running"], "stopped": stopped, "purged": purged}
