"""The run directory: run ids, creating it safely, atomic JSON files, the manifest.

Layout (README "Results"): `results/<run_id>/manifest.json`, `summary.json`,
`requests.parquet`, `io_samples.parquet`, `keys.parquet`,
`histograms/<section>__hot<pct>.hlog`. While a run goes, request rows are written as
parts under `requests/` and `io_samples/` (one or more Parquet files per level) and
consolidated at the end; a run that died keeps its parts, and `results.reader` reads
them.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from featbench import __version__, fsutil
from featbench.errors import FeatbenchError, WriteError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
REQUESTS = "requests.parquet"
IO_SAMPLES = "io_samples.parquet"
KEYS = "keys.parquet"
HISTOGRAMS = "histograms"
REQUEST_PARTS = "requests"
IO_PARTS = "io_samples"
STATUSES = ("running", "complete", "interrupted", "failed")
TMP_SUFFIX = ".tmp"  # a file being written; renamed to its name once complete
MARKER = ".featbench-run"  # written first: the directory is featbench's, whatever else failed
RESERVE = ".reserve"  # space held while a run goes (reserve_space)
NOT_STARTED = "the run did not start, nothing was kept"  # a WriteError before the manifest
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def part_files(parts_dir: Path) -> list[Path]:
    """The Parquet parts of a run not yet consolidated, in the order they were written."""
    return sorted(parts_dir.glob("part-*.parquet")) if parts_dir.is_dir() else []


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by time: `20261126T081500Z-3f2a1c` (UTC timestamp + 6 random hex digits)."""
    now = now or utc_now()
    return f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise FeatbenchError(
            f"--run-id {run_id!r} is not a plain name: use letters, digits, '.', '_' and '-'"
        )
    return run_id


# What a run directory may hold (besides its marker): anything else makes a directory
# someone else's, and --overwrite never deletes it.
_RUN_ENTRIES = {MANIFEST, SUMMARY, REQUESTS, IO_SAMPLES, KEYS, HISTOGRAMS, REQUEST_PARTS,
                IO_PARTS, "timeseries", "timeseries.parquet", "report.html", "png", RESERVE}  # fmt: skip
_PART_SUFFIXES = {".hlog", ".parquet", ".png", TMP_SUFFIX}


def is_run_dir(path: Path) -> bool:
    """True for a directory featbench made for a run, even one a crash or a full disk left
    half-written: it holds the marker or a manifest, or only names a run directory uses."""
    if (path / MARKER).exists() or (path / MANIFEST).exists():
        return True
    for p in path.iterdir():
        if p.name.removesuffix(TMP_SUFFIX) not in _RUN_ENTRIES:
            return False
        if p.is_dir() and not all(f.suffix in _PART_SUFFIXES for f in p.iterdir()):
            return False
    return True


def prepare_run_dir(out: Path, run_id: str, *, overwrite: bool) -> Path:
    """Create `out/run_id`; refuse an existing one unless overwrite (and then only a run dir,
    complete or left partial by a crash or a full disk)."""
    check_run_id(run_id)
    path = out / run_id
    if path.exists():
        if not overwrite:
            raise FeatbenchError(
                f"run directory {path} already exists: choose another --run-id or pass --overwrite"
            )
        if not path.is_dir():
            raise FeatbenchError(
                f"{path} exists and is not a directory; remove it or choose another --run-id"
            )
        # Only ever delete what is a featbench run (or an empty directory).
        if not is_run_dir(path):
            raise FeatbenchError(
                f"{path} exists and is not a featbench run directory; not overwriting it"
            )
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True)
        (path / MARKER).write_bytes(b"")
        (path / HISTOGRAMS).mkdir()
    except OSError as e:
        shutil.rmtree(path, ignore_errors=True)
        raise WriteError(
            f"cannot create the run directory {path}: {(e.strerror or str(e)).lower()}",
            NOT_STARTED,
        ) from None
    return path


def reserve_space(path: Path, nbytes: int) -> None:
    """Hold `nbytes` of the run directory's file system in a file of real blocks, released
    when the run ends: if the disk fills mid-run, that space still records the failure
    (manifest `failed`, a summary of what is on disk)."""
    atomic_write(path / RESERVE, lambda tmp: tmp.write_bytes(b"\0" * nbytes))


def release_reserve(path: Path) -> None:
    (path / RESERVE).unlink(missing_ok=True)


def _reject_nan(obj: Any, where: str = "") -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"non-finite number at {where or '<root>'}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _reject_nan(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _reject_nan(v, f"{where}[{i}]")
    return obj


def write_failed(path: Path, e: OSError) -> WriteError:
    """The one-line error of a results file that could not be written (`e.strerror`
    lower-cased: `… no space left on device`)."""
    errno = e.errno or _errno_in(str(e))  # Arrow's OSError names it only in its text
    why = (os.strerror(errno) if errno else str(e) or type(e).__name__).lower()
    return WriteError(f"cannot write {path.name} in {path.parent}: {why}")


def _errno_in(text: str) -> int | None:
    m = re.search(r"errno (\d+)", text, re.IGNORECASE)
    return int(m.group(1)) if m else None


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """`write(tmp)` then rename over `path`: a reader sees the old file or the new one,
    never half of one. A failure (a full disk) removes the temp file, which frees its
    space, and raises WriteError."""
    try:
        fsutil.atomic_write(path, write, TMP_SUFFIX)
    except OSError as e:
        raise write_failed(path, e) from None


def write_json(path: Path, doc: Any) -> None:
    """Write JSON atomically (temp file + rename); NaN/inf are refused, never written."""
    _reject_nan(doc)
    text = json.dumps(doc, indent=2, allow_nan=False, default=_json_default) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_parquet(path: Path, table: Any, **options: Any) -> None:
    """A Parquet file, written atomically like every results file (`options`: pyarrow's
    `write_table` options)."""
    import pyarrow.parquet as pq

    atomic_write(path, lambda tmp: pq.write_table(table, tmp, **options))


def remove_temp_files(path: Path) -> None:
    """Temp files of writes that never finished (their space is needed to record why)."""
    for p in path.rglob("*" + TMP_SUFFIX):
        p.unlink(missing_ok=True)


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return iso(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def read_json(path: Path) -> Any:
    def bad_constant(name: str) -> Any:
        raise ValueError(f"{path.name} holds {name}, which the contract forbids")

    return json.loads(path.read_text(), parse_constant=bad_constant)


def client_info() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
    }


HEARTBEAT_S = 2.0  # the manifest's heartbeat is renewed at least this often while measuring


def process_info(stale_after_s: float) -> dict[str, Any]:
    """Who is writing this run: a reader tells a live run from a dead one by it (the pid
    and its start time on this host; elsewhere, a heartbeat older than `stale_after_s`)."""
    import psutil

    now = iso(utc_now())
    try:
        started = iso(datetime.fromtimestamp(psutil.Process().create_time(), timezone.utc))
    except psutil.Error:
        started = None
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "process_started_at": started,
        "heartbeat_at": now,
        "stale_after_s": stale_after_s,
    }


def new_manifest(
    *,
    run_id: str,
    started_at: datetime,
    config: dict[str, Any],
    spec_json: dict[str, Any],
    spec_fingerprint: str,
    seed: int,
    targets: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
    stale_after_s: float = 120.0,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "featbench_version": __version__,
        "run_id": run_id,
        "started_at": iso(started_at),
        "finished_at": None,
        "status": "running",
        "config": config,
        "spec": spec_json,
        "spec_fingerprint": spec_fingerprint,
        "seed": seed,
        "targets": targets,
        "client": client_info(),
        "process": process_info(stale_after_s),
    }
    if extra:
        doc.update(extra)
    return doc


def level_label(level: float) -> str:
    return f"{level:g}"


def histogram_name(section_label: str, level: float, level_key: str = "hot_pct") -> str:
    prefix = "hot" if level_key == "hot_pct" else level_key
    return f"{section_label}__{prefix}{level_label(level)}.hlog"
