"""How big a data set is before anything is written, and when to ask for `--yes`.

`load` and `generate` estimate the rows and bytes a scale gives from the spec alone
(no allocation that grows with the scale) and refuse, in one line, a data set larger
than the free disk where it goes (a local server's data directory, generate's --out) or
than `ROW_LIMIT` rows, unless `--yes`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from featbench.errors import FeatbenchError
from featbench.spec import WorkloadSpec, scaled_rows

ROW_LIMIT = 10_000_000_000  # more rows than this is a day-long load: ask first


@dataclass(frozen=True)
class Size:
    rows: int
    bytes: int  # estimated bytes in PostgreSQL (heap rows, spec.row_bytes)


def estimate(spec: WorkloadSpec, scale: float) -> Size:
    """Rows and estimated bytes of the data set at `scale` (arithmetic only)."""
    rows = nbytes = 0
    for t in spec.tables:
        n = scaled_rows(t, scale)
        rows += n
        nbytes += n * spec.row_bytes(t)
    return Size(rows, nbytes)


def free_bytes(path: Path) -> int | None:
    """Free bytes of the file system that holds `path` (or its nearest existing parent)."""
    p = path.resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1000 or unit == "EB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def check_size(
    size: Size, *, scale: float, free: tuple[int, str] | None, yes: bool, action: str
) -> list[str]:
    """Why this data set needs `--yes` ([] when it does not); FeatbenchError (exit 2)
    when it does and `yes` is not given. `free`: (free bytes, where) of the destination."""
    reasons = []
    if size.rows > ROW_LIMIT:
        reasons.append(f"more than {ROW_LIMIT:,} rows")
    if free is not None and size.bytes > free[0]:
        reasons.append(f"more than the {human(free[0])} free at {free[1]}")
    if reasons and not yes:
        raise FeatbenchError(
            f"--scale {scale:g} would {action} {size.rows:,} rows, about {human(size.bytes)}: "
            f"{' and '.join(reasons)}; pass --yes to go ahead, or use a smaller --scale"
        )
    return reasons
