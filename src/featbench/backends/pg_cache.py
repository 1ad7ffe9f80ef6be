"""Is cold really cold? PostgreSQL's cache fit check and OS page-cache eviction.

Two things decide whether a cold key costs a read from storage:

- **shared_buffers.** When the spec's tables and indexes fit in it, every page a cold
  key needs is (after the first touch) a buffer hit: the hot/cold sweep cannot show
  anything. `cache_fit` measures the data against `shared_buffers` and
  `effective_cache_size` and says so before timing.
- **the OS page cache.** A shared-buffer miss on a server's local disk is usually
  served by the kernel's page cache (~3 µs for 8 KB here) rather than the disk
  (~57 µs). On a server whose data directory featbench can read (the embedded one,
  or a local server), `OsCacheEvictor` empties the page cache of the spec's relation
  files before each ratio: `CHECKPOINT` (dirty pages cannot be dropped; the
  checkpoint writes and fsyncs them), then `posix_fadvise(POSIX_FADV_DONTNEED)` on
  every file of every table, index and TOAST relation (all forks, all 1 GB segments;
  lookups read only the main fork, the others are a few pages and cost nothing to
  drop). Residency before and after is measured with mincore(2), so the manifest
  records what eviction achieved, not only that it was attempted.

Eviction does nothing for pages still in shared_buffers (PostgreSQL < 17 cannot evict
them without a restart); the embedded server keeps shared_buffers small for that
reason, and each ratio's warm-up re-warms only its hot set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg

from featbench.backends.pg_requests import table_schema
from featbench.errors import FeatbenchError
from featbench.spec import WorkloadSpec

PAGE = mmap.PAGESIZE
_FORKS = ("", "_fsm", "_vm", "_init")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


# -- what the spec's data weighs against the server's caches ----------------------------------
@dataclass
class CacheFit:
    """The spec's tables + indexes (+ TOAST) against the server's cache settings."""

    data_bytes: int
    relations: int  # tables (leaf partitions) measured
    shared_buffers_bytes: int
    effective_cache_size_bytes: int
    fits_shared_buffers: bool
    fits_effective_cache_size: bool
    block_size: int = 8192

    @property
    def data_to_shared_buffers(self) -> float | None:
        if self.shared_buffers_bytes <= 0:
            return None
        return self.data_bytes / self.shared_buffers_bytes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        ratio = self.data_to_shared_buffers
        d["data_to_shared_buffers"] = None if ratio is None else round(ratio, 3)
        return d

    def warning(self, target: str, *, os_cache_evicted: bool = False) -> str | None:
        """What a user must know before trusting the sweep (None when nothing to say)."""
        data, sb = _mb(self.data_bytes), _mb(self.shared_buffers_bytes)
        if self.fits_shared_buffers:
            return (
                f"{target}: the spec's tables and indexes ({data}) fit in shared_buffers ({sb}): "
                "cold keys will not miss the buffer cache, so the hot/cold sweep cannot show "
                "what cold keys cost (load a larger --scale, or lower shared_buffers)"
            )
        if self.fits_effective_cache_size and not os_cache_evicted:
            return (
                f"{target}: the data ({data}) is larger than shared_buffers ({sb}) but within "
                f"effective_cache_size ({_mb(self.effective_cache_size_bytes)}): cold keys that "
                "miss shared_buffers are probably read from the OS page cache, not from disk "
                "(--evict-os-cache empties it before each ratio where featbench can read the "
                "data directory)"
            )
        return None


def hot_set_bytes(n_hot: dict[str, int], spec: WorkloadSpec, block_size: int) -> int:
    """Upper bound of the pages the hot set keeps busy: per table, a heap page and an index
    leaf page per hot key, plus the index's root and an inner page (keys sharing pages
    make it less)."""
    return sum((2 * n_hot.get(t.entity, 0) + 2) * block_size for t in spec.tables)


def hot_set_warning(
    target: str, hot_bytes: int, n_hot: int, tables: int, sb: int, *, fixed_sb: bool = False
) -> str | None:
    """`fixed_sb`: shared_buffers is featbench's own setting (the embedded server)."""
    if hot_bytes <= sb:
        return None
    fix = "fewer --keys or a smaller --hot-fraction" + (
        "" if fixed_sb else ", or more shared_buffers"
    )
    return (
        f"{target}: the hot set ({n_hot:,} keys over {tables} tables) needs up to "
        f"{_mb(hot_bytes)} of pages, more than shared_buffers ({_mb(sb)}): hot keys may miss "
        f"the buffer cache too ({fix})"
    )


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 1024:,.0f} kB"


def _leaf_relids_sql() -> str:
    # The spec's tables, and for a partitioned table its leaf partitions (they hold the data).
    return """
        WITH RECURSIVE spec(oid) AS (
            SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN unnest(%s::text[], %s::text[]) AS w(sch, rel)
                ON n.nspname = w.sch AND c.relname = w.rel
        ), tree(oid) AS (
            SELECT oid FROM spec
            UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid
        )
        SELECT c.oid FROM tree t JOIN pg_class c ON c.oid = t.oid
         WHERE c.relkind IN ('r', 'm', 't')"""


def _spec_names(schema: str, spec: WorkloadSpec) -> tuple[list[str], list[str]]:
    return [table_schema(schema, t) for t in spec.tables], [t.table_name for t in spec.tables]


def _setting_bytes(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(
        "SELECT setting::int8, unit FROM pg_settings WHERE name = %s", (name,)
    ).fetchone()
    if row is None:
        return 0
    value, unit = row
    units = {"8kB": 8192, "kB": 1024, "MB": 2**20, "B": 1, None: 1}
    return int(value) * units.get(unit, 1)


def cache_fit(conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec) -> CacheFit:
    """Size of the spec's relations (pg_total_relation_size) vs shared_buffers and
    effective_cache_size."""
    schemas, names = _spec_names(schema, spec)
    row = conn.execute(
        f"SELECT count(*), coalesce(sum(pg_total_relation_size(oid)), 0)::int8 FROM ({_leaf_relids_sql()}) r",
        (schemas, names),
    ).fetchone()
    assert row is not None
    n, data = int(row[0]), int(row[1])
    sb = _setting_bytes(conn, "shared_buffers")
    ecs = _setting_bytes(conn, "effective_cache_size")
    block = _setting_bytes(conn, "block_size") or 8192
    return CacheFit(
        data_bytes=data,
        relations=n,
        shared_buffers_bytes=sb,
        effective_cache_size_bytes=ecs,
        fits_shared_buffers=data <= sb,
        fits_effective_cache_size=data <= ecs,
        block_size=block,
    )


# -- the relation files -----------------------------------------------------------------------
def relation_paths(conn: psycopg.Connection[Any], schema: str, spec: WorkloadSpec) -> list[str]:
    """Data-directory-relative paths (pg_relation_filepath) of every table, index and TOAST
    relation holding the spec's data."""
    schemas, names = _spec_names(schema, spec)
    rows = conn.execute(
        f"""WITH leaf AS ({_leaf_relids_sql()}),
               withtoast AS (
                 SELECT oid FROM leaf
                 UNION SELECT c.reltoastrelid FROM leaf l JOIN pg_class c ON c.oid = l.oid
                  WHERE c.reltoastrelid <> 0)
            SELECT pg_relation_filepath(oid) FROM withtoast
            UNION SELECT pg_relation_filepath(i.indexrelid)
              FROM pg_index i JOIN withtoast w ON i.indrelid = w.oid""",
        (schemas, names),
    ).fetchall()
    return sorted(r[0] for r in rows if r[0] is not None)


def segment_files(data_dir: Path, rel_paths: list[str]) -> list[Path]:
    """Every existing file of the relations: all forks, all 1 GB segments (`.1`, `.2`, …)."""
    out: list[Path] = []
    for rel in rel_paths:
        base = data_dir / rel
        for fork in _FORKS:
            first = Path(f"{base}{fork}")
            if not first.exists():
                continue
            out.append(first)
            seg = 1
            while (p := Path(f"{base}{fork}.{seg}")).exists():
                out.append(p)
                seg += 1
    return out


# -- page-cache residency (mincore) and eviction (posix_fadvise) --------------------------------
_libc: Any = None


def _get_libc() -> Any:
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        lib.mmap.restype = ctypes.c_void_p
        lib.mmap.argtypes = (
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long,
        )  # fmt: skip
        lib.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        lib.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
        _libc = lib
    return _libc


def can_evict() -> str | None:
    """None when this OS can evict and measure files' pages; otherwise why not."""
    if not hasattr(os, "posix_fadvise"):
        return "this OS has no posix_fadvise (Linux and most Unixes do; macOS and Windows do not)"
    try:
        _get_libc().mincore  # noqa: B018 - attribute lookup is the check
    except (OSError, AttributeError):
        return "mincore(2) is not available from this C library"
    return None


def resident_bytes(path: Path | str) -> int:
    """Bytes of a file currently in the OS page cache (mincore on a read-only mapping;
    mapping a file does not fault its pages in)."""
    libc = _get_libc()
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), f"mmap failed for {path}")
        try:
            pages = (size + PAGE - 1) // PAGE
            vec = ctypes.create_string_buffer(pages)
            if libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore failed for {path}")
            raw = vec.raw
            resident = len(raw) - raw.count(0)  # only bit 0 is defined: non-zero = resident
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)
    return min(resident * PAGE, size)


def drop_file(path: Path | str) -> int:
    """posix_fadvise(DONTNEED) on a whole file; returns its size."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


@dataclass
class Eviction:
    """One eviction, as recorded in the manifest."""

    files: int
    bytes: int
    resident_before_bytes: int
    resident_after_bytes: int
    checkpoint_ms: float | None  # None: CHECKPOINT refused (dirty pages may stay cached)
    seconds: float
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OsCacheEvictor:
    """Empties the OS page cache of a spec's relation files (see the module docstring)."""

    method = "CHECKPOINT, then posix_fadvise(POSIX_FADV_DONTNEED) on every relation file"

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        data_dir: Path,
        rel_paths: list[str],
    ) -> None:
        self.conn = conn
        self.data_dir = data_dir
        self.rel_paths = rel_paths

    def files(self) -> list[Path]:
        return segment_files(self.data_dir, self.rel_paths)

    def evict(self) -> Eviction:
        t0 = time.perf_counter()
        files = self.files()
        before = sum(resident_bytes(f) for f in files)
        ckpt_ms: float | None = None
        note = None
        try:
            c0 = time.perf_counter()
            self.conn.execute("CHECKPOINT")
            ckpt_ms = round((time.perf_counter() - c0) * 1000, 1)
        except psycopg.errors.InsufficientPrivilege:
            note = (
                "CHECKPOINT refused (needs superuser or pg_checkpoint): dirty pages may stay cached"
            )
        total = 0
        for f in files:
            try:
                total += drop_file(f)
            except FileNotFoundError:  # a segment dropped meanwhile (VACUUM truncation)
                continue
        after = sum(resident_bytes(f) for f in files if f.exists())
        return Eviction(
            files=len(files),
            bytes=total,
            resident_before_bytes=before,
            resident_after_bytes=after,
            checkpoint_ms=ckpt_ms,
            seconds=round(time.perf_counter() - t0, 4),
            note=note,
        )


# -- where eviction is possible ----------------------------------------------------------------
def is_local_host(host: str, hostaddr: str = "") -> bool:
    """A unix socket (a directory path) or a loopback address: the server runs here."""
    return host.startswith("/") or host in _LOCAL_HOSTS or hostaddr in _LOCAL_HOSTS


def direct_io(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server opens relation files with direct I/O (PostgreSQL 16+
    `debug_io_direct` includes `data`): its shared-buffer misses then bypass the OS cache."""
    row = conn.execute("SELECT current_setting('debug_io_direct', true)").fetchone()
    return bool(row and row[0] and "data" in str(row[0]).lower())


def locate_data_dir(conn: psycopg.Connection[Any]) -> tuple[Path | None, str]:
    """The server's data directory if featbench can read it here, else (None, why not).

    Proof that a local path is *this* server's directory, not another one at the same
    path: its postmaster.pid records the postmaster's start time, which must equal
    pg_postmaster_start_time().
    """
    if not is_local_host(conn.info.host or "", conn.info.hostaddr or ""):
        return None, f"the server is not on this machine (host {conn.info.host})"
    try:
        row = conn.execute(
            "SELECT current_setting('data_directory'),"
            " extract(epoch FROM pg_postmaster_start_time())::int8"
        ).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return None, "reading data_directory needs superuser or pg_read_all_settings"
    assert row is not None
    d, started = Path(row[0]), int(row[1])
    try:
        lines = (d / "postmaster.pid").read_text().splitlines()
    except OSError as e:
        return (
            None,
            f"its data directory {d} is not readable here ({e.strerror or type(e).__name__})",
        )
    if len(lines) < 3 or not lines[2].strip().isdigit() or abs(int(lines[2]) - started) > 1:
        return None, f"{d} on this machine belongs to another server than the one connected to"
    return d, "local"


def open_evictor(
    conn: psycopg.Connection[Any],
    schema: str,
    spec: WorkloadSpec,
    data_dir: Path | None,
) -> tuple[OsCacheEvictor | None, str]:
    """An evictor for the spec's files, or (None, why not). `data_dir` is known for the
    embedded server; otherwise it is located (and checked) through the connection."""
    why = can_evict()
    if why is not None:
        return None, why
    if data_dir is None:
        data_dir, why = locate_data_dir(conn)
        if data_dir is None:
            return None, why
    paths = relation_paths(conn, schema, spec)
    files = segment_files(data_dir, paths)
    if not files:
        return None, f"no relation file of the spec was found under {data_dir}"
    try:
        drop_file(files[0])  # can we open them? (dropping one file's cache is harmless)
    except OSError as e:
        return None, (
            f"the relation files under {data_dir} are not readable here "
            f"({e.strerror or type(e).__name__})"
        )
    return OsCacheEvictor(conn, data_dir, paths), "ok"


def eviction_error(target: str, why: str) -> FeatbenchError:
    return FeatbenchError(
        f"--evict-os-cache: cannot evict {target}'s files from the OS page cache: {why} "
        "(run featbench on the database host as a user who can read its data directory, "
        "or pass --no-evict-os-cache)"
    )
