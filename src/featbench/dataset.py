"""The data a target holds: scale and seed from what featbench recorded when it loaded it.

`run`, `get` and `verify` ask the target (`Backend.loaded_dataset`) rather than trusting a
default: a run over data loaded at scale 0.01 records 0.01, and `cost --run` then sizes
storage for the rows that were really there. An explicit option that disagrees with the
record is an error naming both values; a target featbench did not load (existing tables)
has no record, and the option (or its default) stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from featbench.errors import FeatbenchError
from featbench.spec import WorkloadSpec

DEFAULT_SCALE = 1.0


@dataclass(frozen=True)
class LoadedData:
    scale: float
    seed: int | None  # the data seed; None when nothing recorded it and none was given
    source: str  # "recorded in the target" | "given" | "default"


def _name(b: Any) -> str:
    name = getattr(b, "redacted", None)
    if isinstance(name, str):
        return name
    t = getattr(b, "target", None)
    return getattr(t, "redacted", None) or getattr(b, "kind", "the target")


def recorded(backends: Sequence[Any], spec: WorkloadSpec) -> tuple[float, int, str] | None:
    """(scale, seed, target) featbench recorded in the targets; an error when targets that
    must hold the same data hold different ones."""
    found: list[tuple[float, int, str]] = []
    for b in backends:
        fn = getattr(b, "loaded_dataset", None)
        got = fn(spec) if fn is not None else None
        if got is not None:
            found.append((float(got[0]), int(got[1]), _name(b)))
    for s, d, where in found[1:]:
        if (s, d) != found[0][:2]:
            raise FeatbenchError(
                f"the targets hold different data: {found[0][2]} was loaded at scale "
                f"{found[0][0]:g} (seed {found[0][1]}), {where} at scale {s:g} (seed {d}); "
                "every target must hold the same data"
            )
    return found[0] if found else None


def resolve_loaded(
    backends: Sequence[Any],
    spec: WorkloadSpec,
    *,
    scale: float | None,
    seed: int | None = None,
) -> LoadedData:
    """Scale (and data seed) of the run: the targets' record wins; an explicit value that
    disagrees with it is an error naming both. `seed` is the *data* seed (verify's --seed),
    not a run's sampling seed."""
    rec = recorded(backends, spec)
    if rec is None:
        return LoadedData(
            DEFAULT_SCALE if scale is None else float(scale),
            seed,
            "default" if scale is None else "given",
        )
    r_scale, r_seed, where = rec
    if scale is not None and float(scale) != r_scale:
        raise FeatbenchError(
            f"--scale {scale:g} disagrees with the data at {where}: featbench loaded it at "
            f"scale {r_scale:g} (seed {r_seed}); drop --scale, or load again at {scale:g}"
        )
    if seed is not None and int(seed) != r_seed:
        raise FeatbenchError(
            f"--seed {seed} disagrees with the data at {where}: featbench loaded it with "
            f"seed {r_seed} (scale {r_scale:g}); drop --seed, or load again with seed {seed}"
        )
    return LoadedData(r_scale, r_seed, "recorded in the target")
