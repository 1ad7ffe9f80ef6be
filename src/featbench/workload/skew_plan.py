"""Request plans for skewed key distributions: Zipfian(θ) sweeps, uniform, latest.

The hot/cold plan (`workload/plan.py`) sweeps hot ratios; this one sweeps θ and
returns the same `Plan` structure, so every runner executes it unchanged. A level
is a θ (the summary's ratio objects carry `theta` instead of `hot_pct`):

- ``zipfian``: one level per θ of ``--thetas`` (or the single ``--theta``);
- ``uniform``: one level, θ = 0 (Zipf's law with θ = 0 *is* the uniform law);
- ``latest``: one level at the given θ (default 0.99), popularity by recency.

Per entity, a request's key is drawn independently from the distribution over the
entity's whole key sample (positions = ranks of keys.parquet). Keys repeat — that is
what skew means — so the hot/cold plan's "a cold key is used once" rule does not
apply here. A key is flagged *hot* in requests.parquet when it is among the
``n_hot`` most probable keys of the distribution (the same count the hot/cold
sweep calls hot, ``--hot-fraction`` of the sample), so `planned_hot_fraction`
reads as "share of lookups that went to the top 1% keys". For ``latest`` the
sample's rank order stands in for insertion order (the highest rank is the newest).

Draws are a pure function of (seed, section, phase, θ): the same seed gives the
same plan, whatever the order θs run in.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from featbench.errors import FeatbenchError
from featbench.workload import distributions as dist
from featbench.workload.keys import KeySet, derived_seed
from featbench.workload.plan import (
    DEFAULT_RATIOS,
    Plan,
    PlanConfig,
    SectionPlan,
    level_pairs,
    touch_plan,
)

SKEWED = ("zipfian", "uniform", "latest")
_PHASE_TOUCH, _PHASE_WARMUP, _PHASE_MEASURE = 1, 2, 3


def levels_for(distribution: str, thetas: tuple[float, ...] | None) -> tuple[float, ...]:
    """The θ levels a skewed distribution runs; checks θ > 0 where θ is a parameter."""
    if distribution == "uniform":
        # (0.0,) is what this returned before: a validated config may be resolved again
        if thetas and tuple(thetas) != (0.0,):
            raise FeatbenchError("--theta/--thetas apply to zipfian and latest, not uniform")
        return (0.0,)
    if distribution == "latest":
        ts = tuple(thetas) if thetas else (0.99,)
        if len(ts) != 1:
            raise FeatbenchError("latest takes one --theta, not a sweep")
    elif distribution == "zipfian":
        if not thetas:
            raise FeatbenchError("zipfian needs --theta θ or --thetas θ1,θ2,… (each > 0)")
        ts = tuple(thetas)
    else:
        raise FeatbenchError(
            f"unknown distribution {distribution!r}; use one of hotcold, {', '.join(SKEWED)}"
        )
    for t in ts:
        if not t > 0:
            raise FeatbenchError(f"theta must be > 0, got {t:g}")
    if len(set(ts)) != len(ts):
        raise FeatbenchError("--thetas lists a θ twice")
    return ts


def sampler(distribution: str, theta: float, n: int, seed: int, entity: str) -> dist.Distribution:
    if distribution == "uniform":
        return dist.uniform(n)
    if distribution == "latest":
        return dist.latest(n, theta)
    # the rank -> key scramble is fixed per (seed, entity): the same keys are popular at every θ
    return dist.zipfian(theta, n, seed=derived_seed(seed, "scramble", entity, bits=31))


def _rng(seed: int, section: int, phase: int, theta: float) -> np.random.Generator:
    return np.random.default_rng(
        [seed & 0xFFFFFFFF, seed >> 32, section, phase, int(round(theta * 1_000_000)), 0x5EED]
    )


def build_skew_plan(
    keyset: KeySet,
    config: PlanConfig,
    distribution: str,
    thetas: tuple[float, ...] | None,
) -> Plan:
    """The whole run's requests for a skewed distribution (levels are θ values)."""
    levels = levels_for(distribution, thetas)
    # validate() checks counts and order, and ratios as percentages: levels are θ, so
    # it checks the rest with the default ratios, and θ is checked here
    replace(config, ratios=DEFAULT_RATIOS).validate()
    cfg = replace(config, ratios=levels)
    ents = keyset.entities
    order = cfg.run_order()  # cold-first: ascending θ, the least skewed (coldest) first
    samplers: dict[tuple[str, float], dist.Distribution] = {}
    top: dict[tuple[str, float], np.ndarray] = {}
    for e in ents:
        n = len(keyset.keys[e])
        if n == 0:
            raise FeatbenchError(f"entity {e!r} has no keys to draw from")
        for t in levels:
            s = sampler(distribution, t, n, cfg.seed, e)
            samplers[e, t] = s
            # the n_hot most probable positions (ties, as under uniform, by position)
            p = s.pmf()
            k = max(1, min(keyset.n_hot[e], n))
            hot = np.zeros(n, dtype=bool)
            hot[np.lexsort((np.arange(n), -p))[:k]] = True
            top[e, t] = hot

    sections: list[SectionPlan] = []
    for sec in range(cfg.sections):
        touch = None
        if cfg.touch_hot_set:
            # warm the most popular keys of the first level run, like the hot-set touch
            first = order[0]
            idx = [np.flatnonzero(top[e, first]) for e in ents]
            m = max(len(i) for i in idx)
            touch = touch_plan(
                first, np.stack([i[np.arange(m) % len(i)] for i in idx], axis=1).astype(np.int32)
            )

        def draw(t: float, phase: int, n: int, sec: int = sec) -> tuple[np.ndarray, np.ndarray]:
            rng = _rng(cfg.seed, sec, phase, t)
            key_idx = np.empty((n, len(ents)), dtype=np.int32)
            hot = np.empty((n, len(ents)), dtype=bool)
            for j, e in enumerate(ents):
                pos = samplers[e, t].sample(n, rng)
                key_idx[:, j] = pos
                hot[:, j] = top[e, t][pos]
            return hot, key_idx

        sections.append(SectionPlan(sec, touch, level_pairs(cfg, list(order), draw)))
    return Plan(cfg, keyset, list(order), sections, {})


def describe(
    distribution: str, thetas: tuple[float, ...] | None, keyset: KeySet, seed: int
) -> dict[str, object]:
    """What the manifest records about the distribution (per entity and level)."""
    levels = levels_for(distribution, thetas)
    out: dict[str, object] = {
        "distribution": distribution,
        "levels": list(levels),
        "level_key": "theta",
    }
    per: dict[str, object] = {}
    for e in keyset.entities:
        n = len(keyset.keys[e])
        per[e] = [sampler(distribution, t, n, seed, e).describe() for t in levels]
    out["samplers"] = per
    return out
