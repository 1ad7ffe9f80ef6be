"""Before timing: can cold keys miss the cache, and is the OS page cache emptied per ratio?

Two questions to every backend (stores without a buffer cache or files answer None):

- `os_cache_eviction(spec, requested)` (`prepare_cold`, right after the targets are
  checked): whether the OS page cache of the spec's files is emptied before each
  ratio, and the function that does it. Asked for where impossible, it fails here,
  before anything is written.
- `cache_fit(spec, n_hot=…)` (`ColdSetup.check_fit`, once keys are sampled): the
  spec's data and the hot set against the server's buffer cache; warnings when the
  data fits (cold keys cannot miss it: the sweep measures nothing) or the hot set
  does not (hot keys miss too).

What they return goes into the manifest (per target: `cache`, `os_cache_eviction`) and
gives each section its `before_level` hook, which appends one record per ratio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from featbench.backends.base import Backend
from featbench.spec import WorkloadSpec


@dataclass
class ColdSetup:
    eviction: dict[str, Any]  # manifest targets[i]["os_cache_eviction"]
    cache: dict[str, Any] | None = None  # manifest targets[i]["cache"], set by check_fit
    warnings: list[str] = field(default_factory=list)
    _evict: Callable[[], dict[str, Any]] | None = None

    def check_fit(self, b: Backend, spec: WorkloadSpec, n_hot: dict[str, int]) -> list[str]:
        """The data and the hot set against the store's buffer cache (once keys are known);
        returns the warnings to show before timing."""
        try:
            self.cache = b.cache_fit(spec, os_cache_evicted=self._evict is not None, n_hot=n_hot)
        except Exception as e:  # noqa: BLE001 - the check informs; it never stops a run
            self.cache = {"error": f"{type(e).__name__}: {e}"}
        out = list(self.warnings)
        if self.cache:
            out += [str(w) for w in self.cache.get("warnings") or []]
        return out

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
    """Set up eviction for one target; raises FeatbenchError where it was asked for and
    cannot work (before anything is written)."""
    ev = b.os_cache_eviction(spec, requested)
    if ev is None:
        eviction: dict[str, Any] = {
            "enabled": False,
            "reason": f"not applicable: {b.kind} keeps no files in the OS page cache",
            "levels": [],
        }
    else:
        eviction = {"enabled": ev.enabled, "reason": ev.reason, "method": ev.method, "levels": []}
    warnings: list[str] = []
    if requested and ev is None:
        warnings.append(f"{target}: --evict-os-cache does not apply to {b.kind}")
    return ColdSetup(eviction, None, warnings, ev.evict if ev and ev.enabled else None)
