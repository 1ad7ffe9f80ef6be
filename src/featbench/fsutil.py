"""Small file-system checks with one-line errors (what to fix), shared by every part."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from featbench.errors import FeatbenchError


def ensure_writable_dir(d: Path, hint: str = "") -> None:
    """Create `d` if needed and prove a file can be written there; FeatbenchError if not."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".featbench-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise FeatbenchError(f"cannot write to {d} ({why}){': ' + hint if hint else ''}") from None


def read_text(path: Path, what: str, error: type[FeatbenchError] = FeatbenchError) -> str:
    """A user's text file (`what`: "spec file", "prices file"…), or one line saying why not."""
    try:
        return path.read_text()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None


def atomic_write(path: Path, write: Callable[[Path], Any], suffix: str = ".tmp") -> None:
    """`write(tmp)`, then rename `tmp` over `path`: a reader sees the old file or the new
    one, never half of one. On failure (a full disk, Ctrl-C) the temp file is removed,
    which also frees its space, and the error is raised."""
    tmp = path.with_name(path.name + suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """A text file written through `atomic_write`; a directory that cannot be written is
    one line, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as e:
        raise FeatbenchError(f"cannot write {path}: {e.strerror or type(e).__name__}") from None
    return path
