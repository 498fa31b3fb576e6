"""Monte Carlo bootstrap: seeded, reproducible, and consistent with hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from tools.backtest import BacktestConfig, run_arrays
from tools.montecarlo import (
    bootstrap_returns,
    resample_trades,
    summarize,
    trade_returns_on_equity,
)

RNG = np.random.default_rng(7)
RETURNS = RNG.normal(0.0005, 0.01, 500)


def test_bootstrap_when_same_seed_then_identical_arrays() -> None:
    a = bootstrap_returns(RETURNS, n_paths=200, seed=42)
    b = bootstrap_returns(RETURNS, n_paths=200, seed=42)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_bootstrap_when_different_seed_then_different_paths() -> None:
    a, _ = bootstrap_returns(RETURNS, n_paths=200, seed=1)
    b, _ = bootstrap_returns(RETURNS, n_paths=200, seed=2)
    assert not np.array_equal(a, b)


def test_bootstrap_when_constant_returns_then_every_path_is_the_compounded_value() -> None:
    final, mdd = bootstrap_returns(np.full(10, 0.01), n_paths=50, horizon=20, start_equity=100.0)
    np.testing.assert_allclose(final, 100.0 * 1.01**20, rtol=1e-12)
    np.testing.assert_array_equal(mdd, 0.0)


def test_bootstrap_when_block_length_given_then_draws_consecutive_returns() -> None:
    # Alternating +10 % / -10 %: blocks of 2 from an even start always pair them up.
    alternating = np.array([0.1, -0.1] * 5)
    final, _ = bootstrap_returns(alternating, n_paths=100, horizon=10, block=10, seed=3)
    np.testing.assert_allclose(final, (1.1 * 0.9) ** 5, rtol=1e-12)


def test_bootstrap_when_many_paths_then_log_growth_matches_the_sample() -> None:
    final, mdd = bootstrap_returns(RETURNS, n_paths=2000, seed=0)
    log_r = np.log1p(RETURNS)
    # iid resampling: log final equity ~ N(n·mean, n·var) of the sample's log returns.
    assert np.log(final).mean() == pytest.approx(log_r.size * log_r.mean(), abs=0.03)
    assert np.log(final).std() == pytest.approx(np.sqrt(log_r.size) * log_r.std(), rel=0.1)
    assert np.all((mdd >= 0.0) & (mdd < 1.0))


def test_trade_permutation_when_no_replacement_then_final_fixed_and_drawdown_varies() -> None:
    trades = np.array([0.05, -0.03, 0.02, -0.08, 0.04, -0.01, 0.06])
    final, mdd = resample_trades(trades, n_paths=500, start_equity=1000.0, seed=5)
    np.testing.assert_allclose(final, 1000.0 * np.prod(1 + trades), rtol=1e-12)
    assert mdd.min() < mdd.max()
    # The worst ordering puts all losses together: no path can be worse than that.
    assert mdd.max() <= 1.0 - np.prod(1 + trades[trades < 0]) + 1e-12


def test_trade_resampling_when_with_replacement_then_final_equity_varies() -> None:
    final, _ = resample_trades([0.05, -0.03, 0.02], n_paths=200, replace=True, seed=5)
    assert final.min() < final.max()


@pytest.mark.parametrize("bad", [[], [np.nan], [0.1, -1.0], [[0.1, 0.2]]])
def test_inputs_when_empty_nan_or_total_loss_then_rejected(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        bootstrap_returns(bad)
    with pytest.raises(ValueError):
        resample_trades(bad)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_when_outside_32_bits_then_rejected_not_wrapped_onto_another(seed: int) -> None:
    with pytest.raises(ValueError, match="seed must be in"):
        bootstrap_returns([0.01, -0.02], seed=seed)
    with pytest.raises(ValueError, match="seed must be in"):
        resample_trades([0.01, -0.02], seed=seed)


@pytest.mark.parametrize("horizon", [0, -3])
def test_bootstrap_when_horizon_not_positive_then_rejected(horizon: int) -> None:
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        bootstrap_returns([0.01, -0.02], horizon=horizon)


def test_summarize_when_known_arrays_then_percentiles_and_loss_probability() -> None:
    final = np.arange(1.0, 101.0)
    summary = summarize(final, final / 1000.0, start_equity=50.5, seed=9)
    assert summary.final_equity.percentiles["p50"] == pytest.approx(50.5)
    assert summary.final_equity.mean == pytest.approx(50.5)
    assert summary.probability_of_loss == pytest.approx(0.5)
    assert set(summary.max_drawdown.percentiles) == {"p5", "p25", "p50", "p75", "p95"}


def test_trade_returns_on_equity_when_from_backtest_then_compound_to_final_equity() -> None:
    close = np.array([10.0, 10, 11, 12, 12, 11, 10, 10, 12, 13])
    signal = np.array([1, 1, 1, 0, 0, 1, 1, 0, 0, 0], dtype=np.int8)
    result = run_arrays(close, close * 1.01, close * 0.99, close, signal, BacktestConfig(cash=1000))
    rets = trade_returns_on_equity(result, 1000.0)
    assert len(rets) == 2
    # Sequential, non-overlapping trades compound exactly to the final equity.
    assert 1000.0 * np.prod(1 + rets) == pytest.approx(result.metrics.equity_final, rel=1e-12)
