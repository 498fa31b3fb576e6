"""Strategy kernels: hand-checked signals, no look-ahead, registry and parameter checks."""

from __future__ import annotations

import re

import numpy as np
import pytest
import talib

from core.errors import ConfigurationError
from tools.strategies import (
    STRATEGIES,
    breakout,
    get_strategy,
    ma_crossover,
    ma_crossover_grid,
    mean_reversion,
    momentum,
    params_problem,
    signal_for,
)

RNG = np.random.default_rng(5)
CLOSE = 100 * np.exp(np.cumsum(RNG.normal(0, 0.02, 400)))
HIGH = CLOSE * 1.01
LOW = CLOSE * 0.99


def test_ma_crossover_when_computed_then_matches_talib_comparison() -> None:
    for ma_type, fn in (("sma", talib.SMA), ("ema", talib.EMA)):
        fast, slow = fn(CLOSE, 5), fn(CLOSE, 20)
        expected = np.where(fast > slow, 1, np.where(fast < slow, -1, 0))
        expected[np.isnan(slow)] = 0
        np.testing.assert_array_equal(ma_crossover(CLOSE, 5, 20, ma_type), expected)


def test_momentum_when_lookback_return_crosses_threshold_then_direction() -> None:
    close = np.array([100, 100, 100, 110, 95, 100.0])
    np.testing.assert_array_equal(momentum(close, 2, 0.05), [0, 0, 0, 1, -1, -1])


def test_mean_reversion_when_oversold_below_band_then_long_until_middle() -> None:
    close = np.concatenate([np.full(30, 100.0) + RNG.normal(0, 0.1, 30), [90, 88, 95, 101, 101]])
    s = mean_reversion(close, rsi_period=5, rsi_low=30, rsi_high=70, bb_period=10, bb_std=2)
    assert s[30] == 1 and s[31] == 1  # oversold and below the lower band: hold
    assert s[-1] == 0  # back above the middle band: flat
    assert np.all(s[:5] == 0)  # warm-up


def test_breakout_when_close_exceeds_prior_high_then_long_and_reverses_on_low_break() -> None:
    high = np.array([10, 11, 10, 10, 13, 12, 12, 8.0])
    low = np.array([9, 9.5, 9, 9, 12, 11, 11, 7.0])
    close = np.array([9.5, 10.5, 9.5, 9.5, 12.5, 11.5, 11.5, 7.5])
    np.testing.assert_array_equal(breakout(high, low, close, 3), [0, 0, 0, 0, 1, 1, 1, -1])


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_signal_when_future_bars_change_then_past_signals_unchanged(name: str) -> None:
    base, _ = signal_for(name, CLOSE, HIGH, LOW, CLOSE)
    cut = 250
    c2, h2, l2 = CLOSE.copy(), HIGH.copy(), LOW.copy()
    for a in (c2, h2, l2):
        a[cut + 1 :] *= 1.5
    other, _ = signal_for(name, c2, h2, l2, c2)
    np.testing.assert_array_equal(base[: cut + 1], other[: cut + 1])
    assert base.dtype == np.int8 and set(np.unique(base)) <= {-1, 0, 1}


def test_grid_when_many_pairs_then_each_equals_single_call() -> None:
    close = np.vstack([CLOSE, CLOSE[::-1].copy()])
    grid = ma_crossover_grid(close, [3, 5, 10], [20, 30, 50], "ema")
    assert grid.shape == (3, 2, 400)
    for p, (f, s) in enumerate([(3, 20), (5, 30), (10, 50)]):
        for k in range(2):
            np.testing.assert_array_equal(grid[p, k], ma_crossover(close[k], f, s, "ema"))


def test_registry_when_defaults_then_every_strategy_runs_and_reports_params() -> None:
    for name, spec in STRATEGIES.items():
        signal, params = signal_for(name, CLOSE, HIGH, LOW, CLOSE)
        assert params == spec.defaults() and signal.shape == CLOSE.shape


def test_params_when_strings_from_cli_then_converted() -> None:
    _, params = signal_for("ma_crossover", CLOSE, HIGH, LOW, CLOSE, {"fast": "5", "ma_type": "EMA"})
    assert params == {"fast": 5, "slow": 30, "ma_type": "ema"}


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("ma_crossover", {"speed": 3}, "valid: fast, slow, ma_type"),
        ("ma_crossover", {"fast": 2.5}, "whole number"),
        ("ma_crossover", {"fast": 0}, "between 1 and 500"),
        ("ma_crossover", {"fast": 40, "slow": 30}, "must be < slow"),
        ("ma_crossover", {"ma_type": "trima"}, "one of sma"),
        ("momentum", {"lookback": "abc"}, "must be int"),
        ("mean_reversion", {"rsi_low": 80}, "rsi_low"),
    ],
)
def test_params_when_invalid_then_configuration_error_lists_valid(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        signal_for(name, CLOSE, HIGH, LOW, CLOSE, params)


def test_unknown_strategy_when_requested_then_error_lists_all() -> None:
    with pytest.raises(ConfigurationError, match="valid: ma_crossover, momentum"):
        get_strategy("martingale")


@pytest.mark.parametrize(
    ("name", "overrides", "problem"),
    [
        ("ma_crossover", {"fast": 50, "slow": 20}, "fast (50) must be < slow (20)"),
        ("ma_crossover", {"fast": 20, "slow": 20}, "fast (20) must be < slow (20)"),
        ("ma_crossover", {"fast": 19, "slow": 20}, None),
        ("mean_reversion", {"rsi_low": 70.0, "rsi_high": 30.0}, "rsi_low (70.0) must be <"),
        ("mean_reversion", {}, None),
        ("momentum", {"lookback": 500}, None),  # no rule between its parameters
    ],
)
def test_params_problem_when_combination_checked_then_reason_or_none(
    name: str, overrides: dict[str, int | float], problem: str | None
) -> None:
    resolved = get_strategy(name).resolve(overrides)
    found = params_problem(name, resolved)
    if problem is None:
        assert found is None
        signal_for(name, CLOSE, HIGH, LOW, CLOSE, resolved)  # and the strategy runs on it
    else:
        assert found is not None and found.startswith(problem)
        with pytest.raises(ConfigurationError, match=re.escape(problem)):
            signal_for(name, CLOSE, HIGH, LOW, CLOSE, resolved)  # the same words, raised


def test_params_problem_when_strategy_unknown_then_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown strategy 'martingale'"):
        params_problem("martingale", {})
