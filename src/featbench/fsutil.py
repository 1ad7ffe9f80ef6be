"""Small file-system checks with one-line errors (what to fix), shared by every part."""

from __future__ import annotations

from pathlib import Path

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


def write_text_atomic(path: Path, text: str) -> Path:
    """Write through a temporary file and a rename: a crash never leaves half a file in
    place; a directory that cannot be written is one line, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise FeatbenchError(f"cannot write {path}: {e.strerror or type(e).__name__}") from None
    return path
