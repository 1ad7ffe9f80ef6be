"""featbench's optional C libraries (setup.py), found next to their package and loaded
with ctypes: plain C, no Python API, so a ctypes call releases the GIL while it runs.

Each is optional: an install without a C compiler has none, and every caller keeps a
Python/numpy path that produces the same results (tests run both).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).parent  # the featbench package


def path(module: str) -> str | None:
    """The built library of extension `module` (e.g. "featbench._generate"), or None."""
    parts = module.split(".")
    if parts[0] != "featbench":
        raise ValueError(module)
    base = _ROOT.joinpath(*parts[1:-1])
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = base / f"{parts[-1]}{suffix}"
        if p.exists():
            return str(p)
    return None


@cache
def load(module: str) -> ctypes.CDLL | None:
    """The library loaded (once per process), None where it was not built or won't load."""
    p = path(module)
    if p is None:
        return None
    try:
        return ctypes.CDLL(p)
    except OSError:
        return None


def function(
    module: str, symbol: str, argtypes: list[Any], restype: Any
) -> Callable[..., Any] | None:
    """`symbol` of extension `module`, typed for ctypes; None where it was not built."""
    lib = load(module)
    if lib is None:
        return None
    fn = getattr(lib, symbol)
    fn.argtypes, fn.restype = argtypes, restype
    return fn  # type: ignore[no-any-return]
