"""Key distributions: seeded samplers over key positions ``0..n-1``.

A sampler turns random numbers into *positions* in an entity's key list; the caller
maps a position to a key. Every sampler also exposes ``pmf()``, the exact probability
of each position under *this sampler's algorithm*, so tests (and reports) can compare
empirical frequencies against the formula instead of trusting the code.

- ``hotcold(hot_ratio, n)``: the seed's two-level mix. Positions ``0..n_hot-1`` are
  hot (the top ``hot_fraction`` of the list), the rest cold; a draw is hot with
  probability ``hot_ratio``, uniform within its level. Cold draws are without
  replacement within one ``sample`` call by default (a cold key is used once).
- ``zipfian(theta, n)``: YCSB's ZipfianGenerator (Gray et al., "Quickly generating
  billion-record synthetic databases", SIGMOD 1994) for 0 < theta < 1; exact inverse-CDF
  sampling when theta >= 1 (the Gray formula is undefined at 1 and inaccurate above)
  or on request. Gray's formula is exact for the two most popular ranks and
  approximate after (it over-weights rank 2 by up to ~18% at theta 0.99, a few percent
  from rank 10 on); ``pmf()`` is the generator's own law, ``zipf_pmf`` the ideal one,
  and ``method="exact"`` samples the ideal law for n up to EXACT_MAX_N. Ranks are then scrambled by a seeded bijection of ``0..n-1`` (a
  Feistel network with cycle-walking) so that popular keys are not adjacent — unlike
  YCSB's ScrambledZipfian, which hashes modulo n and so collides.
- ``uniform(n)``.
- ``latest(n, theta)``: YCSB "latest": Zipfian over recency, unscrambled; position
  ``n-1`` (the highest row index / rank, i.e. the most recently inserted key when the
  caller orders keys oldest first) is the most popular.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featbench.errors import FeatbenchError

DISTRIBUTIONS = ("hotcold", "zipfian", "uniform", "latest")
# Exact inverse-CDF sampling keeps an n-long float64 CDF in memory: cap it (80 MB).
EXACT_MAX_N = 10_000_000
# zeta(n, theta) is summed exactly up to here, then by Euler-Maclaurin (error < 1e-12).
_ZETA_EXACT = 1_000_000

Rng = np.random.Generator | int | None


def _rng(rng: Rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_n(n: int) -> int:
    if not isinstance(n, int | np.integer) or n < 1:
        raise FeatbenchError(f"a key distribution needs at least one key, got n={n!r}")
    return int(n)


def zeta(n: int, theta: float) -> float:
    """sum_{i=1..n} i^-theta: exact for n <= 1e6, Euler-Maclaurin tail beyond."""
    m = min(n, _ZETA_EXACT)
    i = np.arange(1, m + 1, dtype=np.float64)
    s = float(np.sum(i**-theta))
    if n > m:
        a, b = float(m + 1), float(n)

        def f(x: float) -> float:
            return x**-theta

        def f1(x: float) -> float:
            return -theta * x ** (-theta - 1)

        def f3(x: float) -> float:
            return -theta * (theta + 1) * (theta + 2) * x ** (-theta - 3)

        if theta == 1.0:
            integral = math.log(b / a)
        else:
            integral = (b ** (1 - theta) - a ** (1 - theta)) / (1 - theta)
        s += integral + (f(a) + f(b)) / 2 + (f1(b) - f1(a)) / 12 - (f3(b) - f3(a)) / 720
    return s


def zipf_pmf(n: int, theta: float) -> np.ndarray:
    """The ideal Zipf law over ranks: P(rank k) = (k+1)^-theta / zeta(n, theta)."""
    k = np.arange(1, _check_n(n) + 1, dtype=np.float64)
    w = k**-theta
    return w / w.sum()


class Distribution(ABC):
    """A seeded sampler over positions 0..n-1 of an entity's key list."""

    name: str
    n: int

    @abstractmethod
    def sample(self, size: int, rng: Rng = None) -> np.ndarray:
        """`size` positions (int64) drawn with `rng` (a Generator or a seed)."""

    @abstractmethod
    def pmf(self) -> np.ndarray:
        """Exact probability of each position under this sampler (length n, sums to 1)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Name and parameters, for manifests and results."""


@dataclass(frozen=True)
class Uniform(Distribution):
    n: int
    name: str = field(default="uniform", init=False)

    def sample(self, size: int, rng: Rng = None) -> np.ndarray:
        return _rng(rng).integers(0, self.n, size=size, dtype=np.int64)

    def pmf(self) -> np.ndarray:
        return np.full(self.n, 1.0 / self.n)

    def describe(self) -> dict[str, Any]:
        return {"distribution": self.name, "n": self.n}


@dataclass(frozen=True)
class HotCold(Distribution):
    """The seed's mix: hot w.p. hot_ratio (uniform over the hot set), else cold."""

    hot_ratio: float
    n: int
    hot_fraction: float = 0.01
    unique_cold: bool = True
    name: str = field(default="hotcold", init=False)

    @property
    def n_hot(self) -> int:
        # At least one hot key, and at least one cold key when there are two keys or more.
        return min(max(1, int(round(self.n * self.hot_fraction))), max(1, self.n - 1))

    def sample(self, size: int, rng: Rng = None) -> np.ndarray:
        g = _rng(rng)
        hot = g.random(size) < self.hot_ratio
        out = np.empty(size, dtype=np.int64)
        n_hot, n_cold = self.n_hot, self.n - self.n_hot
        out[hot] = g.integers(0, n_hot, size=int(hot.sum()), dtype=np.int64)
        m = int(size - hot.sum())
        if m:
            if n_cold == 0:
                raise FeatbenchError("hotcold: no cold keys (n=1); sample more keys")
            if self.unique_cold and m > n_cold:
                raise FeatbenchError(
                    f"hotcold: {m} cold draws need {m} distinct cold keys but only {n_cold} "
                    "exist; sample more keys or make fewer requests"
                )
            cold = g.choice(n_cold, size=m, replace=not self.unique_cold)
            out[~hot] = n_hot + cold.astype(np.int64)
        return out

    def pmf(self) -> np.ndarray:
        """Marginal probability of each position (for one draw)."""
        p = np.empty(self.n)
        n_hot = self.n_hot
        n_cold = self.n - n_hot
        if n_cold == 0:
            p[:] = 1.0 / self.n
            return p
        p[:n_hot] = self.hot_ratio / n_hot
        p[n_hot:] = (1.0 - self.hot_ratio) / n_cold
        return p

    def describe(self) -> dict[str, Any]:
        return {
            "distribution": self.name,
            "n": self.n,
            "hot_ratio": self.hot_ratio,
            "hot_fraction": self.hot_fraction,
            "n_hot": self.n_hot,
            "unique_cold": self.unique_cold,
        }


# -- rank scrambling: a seeded bijection on 0..n-1 -----------------------------------
_FEISTEL_ROUNDS = 4
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _round_keys(seed: int) -> np.ndarray:
    h = hashlib.blake2b(f"featbench-scramble\x00{seed}".encode(), digest_size=8 * _FEISTEL_ROUNDS)
    return np.frombuffer(h.digest(), dtype="<u8").astype(np.uint64)


def _mix(x: np.ndarray, k: np.uint64) -> np.ndarray:
    """splitmix64 finaliser of (x + k): a good 64-bit mixing function."""
    with np.errstate(over="ignore"):
        z = (x + k) & _M64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
        return z ^ (z >> np.uint64(31))


def scramble(positions: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Map 0..n-1 to 0..n-1 by a seeded bijection (balanced Feistel + cycle-walking).

    The Feistel network permutes 0..4^h-1 (the smallest power of 4 >= n); values that
    land outside 0..n-1 are permuted again until they land inside, which keeps the
    map a bijection of 0..n-1 (at most 4x more rounds on average).
    """
    n = _check_n(n)
    x = np.asarray(positions, dtype=np.uint64).copy()
    if n == 1:
        return x.astype(np.int64)
    half = max(1, math.ceil(math.log2(n) / 2))
    mask = np.uint64((1 << half) - 1)
    keys = _round_keys(seed)

    def perm(v: np.ndarray) -> np.ndarray:
        left, right = v >> np.uint64(half), v & mask
        for k in keys:
            left, right = right, left ^ (_mix(right, k) & mask)
        return (left << np.uint64(half)) | right

    todo = np.ones(x.shape, dtype=bool)
    nn = np.uint64(n)
    while todo.any():
        x[todo] = perm(x[todo])
        todo = x >= nn
    return x.astype(np.int64)


@dataclass(frozen=True)
class Zipfian(Distribution):
    """YCSB-style Zipfian over ranks, then ranks scrambled to positions (unless disabled)."""

    theta: float
    n: int
    scrambled: bool = True
    seed: int = 0  # of the rank -> position scramble, not of the draws
    method: str = "auto"  # "gray" (YCSB's formula), "exact" (inverse CDF), "auto"
    name: str = field(default="zipfian", init=False)

    def __post_init__(self) -> None:
        if (
            not (isinstance(self.theta, int | float) and math.isfinite(self.theta))
            or self.theta <= 0
        ):
            raise FeatbenchError(f"zipfian theta must be a number > 0, got {self.theta!r}")
        _check_n(self.n)
        if self.method not in ("auto", "gray", "exact"):
            raise FeatbenchError(f"zipfian method must be auto, gray or exact, not {self.method!r}")
        if self.resolved_method == "gray" and self.theta >= 1:
            raise FeatbenchError(
                "the Gray/YCSB zipfian formula needs theta < 1; use method exact (the default "
                "for theta >= 1)"
            )
        if self.resolved_method == "exact" and self.n > EXACT_MAX_N:
            raise FeatbenchError(
                f"zipfian with theta >= 1 samples from an exact CDF over all keys; n={self.n} "
                f"is above {EXACT_MAX_N}: use fewer keys or theta < 1"
            )

    @property
    def resolved_method(self) -> str:
        if self.method != "auto":
            return self.method
        # Gray's formula needs n >= 3 (eta divides by 1 - zeta(2)/zeta(n)).
        return "gray" if self.theta < 1 and self.n >= 3 else "exact"

    # Gray et al. constants (as in YCSB's ZipfianGenerator)
    def _gray(self) -> tuple[float, float, float]:
        zn = zeta(self.n, self.theta)
        z2 = zeta(2, self.theta)
        eta = (1 - (2.0 / self.n) ** (1 - self.theta)) / (1 - z2 / zn)
        return zn, eta, 1.0 / (1.0 - self.theta)

    def sample_ranks(self, size: int, rng: Rng = None) -> np.ndarray:
        """Ranks (0 = most popular) before scrambling."""
        u = _rng(rng).random(size)
        if self.resolved_method == "exact":
            cdf = np.cumsum(zipf_pmf(self.n, self.theta))
            cdf[-1] = 1.0
            return np.searchsorted(cdf, u, side="right").astype(np.int64)
        zn, eta, alpha = self._gray()
        uz = u * zn
        v = np.floor(self.n * (eta * u - eta + 1.0) ** alpha)
        r = np.where(uz < 1.0, 0.0, np.where(uz < 1.0 + 0.5**self.theta, 1.0, v))
        # u < 1 keeps v < n in exact arithmetic; clip the rounding edge.
        return np.clip(r, 0, self.n - 1).astype(np.int64)

    def rank_pmf(self) -> np.ndarray:
        """Exact probability of each rank under this sampler's algorithm."""
        if self.resolved_method == "exact":
            return zipf_pmf(self.n, self.theta)
        zn, eta, alpha = self._gray()
        n, th = self.n, self.theta
        # Formula branch: rank k for u in [g(k), g(k+1)), g(k) = ((k/n)^(1-th) - 1)/eta + 1,
        # only reached when u >= c (the first two ranks are special-cased below c).
        k = np.arange(0, n + 1, dtype=np.float64)
        g = ((k / n) ** (1.0 - th) - 1.0) / eta + 1.0
        c = (1.0 + 0.5**th) / zn
        lo = np.clip(g[:-1], c, 1.0)
        hi = np.clip(g[1:], c, 1.0)
        p = np.maximum(hi - lo, 0.0)
        p[-1] += max(0.0, 1.0 - max(g[-1], c))  # the clipped edge (empty in exact arithmetic)
        p[0] += 1.0 / zn
        p[1] += 0.5**th / zn
        return p / p.sum()

    def sample(self, size: int, rng: Rng = None) -> np.ndarray:
        r = self.sample_ranks(size, rng)
        return scramble(r, self.n, self.seed) if self.scrambled else r

    def rank_to_position(self, ranks: np.ndarray) -> np.ndarray:
        return scramble(ranks, self.n, self.seed) if self.scrambled else np.asarray(ranks)

    def pmf(self) -> np.ndarray:
        pr = self.rank_pmf()
        if not self.scrambled:
            return pr
        p = np.empty(self.n)
        p[self.rank_to_position(np.arange(self.n))] = pr
        return p

    def describe(self) -> dict[str, Any]:
        return {
            "distribution": self.name,
            "n": self.n,
            "theta": self.theta,
            "scrambled": self.scrambled,
            "scramble_seed": self.seed,
            "method": self.resolved_method,
        }


@dataclass(frozen=True)
class Latest(Distribution):
    """YCSB 'latest': Zipfian over recency; position n-1 (newest) is the most popular."""

    n: int
    theta: float = 0.99
    name: str = field(default="latest", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_z", Zipfian(self.theta, self.n, scrambled=False))

    def sample(self, size: int, rng: Rng = None) -> np.ndarray:
        return (self.n - 1) - self._z.sample_ranks(size, rng)  # type: ignore[attr-defined]

    def pmf(self) -> np.ndarray:
        return self._z.rank_pmf()[::-1].copy()  # type: ignore[attr-defined]

    def describe(self) -> dict[str, Any]:
        d = self._z.describe()  # type: ignore[attr-defined]
        d.update(distribution=self.name, newest_position=self.n - 1)
        return d


# -- constructors (the names the CLI and runner use) ----------------------------------
def uniform(n: int) -> Uniform:
    return Uniform(_check_n(n))


def hotcold(
    hot_ratio: float, n: int, hot_fraction: float = 0.01, unique_cold: bool = True
) -> HotCold:
    if not 0.0 <= hot_ratio <= 1.0:
        raise FeatbenchError(f"hot ratio must be in [0, 1], got {hot_ratio!r}")
    if not 0.0 < hot_fraction < 1.0:
        raise FeatbenchError(f"hot fraction must be in (0, 1), got {hot_fraction!r}")
    return HotCold(float(hot_ratio), _check_n(n), float(hot_fraction), unique_cold)


def zipfian(
    theta: float, n: int, *, scrambled: bool = True, seed: int = 0, method: str = "auto"
) -> Zipfian:
    return Zipfian(theta, _check_n(n), scrambled, seed, method)


def latest(n: int, theta: float = 0.99) -> Latest:
    Zipfian(theta, _check_n(n), scrambled=False)  # validates theta and n with the same messages
    return Latest(n, theta)


def make_distribution(name: str, n: int, **params: Any) -> Distribution:
    """Build a sampler by name (as given on the command line); unknown names -> error."""
    if name == "uniform":
        return uniform(n)
    if name == "hotcold":
        return hotcold(params.pop("hot_ratio", 1.0), n, **params)
    if name == "zipfian":
        if "theta" not in params:
            raise FeatbenchError("zipfian needs --theta (a number > 0, e.g. 0.99)")
        return zipfian(params.pop("theta"), n, **params)
    if name == "latest":
        return latest(n, **params)
    raise FeatbenchError(f"unknown distribution {name!r}; use one of {', '.join(DISTRIBUTIONS)}")


def parse_thetas(text: str) -> list[float]:
    """'0.5,0.8,0.99' -> [0.5, 0.8, 0.99]; any theta <= 0 or non-number -> error."""
    out: list[float] = []
    for part in text.split(","):
        part = part.strip()
        try:
            v = float(part)
        except ValueError:
            raise FeatbenchError(f"--thetas: {part!r} is not a number") from None
        if not math.isfinite(v) or v <= 0:
            raise FeatbenchError(f"--thetas: theta must be > 0, got {part}")
        out.append(v)
    if not out:
        raise FeatbenchError("--thetas: give at least one theta, e.g. 0.5,0.99")
    return out
