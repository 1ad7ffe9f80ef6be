"""The configuration of a run: what to sweep, how many requests, how the load is generated.

Built once, from the command line's plain options (`RunConfig.from_options`) or field by
field in a notebook, and checked once by `validate()`: options that imply others (a
duration implies a request count at a rate) are applied and every value is checked
before anything connects anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from featbench.errors import FeatbenchError
from featbench.runner import schedule
from featbench.workload.plan import DEFAULT_RATIOS, Plan, PlanConfig, RatioOrder, parse_ratios

BACKEND_KINDS = ("postgres", "redis", "dynamodb")


@dataclass
class RunConfig:
    ratios: tuple[float, ...] = DEFAULT_RATIOS
    requests: int = 1000
    warmup: int = 200
    n_keys: int = 10_000
    hot_fraction: float = 0.01
    io_sample_every: int = 100
    seed: int = 42
    ratio_order: RatioOrder = "cold-first"
    strategies: tuple[str, ...] = ("serial",)
    scale: float = 1.0  # of the data in the targets (what featbench recorded when it loaded it)
    data_seed: int | None = None  # the data's generation seed, when recorded or given
    scale_source: str = "default"  # recorded in the target | given | default
    distribution: str = "hotcold"
    loop: str = "closed"
    # pg_stat_reset() at the start, as the original benchmark did: opt-in, because it wipes
    # the whole database's statistics (monitoring relies on them); figures are deltas anyway
    reset_stats: bool = False
    # load model (runner/pool.py): clients, open loop, time series, skewed keys
    concurrency: int = 1
    rate: float | None = None  # requests/s across all clients: an open loop
    arrival: str = "uniform"
    duration_s: float | None = None  # open loop: requests per level = rate × duration
    warmup_s: float | None = None  # open loop: warm-up per level = rate × seconds
    interval_s: float = 1.0  # time-series interval
    thetas: tuple[float, ...] | None = None  # zipfian/latest levels
    # Per-backend overrides (kind -> value), e.g. each store's natural one-round-trip
    # strategy side by side: {"postgres": ("union",), "redis": ("pipeline",)}. Kinds not
    # named use `strategies`.
    strategy_by_backend: dict[str, tuple[str, ...]] | None = None
    # kind -> (measured, warm-up) requests per level: that backend replays only the first
    # requests of each level of the same plan (same keys, fewer of them) — for a store too
    # slow to replay all of it, e.g. the embedded DynamoDB (moto) in the demo.
    requests_by_backend: dict[str, tuple[int, int]] | None = None
    # empty the OS page cache of the spec's files before each ratio (runner/cold.py);
    # None: each backend's default (on for the embedded PostgreSQL, off elsewhere)
    evict_os_cache: bool | None = None
    # A ratio whose error rate (errors / requests) exceeds this makes the run `failed`.
    max_error_rate: float = 0.01
    # SLO expressions (measure/thresholds.py), evaluated per ratio into summary.json.
    thresholds: tuple[str, ...] = ()
    # how long every connection of the run may take to come back (runner/reconnect.py)
    reconnect_timeout_s: float = 60.0

    def strategies_for(self, kind: str) -> tuple[str, ...]:
        if self.strategy_by_backend and kind in self.strategy_by_backend:
            return tuple(self.strategy_by_backend[kind])
        return tuple(self.strategies)

    @classmethod
    def from_options(
        cls,
        *,
        ratios: str | Sequence[float] = DEFAULT_RATIOS,
        strategy: str | Sequence[str] = "serial",
        theta: float | None = None,
        thetas: str | Sequence[float] | None = None,
        scale: float | None = None,
        **options: Any,
    ) -> RunConfig:
        """A validated RunConfig from plain options, as the command line gives them: the
        lists may be text (`ratios="100,50,0"`, `strategy="serial,redis=pipeline"`,
        `thetas="0.5,0.99"`), `theta` is one Zipfian level, `scale` the data's scale when
        the user gave one (None: what the targets recorded). Other keywords are fields."""
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"RunConfig has no field {unknown[0]!r}")
        common, per_kind = parse_strategies(
            strategy if isinstance(strategy, str) else ",".join(strategy)
        )
        if scale is not None:
            from featbench.spec import check_scale

            options.update(scale=check_scale(scale), scale_source="given")
        if per_kind:
            options["strategy_by_backend"] = per_kind
        options["thresholds"] = tuple(options.get("thresholds") or ())
        cfg = cls(
            ratios=parse_ratios(ratios) if isinstance(ratios, str) else tuple(ratios),
            strategies=common,
            thetas=parse_theta_options(theta, thetas),
            **options,
        )
        return cfg.validate()

    def validate(self) -> RunConfig:
        """Every check of the configuration, in one place, in place; returns self.

        Applies what options imply (`apply_load_config`), then checks strategies, the
        plan's numbers, the hot fraction, the error-rate limit and the thresholds (and that
        their filters name levels the run measures). A config already validated and not
        changed since is not checked again, so every layer may call this."""
        from featbench.measure.status import check_max_error_rate
        from featbench.measure.thresholds import check_levels, parse_thresholds

        if getattr(self, "_validated", None) == self._checked_state():
            return self
        apply_load_config(self)
        if not self.strategies or any(not v for v in (self.strategy_by_backend or {}).values()):
            raise FeatbenchError("--strategy is empty (use e.g. serial)")
        self.plan_config(1).validate()
        if not 0.0 < self.hot_fraction < 1.0:
            raise FeatbenchError(
                f"--hot-fraction must be between 0 and 1 (exclusive), got {self.hot_fraction}"
            )
        try:
            check_max_error_rate(self.max_error_rate)
        except ValueError as e:
            raise FeatbenchError(str(e)) from None
        if not (0 < self.reconnect_timeout_s < float("inf")):
            raise FeatbenchError(
                f"--reconnect-timeout must be a finite number of seconds > 0, got {self.reconnect_timeout_s:g}"
            )
        key = "hot_pct" if self.distribution == "hotcold" else "theta"
        check_levels(parse_thresholds(self.thresholds), self.levels, key)
        self._validated = self._checked_state()  # not a field: never in to_dict()
        return self

    def _checked_state(self) -> str:
        """Every field validate() checks (the data's scale, set from the targets after
        validation, is not one of them)."""
        d = asdict(self)
        for k in ("scale", "data_seed", "scale_source"):
            d.pop(k)
        return repr(d)

    @property
    def levels(self) -> tuple[float, ...]:
        """The levels each section sweeps: θ values for a skewed distribution, else hot %."""
        return tuple(self.thetas or ()) if self.distribution != "hotcold" else tuple(self.ratios)

    def plan_config(self, sections: int) -> PlanConfig:
        return PlanConfig(
            ratios=tuple(self.ratios),
            requests=self.requests,
            warmup=self.warmup,
            seed=self.seed,
            io_sample_every=self.io_sample_every,
            ratio_order=self.ratio_order,
            sections=sections,
        )

    def to_dict(self, plan: Plan | None = None) -> dict[str, Any]:
        d = asdict(self)
        d["ratios"] = [_num(r) for r in self.ratios]
        d["strategies"] = list(self.strategies)
        if self.strategy_by_backend:
            d["strategy_by_backend"] = {k: list(v) for k, v in self.strategy_by_backend.items()}
        if self.requests_by_backend:
            d["requests_by_backend"] = {
                k: {"requests": r, "warmup": w} for k, (r, w) in self.requests_by_backend.items()
            }
        d["ratio_order_used"] = [_num(r) for r in plan.order] if plan else None
        d["warmup_scope"] = "per ratio, at that ratio's mix, after one pass over the hot set"
        d["io_sampling"] = (
            "one EXPLAIN (ANALYZE, BUFFERS) request after every io_sample_every timed requests"
        )
        return d


def parse_strategies(text: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """`serial,pipeline` (every target) and/or `redis=pipeline,dynamodb=batch` (per store kind).

    Returns (common strategies, per-kind strategies). A kind named only per-kind gets just
    those; targets of kinds not named use the common list (serial when it is empty).
    """
    common: list[str] = []
    per: dict[str, list[str]] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        if "=" not in item:
            common.append(item)
            continue
        kind, strat = (x.strip() for x in item.split("=", 1))
        kind = "postgres" if kind in ("postgresql", "pg") else kind
        if kind not in BACKEND_KINDS or not strat:
            raise FeatbenchError(
                f"--strategy {item!r}: use STORE=STRATEGY with STORE one of "
                f"{', '.join(BACKEND_KINDS)} (e.g. redis=pipeline)"
            )
        per.setdefault(kind, []).append(strat)
    if not common and not per:
        raise FeatbenchError("--strategy is empty (use e.g. serial)")
    return tuple(common or ["serial"]), {k: tuple(v) for k, v in per.items()}


def parse_theta_options(
    theta: float | None, thetas: str | Sequence[float] | None
) -> tuple[float, ...] | None:
    """--theta (one level) or --thetas (a sweep, text or numbers), each > 0; None: neither."""
    from featbench.workload.distributions import parse_thetas

    if theta is not None and thetas is not None:
        raise FeatbenchError("give --theta (one level) or --thetas (a sweep), not both")
    if thetas is not None:
        text = thetas if isinstance(thetas, str) else ",".join(repr(float(t)) for t in thetas)
        return tuple(parse_thetas(text))
    if theta is not None:
        return tuple(parse_thetas(repr(float(theta))))
    return None


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def apply_load_config(config: Any) -> None:
    """Check the load options of a RunConfig and resolve what they imply, in place.

    `--duration` sets the requests per level (rate × duration), `--warmup-seconds` the
    warm-up requests (rate × seconds); both need an open loop. θ values are checked
    (> 0) and a Zipfian without θ is refused. Raises FeatbenchError on bad input.
    """
    from featbench.workload.skew_plan import levels_for

    schedule.check_rate(config.rate, config.arrival)
    if not isinstance(config.concurrency, int) or config.concurrency < 1:
        raise FeatbenchError(f"--concurrency must be an integer >= 1, got {config.concurrency}")
    if not config.interval_s > 0:
        raise FeatbenchError(f"--interval must be > 0 seconds, got {config.interval_s:g}")
    config.requests = schedule.requests_for(config.rate, config.duration_s, config.requests)
    if config.warmup_s is not None:
        if config.rate is None:
            raise FeatbenchError(
                "--warmup-seconds needs --rate (an open loop); a closed loop warms up with --warmup N"
            )
        if config.warmup_s < 0:
            raise FeatbenchError(f"--warmup-seconds must be >= 0, got {config.warmup_s:g}")
        config.warmup = int(math.ceil(config.rate * config.warmup_s))
    config.loop = "open" if config.rate is not None else "closed"
    if config.distribution == "hotcold":
        if config.thetas:
            raise FeatbenchError("--theta/--thetas need --distribution zipfian (or latest)")
    else:
        config.thetas = levels_for(config.distribution, config.thetas)


def manifest_extra(config: Any, keyset: Any) -> dict[str, Any]:
    """What the manifest records about a skewed distribution (nothing for hot/cold)."""
    if config.distribution == "hotcold":
        return {}
    from featbench.workload.skew_plan import describe

    return {"key_distribution": describe(config.distribution, config.thetas, keyset, config.seed)}
