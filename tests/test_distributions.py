"""Key distributions: empirical frequencies against each sampler's formula (fixed seeds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from featbench.errors import FeatbenchError
from featbench.workload import distributions as d


def chi2_critical(df: int, z: float = 3.09) -> float:
    """Upper chi-square quantile (Wilson-Hilferty); z=3.09 is the 0.999 normal quantile."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi2(counts: np.ndarray, pmf: np.ndarray, min_expected: float = 5.0) -> tuple[float, int]:
    """Pearson chi-square of counts against pmf, pooling adjacent cells to >= min_expected."""
    total = counts.sum()
    order = np.argsort(-pmf, kind="stable")  # pool the least likely cells together
    exp = pmf[order] * total
    obs = counts[order].astype(float)
    stat, df = 0.0, -1
    acc_e = acc_o = 0.0
    for e, o in zip(exp, obs, strict=True):
        acc_e += e
        acc_o += o
        if acc_e >= min_expected:
            stat += (acc_o - acc_e) ** 2 / acc_e
            df += 1
            acc_e = acc_o = 0.0
    if acc_e > 0:  # the remainder joins the last cell's statistic as its own cell
        stat += (acc_o - acc_e) ** 2 / max(acc_e, 1e-12)
        df += 1
    return stat, df


def fits(sampler: d.Distribution, draws: int, seed: int) -> tuple[float, float]:
    pos = sampler.sample(draws, seed)
    assert pos.dtype == np.int64
    assert pos.min() >= 0 and pos.max() < sampler.n
    counts = np.bincount(pos, minlength=sampler.n)
    stat, df = chi2(counts, sampler.pmf())
    return stat, chi2_critical(df)


def test_uniform_frequencies() -> None:
    s = d.uniform(500)
    np.testing.assert_allclose(s.pmf().sum(), 1.0)
    stat, crit = fits(s, 200_000, 1)
    assert stat < crit


@pytest.mark.parametrize("theta", [0.2, 0.5, 0.8, 0.99])
@pytest.mark.parametrize("scrambled", [False, True])
def test_zipfian_gray_matches_its_formula(theta: float, scrambled: bool) -> None:
    s = d.zipfian(theta, 2_000, scrambled=scrambled, seed=7)
    assert s.resolved_method == "gray"
    np.testing.assert_allclose(s.pmf().sum(), 1.0)
    stat, crit = fits(s, 300_000, 2)
    assert stat < crit, (stat, crit)


@pytest.mark.parametrize("theta", [0.5, 0.99])
def test_zipfian_gray_is_close_to_the_ideal_law_on_top_ranks(theta: float) -> None:
    """Gray's formula is exact for the first two ranks and close to Zipf after."""
    s = d.zipfian(theta, 10_000, scrambled=False)
    ideal = d.zipf_pmf(10_000, theta)
    got = s.rank_pmf()
    np.testing.assert_allclose(got[:2], ideal[:2], rtol=1e-9)
    # Known approximation: it over-weights rank 2 (up to ~18% at theta 0.99); the error
    # is largest there and a few percent at most from rank 10 on.
    err = np.abs(got / ideal - 1)
    assert err[2] < 0.2 and err[2] == err[:1000].max()
    assert err[10:1000].max() < 0.03
    ranks = s.sample_ranks(400_000, 3)
    emp = np.bincount(ranks, minlength=s.n)[:10] / ranks.size
    sd = np.sqrt(got[:10] * (1 - got[:10]) / ranks.size)
    assert np.all(np.abs(emp - got[:10]) < 4 * sd)


@pytest.mark.parametrize("theta", [1.0, 1.2, 2.0])
def test_zipfian_theta_at_least_one_uses_exact_cdf(theta: float) -> None:
    s = d.zipfian(theta, 3_000, seed=3)
    assert s.resolved_method == "exact"
    np.testing.assert_allclose(s.rank_pmf(), d.zipf_pmf(3_000, theta))
    stat, crit = fits(s, 300_000, 4)
    assert stat < crit, (stat, crit)


def test_exact_method_below_one_and_chi2_has_power() -> None:
    s = d.zipfian(0.7, 1_000, method="exact", scrambled=False)
    stat, crit = fits(s, 200_000, 5)
    assert stat < crit
    # the same draws against a slightly different law must be rejected
    pos = s.sample(200_000, 5)
    wrong = d.zipf_pmf(1_000, 0.75)
    stat_w, df_w = chi2(np.bincount(pos, minlength=1_000), wrong)
    assert stat_w > chi2_critical(df_w)


def test_scramble_is_a_seeded_bijection_that_spreads_popular_keys() -> None:
    for n in (1, 2, 3, 17, 1000, 4097):
        p = d.scramble(np.arange(n), n, seed=11)
        assert sorted(p.tolist()) == list(range(n))
    a = d.scramble(np.arange(1000), 1000, seed=1)
    b = d.scramble(np.arange(1000), 1000, seed=2)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, d.scramble(np.arange(1000), 1000, seed=1))
    top = d.scramble(np.arange(10), 100_000, seed=0)
    # the ten most popular ranks are not neighbours in key-position space
    assert np.min(np.diff(np.sort(top))) > 1
    assert top.max() - top.min() > 10_000


def test_zipfian_large_n_uses_euler_maclaurin_zeta() -> None:
    exact = float(np.sum(np.arange(1, 3_000_001, dtype=np.float64) ** -0.99))
    assert d.zeta(3_000_000, 0.99) == pytest.approx(exact, rel=1e-10)
    assert d.zeta(3_000_000, 1.0) == pytest.approx(
        float(np.sum(1.0 / np.arange(1, 3_000_001, dtype=np.float64))), rel=1e-10
    )
    s = d.zipfian(0.99, 50_000_000)  # Gray needs no per-key memory
    r = s.sample_ranks(100_000, 1)
    assert r.max() < 50_000_000
    assert (r == 0).mean() == pytest.approx(1 / d.zeta(50_000_000, 0.99), rel=0.1)


def test_latest_prefers_the_newest_positions() -> None:
    s = d.latest(1_000, theta=0.99)
    p = s.pmf()
    assert p.argmax() == 999
    assert p[999] > p[998] > p[500] > p[0]
    stat, crit = fits(s, 300_000, 6)
    assert stat < crit


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.8, 1.0])
def test_hotcold_frequencies(ratio: float) -> None:
    s = d.hotcold(ratio, 20_000, hot_fraction=0.01, unique_cold=False)
    assert s.n_hot == 200
    pos = s.sample(100_000, 9)
    hot = pos < s.n_hot
    if 0 < ratio < 1:
        # binomial: within 4 standard deviations
        sd = math.sqrt(ratio * (1 - ratio) / pos.size)
        assert abs(hot.mean() - ratio) < 4 * sd
    else:
        assert hot.mean() == ratio
    if ratio > 0:
        counts = np.bincount(pos[hot], minlength=s.n_hot)
        stat, df = chi2(counts, np.full(s.n_hot, 1 / s.n_hot))
        assert stat < chi2_critical(df)
    np.testing.assert_allclose(s.pmf().sum(), 1.0)


def test_hotcold_cold_keys_are_used_once() -> None:
    s = d.hotcold(0.5, 10_000)
    pos = s.sample(5_000, 1)
    cold = pos[pos >= s.n_hot]
    assert len(np.unique(cold)) == len(cold) > 2_000
    with pytest.raises(FeatbenchError, match="distinct cold keys"):
        d.hotcold(0.0, 100).sample(1_000, 1)


def test_same_seed_same_draws() -> None:
    s = d.zipfian(0.9, 5_000, seed=4)
    np.testing.assert_array_equal(s.sample(1000, 42), s.sample(1000, 42))
    assert not np.array_equal(s.sample(1000, 42), s.sample(1000, 43))


@pytest.mark.parametrize("theta", [0, -0.5, float("nan"), float("inf")])
def test_bad_theta_is_an_error(theta: float) -> None:
    with pytest.raises(FeatbenchError, match="theta must be"):
        d.zipfian(theta, 100)
    with pytest.raises(FeatbenchError, match="theta must be"):
        d.latest(100, theta)


def test_bad_inputs() -> None:
    with pytest.raises(FeatbenchError, match="unknown distribution 'pareto'"):
        d.make_distribution("pareto", 10)
    with pytest.raises(FeatbenchError, match="needs --theta"):
        d.make_distribution("zipfian", 10)
    with pytest.raises(FeatbenchError, match="at least one key"):
        d.uniform(0)
    with pytest.raises(FeatbenchError, match="hot ratio"):
        d.hotcold(1.5, 10)
    with pytest.raises(FeatbenchError, match="theta must be > 0"):
        d.parse_thetas("0.5,0,1.2")
    with pytest.raises(FeatbenchError, match="not a number"):
        d.parse_thetas("0.5,abc")
    assert d.parse_thetas("0.5, 0.8,0.99,1.2") == [0.5, 0.8, 0.99, 1.2]
    with pytest.raises(FeatbenchError, match="exact CDF"):
        d.zipfian(1.2, d.EXACT_MAX_N + 1)
    assert d.make_distribution("zipfian", 10, theta=0.5).describe()["theta"] == 0.5
