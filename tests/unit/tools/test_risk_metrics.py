"""Risk metric kernels against independent references.

Three oracles: hand-written NumPy / SciPy formulas, vectorbt's returns accessor on the
shipped daily data (``data/us_daily``), and hypothesis properties that must hold for
any input.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import vectorbt as vbt  # noqa: F401  (registers the .vbt accessor)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.conftest import DATA_DIR
from tools import risk_metrics as rm

FILES = sorted((DATA_DIR / "us_daily").glob("*.csv.gz"))
REL = 1e-9


def _prices(path: Path) -> pd.Series:
    frame = pd.read_csv(path, parse_dates=["date"])
    return frame.set_index("date")["adj_close"].astype(float)


def _returns(path: Path) -> np.ndarray:
    return rm.simple_returns(_prices(path).to_numpy())


def _vbt(returns: np.ndarray) -> Any:
    """vectorbt returns accessor with one period per day and 252 periods a year."""
    index = pd.date_range("2000-01-01", periods=len(returns), freq="D")
    return pd.Series(returns, index=index).vbt.returns(freq="D", year_freq="252D")


def _per_period(rf: float, ppy: float = 252.0) -> float:
    return (1.0 + rf) ** (1.0 / ppy) - 1.0


finite_returns = arrays(
    np.float64,
    st.integers(2, 300),
    elements=st.floats(-0.95, 1.0, allow_nan=False, allow_infinity=False),
)


def test_shipped_data_is_present() -> None:
    assert len(FILES) >= 4


# --- hand-written references --------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_returns_when_real_prices_then_match_numpy(path: Path) -> None:
    p = _prices(path).to_numpy()
    np.testing.assert_allclose(rm.simple_returns(p), p[1:] / p[:-1] - 1.0, rtol=1e-14)
    np.testing.assert_allclose(rm.log_returns(p), np.log(p[1:] / p[:-1]), rtol=1e-12, atol=1e-15)


def test_returns_when_fewer_than_two_prices_then_empty() -> None:
    assert rm.simple_returns(np.array([100.0])).shape == (0,)
    assert rm.log_returns(np.array([], dtype=np.float64)).shape == (0,)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("rf", [0.0, 0.03])
def test_ratios_when_real_returns_then_match_handwritten_formulas(path: Path, rf: float) -> None:
    r = _returns(path)
    ex = r - _per_period(rf)
    vol = np.std(r, ddof=1) * math.sqrt(252)
    sharpe = ex.mean() / np.std(ex, ddof=1) * math.sqrt(252)
    downside = math.sqrt(np.mean(np.minimum(ex, 0.0) ** 2))
    sortino = ex.mean() / downside * math.sqrt(252)
    assert rm.annualized_volatility(r) == pytest.approx(vol, rel=REL)
    assert rm.annualized_volatility(r, 52.0, 0) == pytest.approx(np.std(r) * math.sqrt(52), rel=REL)
    assert rm.sharpe_ratio(r, rf) == pytest.approx(sharpe, rel=REL)
    assert rm.sortino_ratio(r, rf) == pytest.approx(sortino, rel=REL)
    assert rm.downside_deviation(r, rf) == pytest.approx(downside * math.sqrt(252), rel=REL)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_drawdown_when_real_prices_then_matches_running_max_formula(path: Path) -> None:
    p = _prices(path).to_numpy()
    peak = np.maximum.accumulate(p)
    expected = (peak - p) / peak
    np.testing.assert_allclose(rm.drawdown_series(p), expected, rtol=1e-12, atol=1e-15)
    assert rm.max_drawdown(p) == pytest.approx(expected.max(), rel=1e-12)
    # The same drawdown from returns (equity rebuilt from 1.0 is proportional to prices).
    r = rm.simple_returns(p)
    assert rm.max_drawdown_from_returns(r) == pytest.approx(expected.max(), rel=1e-9)
    years = len(r) / 252
    cagr = (p[-1] / p[0]) ** (1 / years) - 1
    assert rm.cagr(r) == pytest.approx(cagr, rel=1e-9)
    assert rm.calmar_ratio(r) == pytest.approx(cagr / expected.max(), rel=1e-9)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_var_when_real_returns_then_matches_numpy_and_scipy(path: Path, confidence: float) -> None:
    r = _returns(path)
    q = np.quantile(r, 1 - confidence)
    assert rm.historical_var(r, confidence) == pytest.approx(-q, rel=REL)
    assert rm.historical_cvar(r, confidence) == pytest.approx(-r[r <= q].mean(), rel=REL)
    mu, sigma = r.mean(), r.std(ddof=1)
    gauss_var = -scipy.stats.norm.ppf(1 - confidence, loc=mu, scale=sigma)
    z = scipy.stats.norm.ppf(confidence)
    gauss_cvar = sigma * scipy.stats.norm.pdf(z) / (1 - confidence) - mu
    assert rm.parametric_var(r, confidence) == pytest.approx(gauss_var, rel=REL)
    assert rm.parametric_cvar(r, confidence) == pytest.approx(gauss_cvar, rel=REL)


def test_beta_and_correlation_when_real_pair_then_match_numpy() -> None:
    a = _prices(DATA_DIR / "us_daily" / "AAPL.csv.gz")
    b = _prices(DATA_DIR / "us_daily" / "GOOG.csv.gz")
    both = pd.concat([a, b], axis=1, join="inner").to_numpy()
    ra, rb = rm.simple_returns(both[:, 0].copy()), rm.simple_returns(both[:, 1].copy())
    cov = np.cov(ra, rb, ddof=1)
    assert rm.beta(ra, rb) == pytest.approx(cov[0, 1] / cov[1, 1], rel=REL)
    assert rm.correlation(ra, rb) == pytest.approx(np.corrcoef(ra, rb)[0, 1], rel=REL)
    assert rm.correlation(ra, rb) == pytest.approx(scipy.stats.pearsonr(ra, rb)[0], rel=1e-9)


@pytest.mark.parametrize(
    "p", [1e-300, 1e-12, 1e-6, 0.001, 0.02425, 0.05, 0.3, 0.5, 0.77, 0.95, 0.999, 1 - 1e-12]
)
def test_normal_quantile_when_probability_then_matches_scipy(p: float) -> None:
    assert rm.normal_quantile(p) == pytest.approx(scipy.stats.norm.ppf(p), rel=1e-13, abs=1e-14)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_normal_quantile_when_outside_open_interval_then_nan(p: float) -> None:
    assert math.isnan(rm.normal_quantile(p))


# --- vectorbt on the shipped data -----------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_metrics_when_real_returns_then_match_vectorbt(path: Path) -> None:
    r = _returns(path)
    acc = _vbt(r)
    assert rm.sharpe_ratio(r) == pytest.approx(acc.sharpe_ratio(), rel=REL)
    rf = 0.04
    assert rm.sharpe_ratio(r, rf) == pytest.approx(
        acc.sharpe_ratio(risk_free=_per_period(rf)), rel=REL
    )
    assert rm.sortino_ratio(r) == pytest.approx(acc.sortino_ratio(), rel=REL)
    assert rm.sortino_ratio(r, rf) == pytest.approx(
        acc.sortino_ratio(required_return=_per_period(rf)), rel=REL
    )
    assert rm.annualized_volatility(r) == pytest.approx(acc.annualized_volatility(), rel=REL)
    assert rm.cagr(r) == pytest.approx(acc.annualized(), rel=REL)
    assert rm.historical_var(r, 0.95) == pytest.approx(-acc.value_at_risk(cutoff=0.05), rel=REL)
    assert rm.historical_cvar(r, 0.95) == pytest.approx(
        -acc.cond_value_at_risk(cutoff=0.05), rel=REL
    )
    # vectorbt compounds from the first return, not from a starting point before it: a
    # leading zero return makes the two conventions identical.
    with_start = _vbt(np.concatenate(([0.0], r)))
    assert rm.max_drawdown_from_returns(r) == pytest.approx(-with_start.max_drawdown(), rel=REL)
    np.testing.assert_allclose(
        rm.drawdown_series(rm.equity_curve(r)), -with_start.drawdown().to_numpy(), atol=1e-12
    )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_calmar_when_drawdown_not_on_first_day_then_matches_vectorbt(path: Path) -> None:
    r = _returns(path)
    acc = _vbt(r)
    assert rm.max_drawdown_from_returns(r) == pytest.approx(-acc.max_drawdown(), rel=REL)
    assert rm.calmar_ratio(r) == pytest.approx(acc.calmar_ratio(), rel=REL)


def test_beta_when_real_pair_then_matches_vectorbt() -> None:
    ra = _returns(DATA_DIR / "us_daily" / "AAPL.csv.gz")
    rb = _returns(DATA_DIR / "us_daily" / "MSFT.csv.gz")
    assert len(ra) == len(rb)
    index = pd.date_range("2000-01-01", periods=len(ra), freq="D")
    acc = pd.Series(ra, index=index).vbt.returns(
        freq="D", year_freq="252D", benchmark_rets=pd.Series(rb, index=index)
    )
    assert rm.beta(ra, rb) == pytest.approx(acc.beta(), rel=REL)


# --- edge cases: undefined is NaN, never inf ------------------------------------------

SCALARS = [
    rm.annualized_volatility,
    rm.sharpe_ratio,
    rm.sortino_ratio,
    rm.calmar_ratio,
    rm.cagr,
    rm.max_drawdown_from_returns,
    rm.historical_var,
    rm.historical_cvar,
    rm.parametric_var,
    rm.parametric_cvar,
]


@pytest.mark.parametrize("fn", SCALARS, ids=lambda f: f.__name__)
def test_scalar_metric_when_nan_in_returns_then_nan(fn: object) -> None:
    r = np.array([0.01, -0.02, math.nan, 0.03])
    assert math.isnan(fn(r))  # type: ignore[operator]


@pytest.mark.parametrize(
    "fn",
    [rm.annualized_volatility, rm.sharpe_ratio, rm.sortino_ratio, rm.calmar_ratio],
    ids=lambda f: f.__name__,
)
def test_ratio_when_single_observation_then_nan(fn: object) -> None:
    assert math.isnan(fn(np.array([0.01])))  # type: ignore[operator]


def test_sharpe_when_constant_returns_then_nan_not_inf() -> None:
    assert math.isnan(rm.sharpe_ratio(np.full(10, 0.001)))


def test_sortino_when_no_return_below_target_then_nan_not_inf() -> None:
    assert math.isnan(rm.sortino_ratio(np.array([0.01, 0.02, 0.0, 0.03])))


def test_calmar_when_no_drawdown_then_nan() -> None:
    assert math.isnan(rm.calmar_ratio(np.array([0.01, 0.02, 0.0])))


def test_cagr_when_total_loss_then_minus_one() -> None:
    assert rm.cagr(np.array([0.1, -1.0, 0.5])) == -1.0


def test_max_drawdown_when_loss_on_first_period_then_counted() -> None:
    assert rm.max_drawdown_from_returns(np.array([-0.1, 0.05])) == pytest.approx(0.1)


def test_drawdown_series_when_nan_then_nan_from_there_on() -> None:
    dd = rm.drawdown_series(np.array([100.0, 90.0, math.nan, 120.0]))
    assert dd[1] == pytest.approx(0.1)
    assert np.isnan(dd[2:]).all()
    assert math.isnan(rm.max_drawdown(np.array([100.0, math.nan])))


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.2])
def test_var_when_confidence_outside_open_interval_then_nan(confidence: float) -> None:
    r = np.array([0.01, -0.02, 0.03, -0.01])
    for fn in (rm.historical_var, rm.historical_cvar, rm.parametric_var, rm.parametric_cvar):
        assert math.isnan(fn(r, confidence))


def test_annualised_when_periods_per_year_not_positive_then_nan() -> None:
    r = np.array([0.01, -0.02, 0.03])
    assert math.isnan(rm.sharpe_ratio(r, 0.0, 0.0))
    assert math.isnan(rm.annualized_volatility(r, -1.0))


def test_beta_when_lengths_differ_or_benchmark_constant_then_nan() -> None:
    a = np.array([0.01, -0.02, 0.03])
    assert math.isnan(rm.beta(a, np.array([0.01, 0.02])))
    assert math.isnan(rm.beta(a, np.zeros(3)))
    assert math.isnan(rm.correlation(a, np.zeros(3)))


def test_periods_per_year_when_weekly_then_scales_by_sqrt() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0, 0.015])
    ratio = rm.sharpe_ratio(r, 0.0, 52.0) / rm.sharpe_ratio(r, 0.0, 252.0)
    assert ratio == pytest.approx(math.sqrt(52 / 252), rel=1e-12)


# --- properties -------------------------------------------------------------------------


@given(finite_returns)
def test_max_drawdown_when_returns_above_minus_one_then_in_unit_interval(r: np.ndarray) -> None:
    mdd = rm.max_drawdown_from_returns(r)
    assert 0.0 <= mdd <= 1.0
    dd = rm.drawdown_series(rm.equity_curve(r))
    assert (dd >= 0.0).all()
    assert dd.max() == pytest.approx(mdd)


@given(arrays(np.float64, st.integers(1, 200), elements=st.floats(0.0, 1.0)))
def test_drawdown_when_equity_never_falls_then_zero(steps: np.ndarray) -> None:
    equity = 100.0 + np.cumsum(steps)
    assert rm.max_drawdown(equity) == 0.0
    assert (rm.drawdown_series(equity) == 0.0).all()


@given(finite_returns, st.sampled_from([0.9, 0.95, 0.975, 0.99]))
def test_cvar_when_any_returns_then_not_below_var(r: np.ndarray, confidence: float) -> None:
    assert rm.historical_cvar(r, confidence) >= rm.historical_var(r, confidence) - 1e-15
    if np.std(r) > 0:
        assert rm.parametric_cvar(r, confidence) >= rm.parametric_var(r, confidence)


@given(finite_returns)
def test_var_when_confidence_rises_then_not_smaller(r: np.ndarray) -> None:
    assert rm.historical_var(r, 0.99) >= rm.historical_var(r, 0.9) - 1e-15
    assert rm.historical_cvar(r, 0.99) >= rm.historical_cvar(r, 0.9) - 1e-15


@given(finite_returns, st.floats(0.1, 10.0))
def test_sharpe_when_returns_scaled_then_unchanged(r: np.ndarray, k: float) -> None:
    if np.std(r) < 1e-9:
        return
    assert rm.sharpe_ratio(r * k) == pytest.approx(rm.sharpe_ratio(r), rel=1e-8, abs=1e-9)


@given(finite_returns, finite_returns)
def test_correlation_when_any_pair_then_within_bounds(a: np.ndarray, b: np.ndarray) -> None:
    n = min(len(a), len(b))
    rho = rm.correlation(a[:n], b[:n])
    assert math.isnan(rho) or -1.0 <= rho <= 1.0


@given(finite_returns)
def test_beta_when_against_itself_then_one(r: np.ndarray) -> None:
    if np.std(r) < 1e-9:
        return
    assert rm.beta(r, r) == pytest.approx(1.0)
    assert rm.beta(2.0 * r, r) == pytest.approx(2.0)
