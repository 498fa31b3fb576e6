"""Overfitting statistics against independent references: the papers' worked example,
SciPy for the moments and the normal distribution, a brute-force CSCV, and properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from tools.research.stats import (
    EULER_GAMMA,
    deflated_sharpe,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
    return_moments,
    trials_variance,
)


def _skewed_returns(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 0.0005 + 0.01 * rng.standard_t(4, n) - 0.004 * rng.exponential(1.0, n)


def test_deflated_sharpe_when_paper_example_then_matches_published_values() -> None:
    # Bailey & López de Prado (2014), section 6: SR 2.5 annualised over 1,250 daily
    # returns, 100 trials whose annualised Sharpe variance is 1/2, skew -3, kurtosis 10.
    sr, var = 2.5 / math.sqrt(250), 0.5 / 250
    assert expected_max_sharpe(100, var) == pytest.approx(0.1132, abs=5e-5)
    assert deflated_sharpe(sr, 100, var, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=5e-4)


def test_return_moments_when_skewed_series_then_equal_scipy() -> None:
    r = _skewed_returns(1500, seed=3)
    m = return_moments(r)
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)
    assert m.skew == pytest.approx(sps.skew(r), rel=1e-10)
    assert m.kurtosis == pytest.approx(sps.kurtosis(r, fisher=False), rel=1e-10)
    assert m.n_obs == 1500


def test_probabilistic_sharpe_when_recomputed_with_scipy_then_equal() -> None:
    r = _skewed_returns(1000, seed=5)
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = sps.skew(r), sps.kurtosis(r, fisher=False)
    for bench in (0.0, 0.02, -0.01):
        expected = sps.norm.cdf(
            (sr - bench) * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
        )
        m = return_moments(r)
        got = probabilistic_sharpe(m.sharpe, bench, m.n_obs, m.skew, m.kurtosis)
        assert got == pytest.approx(expected, rel=1e-9)


def test_deflated_sharpe_when_recomputed_with_scipy_then_equal() -> None:
    rng = np.random.default_rng(11)
    trial_srs = rng.normal(0.0, 0.03, 250)
    r = _skewed_returns(2000, seed=8)
    m = return_moments(r)
    var = trials_variance(trial_srs)
    assert var == pytest.approx(np.var(trial_srs, ddof=1), rel=1e-12)
    n = len(trial_srs)
    sr0 = math.sqrt(var) * (
        (1 - np.euler_gamma) * sps.norm.ppf(1 - 1 / n)
        + np.euler_gamma * sps.norm.ppf(1 - 1 / (n * math.e))
    )
    assert expected_max_sharpe(n, var) == pytest.approx(sr0, rel=1e-9)
    denom = math.sqrt(1 - m.skew * m.sharpe + (m.kurtosis - 1) / 4 * m.sharpe**2)
    expected = sps.norm.cdf((m.sharpe - sr0) * math.sqrt(m.n_obs - 1) / denom)
    got = deflated_sharpe(m.sharpe, n, var, m.n_obs, m.skew, m.kurtosis)
    assert got == pytest.approx(expected, rel=1e-9)
    assert abs(EULER_GAMMA - np.euler_gamma) < 1e-16


def test_expected_max_sharpe_when_compared_with_monte_carlo_then_within_two_percent() -> None:
    rng = np.random.default_rng(2)
    sd = 0.05
    simulated = rng.normal(0.0, sd, (20_000, 100)).max(axis=1).mean()
    assert expected_max_sharpe(100, sd**2) == pytest.approx(simulated, rel=0.02)


def test_deflated_sharpe_when_one_trial_then_equals_psr_against_zero() -> None:
    assert expected_max_sharpe(1, 0.1) == 0.0
    assert deflated_sharpe(0.05, 1, 0.1, 500, 0.0, 3.0) == probabilistic_sharpe(
        0.05, 0.0, 500, 0.0, 3.0
    )


@pytest.mark.parametrize(
    ("sharpe", "n_obs", "skew", "kurt"),
    [(math.nan, 100, 0.0, 3.0), (0.1, 1, 0.0, 3.0), (0.1, 100, math.inf, 3.0), (2.0, 100, 5, 3)],
)
def test_probabilistic_sharpe_when_undefined_then_nan(
    sharpe: float, n_obs: int, skew: float, kurt: float
) -> None:
    assert math.isnan(probabilistic_sharpe(sharpe, 0.0, n_obs, skew, kurt))


def test_return_moments_when_constant_or_short_then_nan() -> None:
    assert math.isnan(return_moments(np.full(10, 0.01)).sharpe)
    assert math.isnan(return_moments(np.array([0.01])).skew)
    with pytest.raises(ValueError, match="1-D"):
        return_moments(np.zeros((3, 3)))


@given(
    sr=st.floats(-0.2, 0.3),
    var=st.floats(1e-6, 0.01),
    n_obs=st.integers(30, 5000),
    skew=st.floats(-1.0, 1.0),
    kurt=st.floats(2.0, 10.0),
    n1=st.integers(1, 5000),
    extra=st.integers(1, 5000),
)
def test_deflated_sharpe_when_more_trials_then_never_higher(
    sr: float, var: float, n_obs: int, skew: float, kurt: float, n1: int, extra: int
) -> None:
    a = deflated_sharpe(sr, n1, var, n_obs, skew, kurt)
    b = deflated_sharpe(sr, n1 + extra, var, n_obs, skew, kurt)
    if not math.isnan(a):
        assert 0.0 <= b <= a <= 1.0
        assert expected_max_sharpe(n1 + extra, var) >= expected_max_sharpe(n1, var)


# ---------------------------------------------------------------- PBO


def _brute_force_logits(m: np.ndarray, s: int) -> list[float]:
    """CSCV written straight from the paper, with SciPy's average ranks."""
    blocks = np.array_split(m[len(m) % s :], s)
    out = []
    for combo in itertools.combinations(range(s), s // 2):
        is_rows = np.vstack([blocks[i] for i in combo])
        oos_rows = np.vstack([blocks[i] for i in range(s) if i not in combo])
        is_sr = is_rows.mean(0) / is_rows.std(0, ddof=1)
        oos_sr = oos_rows.mean(0) / oos_rows.std(0, ddof=1)
        best = int(np.argmax(is_sr))
        w = sps.rankdata(oos_sr)[best] / (m.shape[1] + 1)
        out.append(math.log(w / (1 - w)))
    return out


def test_pbo_when_compared_with_brute_force_cscv_then_same_logits() -> None:
    rng = np.random.default_rng(4)
    m = rng.normal(0.0, 0.01, (83, 6)) + np.linspace(-0.001, 0.001, 6)
    for s in (4, 6, 8):
        res = pbo_cscv(m, s)
        expected = _brute_force_logits(m, s)
        assert res.n_combinations == math.comb(s, s // 2) == len(expected)
        np.testing.assert_allclose(res.logits, expected, rtol=1e-9, atol=1e-12)
        assert res.pbo == pytest.approx(np.mean(np.array(expected) <= 0))


def test_pbo_when_trials_are_demeaned_noise_then_near_one() -> None:
    # Every trial has exactly the same full-sample mean: whatever wins in-sample must
    # give it back out-of-sample, the most overfit case.
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 0.01, (2000, 40))
    assert pbo_cscv(noise - noise.mean(axis=0), 16).pbo >= 0.95


def test_pbo_when_noise_then_near_half_and_when_real_edge_then_near_zero() -> None:
    rng = np.random.default_rng(9)
    pure, edge = [], []
    for _ in range(8):
        noise = rng.normal(0.0, 0.01, (1200, 30))
        pure.append(pbo_cscv(noise, 10).pbo)
        noise[:, 5] += 0.002  # one trial with a real edge (Sharpe ~3 annualised)
        edge.append(pbo_cscv(noise, 10).pbo)
    assert 0.3 <= float(np.mean(pure)) <= 0.7  # IS winner of noise: a coin flip OOS
    assert float(np.mean(edge)) <= 0.05 and max(edge) <= 0.1
    assert pbo_cscv(noise, 10).prob_oos_loss == 0.0


def test_pbo_when_a_trial_is_flat_then_it_never_wins_and_ranks_last() -> None:
    rng = np.random.default_rng(1)
    m = rng.normal(0.0, 0.01, (400, 4))
    m[:, 0] = 0.0
    res = pbo_cscv(m, 8)
    assert np.all(np.isfinite(res.logits))
    assert np.all(np.isfinite(res.is_sharpe))


@pytest.mark.parametrize(
    ("shape", "blocks", "message"),
    [
        ((100, 5), 5, "even"),
        ((100, 5), 0, "even"),
        ((100_000, 2), 26, r"even, 2\.\.24, got 26"),  # C(26, 13) splits: refused, not run
        ((100_000, 2), 400, r"even, 2\.\.24, got 400"),  # C(400, 200) overflows int64
        ((20, 5), 16, "too few"),
        ((100, 1), 4, "at least 2 trials"),
        ((100,), 4, "periods, trials"),
    ],
)
def test_pbo_when_bad_input_then_value_error(
    shape: tuple[int, ...], blocks: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        pbo_cscv(np.zeros(shape), blocks)


def test_pbo_when_non_finite_returns_then_value_error() -> None:
    m = np.zeros((100, 3))
    m[5, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        pbo_cscv(m, 4)


@given(
    seed=st.integers(0, 2**32 - 1),
    n_trials=st.integers(2, 12),
    blocks=st.sampled_from([2, 4, 6, 8]),
    drift=st.floats(-0.005, 0.005),
)
def test_pbo_when_any_matrix_then_in_unit_interval(
    seed: int, n_trials: int, blocks: int, drift: float
) -> None:
    rng = np.random.default_rng(seed)
    m = rng.normal(drift, 0.01, (blocks * 5 + 3, n_trials))
    res = pbo_cscv(m, blocks)
    assert 0.0 <= res.pbo <= 1.0
    assert 0.0 <= res.prob_oos_loss <= 1.0
    assert res.logits.shape == (math.comb(blocks, blocks // 2),)
