"""Before timing: can cold keys miss the cache, and is the OS page cache emptied per ratio?

`prepare_cold` asks every backend two questions (both optional in the Protocol:
stores without a buffer cache answer None):

- `cache_fit(spec)`: the spec's data against the server's buffer cache; a warning
  when the data fits (cold keys cannot miss it: the sweep measures nothing);
- `os_cache_eviction(spec, requested)`: whether the OS page cache of the spec's files
  is emptied before each ratio, and the function that does it.

What it returns goes into the manifest (per target: `cache`, `os_cache_eviction`) and
gives each section its `before_level` hook, which appends one record per ratio.
Everything that can fail on input (eviction asked for where impossible) fails here,
before the run directory is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from featbench.backends.base import Backend
from featbench.spec import WorkloadSpec


@dataclass
class ColdSetup:
    cache: dict[str, Any] | None  # manifest targets[i]["cache"]
    eviction: dict[str, Any]  # manifest targets[i]["os_cache_eviction"]
    warnings: list[str] = field(default_factory=list)
    _evict: Callable[[], dict[str, Any]] | None = None

    def before_level(
        self, section: int, warn: Callable[[str], None]
    ) -> Callable[[float], None] | None:
        """The hook a loop calls before each level's warm-up (None: nothing to do)."""
        evict = self._evict
        if evict is None:
            return None
        records: list[dict[str, Any]] = self.eviction["levels"]

        def hook(level: float) -> None:
            try:
                rec = evict()
            except Exception as e:  # noqa: BLE001 - a failed eviction is reported, not fatal
                rec = {"error": f"{type(e).__name__}: {e}"}
                warn(f"OS page-cache eviction failed before level {level:g}: {rec['error']}")
            records.append({"section": section, "level": level, **rec})

        return hook


def prepare_cold(b: Backend, spec: WorkloadSpec, requested: bool | None, target: str) -> ColdSetup:
    setup_fn = getattr(b, "os_cache_eviction", None)
    ev = setup_fn(spec, requested) if setup_fn is not None else None
    if ev is None:
        eviction: dict[str, Any] = {
            "enabled": False,
            "reason": f"not applicable: {b.kind} keeps no files in the OS page cache",
        }
    else:
        eviction = {"enabled": ev.enabled, "reason": ev.reason, "method": ev.method, "levels": []}
    warnings: list[str] = []
    fit_fn = getattr(b, "cache_fit", None)
    cache: dict[str, Any] | None = None
    if fit_fn is not None:
        try:
            cache = fit_fn(spec, os_cache_evicted=bool(ev and ev.enabled))
        except Exception as e:  # noqa: BLE001 - the check informs; it never stops a run
            cache = {"error": f"{type(e).__name__}: {e}"}
        if cache and cache.get("warning"):
            warnings.append(str(cache["warning"]))
    if requested and ev is None:
        warnings.append(f"{target}: --evict-os-cache does not apply to {b.kind}")
    return ColdSetup(cache, eviction, warnings, ev.evict if ev and ev.enabled else None)
