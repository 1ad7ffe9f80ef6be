"""Request plans: a pure function of (keys, config, seed) — the same seed gives the same plan.

For each section (target × strategy) and each hot ratio r, every request draws, per
entity independently, "hot" with probability r. A hot key is a uniform draw from the
hot set; a cold key is drawn **without replacement across the whole run**: no cold
key is ever looked up twice (by any section, ratio, warm-up or I/O sample), so a
cold lookup never finds what an earlier one cached.

Cache contamination, and what the plan does about it:
- *hot-set touch*: each section starts with one pass over the whole hot set;
- *warm-up*: before each ratio, `warmup` requests at that ratio's mix are executed and
  excluded, so the cache reaches that ratio's steady state instead of inheriting the
  previous ratio's. Their cold keys come from a separate pool (the far end of the cold
  ranks), so warm-up never consumes or pre-caches a key a measured request uses;
- *ratio order* (`ratio_order`): `cold-first` (default) runs ratios by ascending hot %,
  so the ratios that read the most cold keys run first, on the coldest cache; cold
  reads accumulate and warm the tables' pages, and a ratio run later suffers that
  less the fewer cold keys it reads. `given` keeps the order given, `random` shuffles
  it with the seed. The order used is recorded in the manifest.
- *I/O samples*: after every `io_sample_every` timed requests one extra request is
  planned as an EXPLAIN (ANALYZE, BUFFERS) sample; it consumes keys like any request
  but its latency is not part of the statistics. `requests` counts timed requests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from featbench.backends.base import Key
from featbench.errors import FeatbenchError
from featbench.workload.keys import KeySet, derived_seed

DEFAULT_RATIOS: tuple[float, ...] = (100, 90, 80, 70, 60, 50, 30, 10, 0)
RatioOrder = Literal["cold-first", "given", "random"]
RATIO_ORDERS: tuple[str, ...] = ("cold-first", "given", "random")
_PHASE_TOUCH, _PHASE_WARMUP, _PHASE_MEASURE = 1, 2, 3


def parse_ratios(text: str) -> tuple[float, ...]:
    """'100,90,…' -> hot percentages; each must be a number in 0–100, no duplicates."""
    out: list[float] = []
    for part in text.split(","):
        p = part.strip().rstrip("%")
        if not p:
            continue
        try:
            v = float(p)
        except ValueError:
            raise FeatbenchError(
                f"--ratios: {part.strip()!r} is not a number (use e.g. 100,90,50,0)"
            ) from None
        if not math.isfinite(v) or not 0.0 <= v <= 100.0:
            raise FeatbenchError(
                f"--ratios: {part.strip()} is outside 0–100 (hot traffic in percent)"
            )
        if v in out:
            raise FeatbenchError(f"--ratios: {part.strip()} appears twice")
        out.append(v)
    if not out:
        raise FeatbenchError("--ratios is empty (use e.g. 100,90,80,70,60,50,30,10,0)")
    return tuple(out)


@dataclass(frozen=True)
class PlanConfig:
    ratios: tuple[float, ...] = DEFAULT_RATIOS
    requests: int = 1000
    warmup: int = 200
    seed: int = 42
    io_sample_every: int = 100  # 0: no I/O samples
    ratio_order: RatioOrder = "cold-first"
    sections: int = 1
    touch_hot_set: bool = True

    def validate(self) -> PlanConfig:
        if self.requests <= 0:
            raise FeatbenchError(f"--requests must be > 0, got {self.requests}")
        if self.warmup < 0:
            raise FeatbenchError(f"--warmup must be >= 0, got {self.warmup}")
        if self.io_sample_every < 0:
            raise FeatbenchError(
                f"--io-sample-every must be >= 0 (0 turns sampling off), got {self.io_sample_every}"
            )
        if self.ratio_order not in RATIO_ORDERS:
            raise FeatbenchError(f"--ratio-order must be one of {', '.join(RATIO_ORDERS)}")
        if not self.ratios:
            raise FeatbenchError("no ratios to run")
        for r in self.ratios:
            if not 0.0 <= r <= 100.0:
                raise FeatbenchError(f"ratio {r} is outside 0–100")
        if self.sections < 1:
            raise FeatbenchError("a run needs at least one section")
        return self

    def run_order(self) -> list[float]:
        if self.ratio_order == "cold-first":
            return sorted(self.ratios)
        if self.ratio_order == "random":
            rng = np.random.default_rng(derived_seed(self.seed, "ratio-order"))
            return [self.ratios[i] for i in rng.permutation(len(self.ratios))]
        return list(self.ratios)


@dataclass
class LevelPlan:
    """Requests of one phase at one level: row i is request i (`seq` = i)."""

    level: float
    phase: str  # touch | warmup | measure
    hot: np.ndarray  # (n, E) bool
    key_idx: np.ndarray  # (n, E) int16 or int32: rank of the key in KeySet.keys[entity]
    io_sample: np.ndarray  # (n,) bool

    def __len__(self) -> int:
        return int(self.hot.shape[0])

    @property
    def timed(self) -> int:
        return len(self) - int(self.io_sample.sum())


@dataclass
class SectionPlan:
    index: int
    touch: LevelPlan | None
    levels: list[tuple[LevelPlan, LevelPlan]]  # (warm-up, measured) per level, in run order


@dataclass
class Plan:
    config: PlanConfig
    keyset: KeySet
    order: list[float]
    sections: list[SectionPlan]
    cold_used: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # entity -> {measured, warmup}

    def requests(
        self, lp: LevelPlan
    ) -> Iterator[tuple[int, tuple[Key, ...], tuple[bool, ...], bool]]:
        """(seq, keys, hot flags, is_io_sample) of every request of a level plan, in order."""
        ents = self.keyset.entities
        cols = [self.keyset.keys[e] for e in ents]
        hot_rows = lp.hot.tolist()
        idx_rows = lp.key_idx.tolist()
        io = lp.io_sample.tolist()
        for i in range(len(io)):
            ix = idx_rows[i]
            yield i, tuple(cols[j][ix[j]] for j in range(len(ents))), tuple(hot_rows[i]), io[i]


def io_mask(timed: int, every: int) -> np.ndarray:
    """An I/O-sample slot after every `every` timed requests: total = timed + timed // every.

    Without samples the mask is a read-only view of one False (no memory per request)."""
    if every <= 0:
        return np.broadcast_to(np.False_, (timed,))
    total = timed + timed // every
    j = np.arange(total)
    return (j + 1) % (every + 1) == 0


def touch_plan(level: float, key_idx: np.ndarray) -> LevelPlan:
    """One pass over the hot set (rows of `key_idx`): unmeasured, all hot, no I/O samples."""
    return LevelPlan(
        level, "touch", np.ones(key_idx.shape, dtype=bool), key_idx,
        np.zeros(key_idx.shape[0], dtype=bool),
    )  # fmt: skip


def level_pairs(
    config: PlanConfig,
    order: list[float],
    draw: Callable[[float, int, int], tuple[np.ndarray, np.ndarray]],
) -> list[tuple[LevelPlan, LevelPlan]]:
    """(warm-up, measured) plans of every level, in run order; `draw(level, phase, n)`
    gives the n requests' hot flags and key indexes (each plan draws its own way)."""
    pairs = []
    for lvl in order:
        made = []
        for phase, name, timed, every in (
            (_PHASE_WARMUP, "warmup", config.warmup, 0),
            (_PHASE_MEASURE, "measure", config.requests, config.io_sample_every),
        ):
            io = io_mask(timed, every)
            hot, key_idx = draw(lvl, phase, len(io))
            made.append(LevelPlan(lvl, name, hot, key_idx, io))
        pairs.append((made[0], made[1]))
    return pairs


def key_index_type(n_keys: int) -> type[np.signedinteger]:
    """The narrowest signed integer holding a key's rank (-1 marks "not yet allocated")."""
    return np.int16 if n_keys < 2**15 else np.int32


def _hot_draws(rng: np.random.Generator, n: int, e: int, p: float) -> np.ndarray:
    """rng.random((n, e)) < p, drawn in row blocks: the same values from the same stream,
    without an n × e float array in memory."""
    out = np.empty((n, e), dtype=bool)
    block = max(1, (1 << 20) // max(1, e))
    for i in range(0, n, block):
        m = min(block, n - i)
        out[i : i + m] = rng.random((m, e)) < p
    return out


def _rng(seed: int, section: int, phase: int, level: float) -> np.random.Generator:
    # Independent of ratio order: ratio r of section s always gets the same draws.
    return np.random.default_rng(
        [seed & 0xFFFFFFFF, seed >> 32, section, phase, int(round(level * 1000))]
    )


def build_plan(keyset: KeySet, config: PlanConfig) -> Plan:
    """The whole run's requests. Raises FeatbenchError (before anything runs) if the
    sample holds too few cold keys, saying how many are needed."""
    config.validate()
    ents = keyset.entities
    e_count = len(ents)
    n_hot = np.array([keyset.n_hot[e] for e in ents])
    order = config.run_order()
    idx_type = key_index_type(max(len(keyset.keys[e]) for e in ents))
    drafts: list[tuple[int, LevelPlan | None, list[tuple[LevelPlan, LevelPlan]]]] = []
    for s in range(config.sections):
        touch = None
        if config.touch_hot_set:
            m = int(n_hot.max())
            touch = touch_plan(100.0, (np.arange(m)[:, None] % n_hot[None, :]).astype(idx_type))

        def draw(lvl: float, phase: int, n: int, s: int = s) -> tuple[np.ndarray, np.ndarray]:
            rng = _rng(config.seed, s, phase, lvl)
            hot = _hot_draws(rng, n, e_count, lvl / 100.0)
            key_idx = rng.integers(0, n_hot[None, :], size=(n, e_count)).astype(idx_type)
            key_idx[~hot] = -1  # cold keys are allocated below
            return hot, key_idx

        drafts.append((s, touch, level_pairs(config, order, draw)))

    # Count, then allocate cold keys: measured from the front of the cold ranks, warm-up
    # from the back, so the two pools never meet (checked here, before anything runs).
    need_measured = np.zeros(e_count, dtype=np.int64)
    need_warmup = np.zeros(e_count, dtype=np.int64)
    for _, _, levels in drafts:
        for warm, meas in levels:
            need_warmup += (~warm.hot).sum(axis=0)
            need_measured += (~meas.hot).sum(axis=0)
    for j, e in enumerate(ents):
        have = keyset.cold_count(e)
        need = int(need_measured[j] + need_warmup[j])
        if need > have:
            _too_few(e, need, int(need_measured[j]), int(need_warmup[j]), have, keyset, config)

    next_cold = n_hot.copy()  # measured: ranks n_hot, n_hot+1, …
    last_cold = np.array([len(keyset.keys[e]) - 1 for e in ents])  # warm-up: from the end down
    sections: list[SectionPlan] = []
    for s, touch, levels in drafts:
        for warm, meas in levels:
            for lp, measured in ((warm, False), (meas, True)):
                for j in range(e_count):
                    cold_rows = np.flatnonzero(~lp.hot[:, j])
                    k = cold_rows.size
                    if measured:
                        lp.key_idx[cold_rows, j] = np.arange(next_cold[j], next_cold[j] + k)
                        next_cold[j] += k
                    else:
                        lp.key_idx[cold_rows, j] = np.arange(last_cold[j], last_cold[j] - k, -1)
                        last_cold[j] -= k
        sections.append(SectionPlan(s, touch, levels))
    used = {
        e: {
            "measured": int(need_measured[j]),
            "warmup": int(need_warmup[j]),
            "available": keyset.cold_count(e),
        }
        for j, e in enumerate(ents)
    }
    return Plan(config, keyset, order, sections, used)


def _too_few(
    entity: str,
    need: int,
    measured: int,
    warmup: int,
    have: int,
    keyset: KeySet,
    config: PlanConfig,
) -> None:
    got = len(keyset.keys[entity])
    frac = keyset.n_hot[entity] / got if got else 0.01
    suggest = int(math.ceil((need * 1.05) / max(1e-9, 1.0 - frac))) + 10
    msg = (
        f"the plan needs {need:,} cold keys of entity {entity!r} ({measured:,} measured + "
        f"{warmup:,} warm-up; cold keys are never reused) but the key sample has only {have:,}"
    )
    if got < keyset.requested:
        msg += (
            f"; the target holds only {got:,} distinct keys of it, so lower --requests "
            f"({config.requests}) or --warmup ({config.warmup}), or run fewer ratios"
        )
    else:
        msg += f"; sample more with --keys {suggest} (or lower --requests / --warmup)"
    raise FeatbenchError(msg)
