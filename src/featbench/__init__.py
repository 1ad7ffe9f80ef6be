"""featbench: a reproducible benchmark for online feature serving.

The public names are few; the machinery lives in the stage modules
(``spec``, ``generate``, ``load``, ``workload``, ``backends``, ``runner``,
``measure``, ``results``, ``report``). What the commands do is callable from a script
or a notebook through ``featbench.api`` (and ``featbench.demo``); a run directory is
read back with ``featbench.results.reader.read_run``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any  # noqa: E402

from featbench.errors import FeatbenchError, SpecError, TargetError  # noqa: E402

if TYPE_CHECKING:
    from featbench.spec import WorkloadSpec, builtin_spec, load_spec

_FROM_SPEC = ("WorkloadSpec", "builtin_spec", "load_spec")


def __getattr__(name: str) -> Any:
    # The spec's names load pydantic: imported on first use, so `featbench --help` stays fast.
    if name in _FROM_SPEC:
        from featbench import spec

        return getattr(spec, name)
    raise AttributeError(f"module 'featbench' has no attribute {name!r}")


__all__ = [
    "FeatbenchError",
    "SpecError",
    "TargetError",
    "WorkloadSpec",
    "__version__",
    "builtin_spec",
    "load_spec",
]
