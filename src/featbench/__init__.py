"""featbench: a reproducible benchmark for online feature serving.

The public names are few; the machinery lives in the stage modules
(``spec``, ``generate``, ``load``, ``workload``, ``backends``, ``runner``,
``measure``, ``results``, ``report``). What the commands do is callable from a script
or a notebook through ``featbench.api`` (and ``featbench.demo``); a run directory is
read back with ``featbench.results.reader.read_run``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from featbench.errors import FeatbenchError, SpecError, TargetError  # noqa: E402
from featbench.spec import WorkloadSpec, builtin_spec, load_spec  # noqa: E402

__all__ = [
    "FeatbenchError",
    "SpecError",
    "TargetError",
    "WorkloadSpec",
    "__version__",
    "builtin_spec",
    "load_spec",
]
