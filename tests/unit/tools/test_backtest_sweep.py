"""Parameter sweeps: every run of a sweep equals the same run done alone."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import DataValidationError
from tools.backtest import BacktestConfig, run_arrays
from tools.backtest.sweep import sweep
from tools.costs import CommissionModel
from tools.strategies import ma_crossover_grid

RNG = np.random.default_rng(21)
CLOSE = 40 * np.exp(np.cumsum(RNG.normal(0.0003, 0.02, (3, 300)), axis=1))
OPEN = CLOSE * np.exp(RNG.normal(0, 0.005, CLOSE.shape))
HIGH = np.maximum(OPEN, CLOSE) * 1.01
LOW = np.minimum(OPEN, CLOSE) * 0.99
SIGNALS = ma_crossover_grid(CLOSE, [3, 5, 10, 20], [15, 30, 50, 100])
CONFIG = BacktestConfig(
    allow_short=True, commission=CommissionModel.ibkr_us_fixed(), slippage_bps=2
)


def test_sweep_when_independent_symbols_then_each_cell_equals_single_run() -> None:
    result = sweep(OPEN, HIGH, LOW, CLOSE, SIGNALS, CONFIG)
    assert result.metrics.shape == (4, 3, 11)
    for p in range(4):
        for s in range(3):
            alone = run_arrays(OPEN[s], HIGH[s], LOW[s], CLOSE[s], SIGNALS[p, s], CONFIG).metrics
            row = result.metrics[p, s]
            assert row[result.columns.index("equity_final")] == pytest.approx(
                alone.equity_final, rel=1e-12
            )
            assert row[result.columns.index("n_trades")] == alone.n_trades
            assert row[result.columns.index("sharpe")] == pytest.approx(alone.sharpe, rel=1e-9)
            assert row[result.columns.index("max_drawdown")] == pytest.approx(alone.max_drawdown)


def test_sweep_when_shared_cash_then_each_set_equals_portfolio_run() -> None:
    cfg = CONFIG.model_copy(update={"size_fraction": 0.3})
    result = sweep(OPEN, HIGH, LOW, CLOSE, SIGNALS, cfg, shared_cash=True)
    assert result.metrics.shape == (4, 1, 11)
    for p in range(4):
        alone = run_arrays(OPEN, HIGH, LOW, CLOSE, SIGNALS[p], cfg).metrics
        assert result.column("equity_final")[p, 0] == pytest.approx(alone.equity_final, rel=1e-12)


def test_sweep_when_config_per_set_then_stops_differ_per_set() -> None:
    configs = [CONFIG.model_copy(update={"stop_loss": sl}) for sl in (0.0, 0.02, 0.05, 0.1)]
    same = np.repeat(SIGNALS[:1], 4, axis=0)
    result = sweep(OPEN, HIGH, LOW, CLOSE, same, configs)
    for p, cfg in enumerate(configs):
        alone = run_arrays(OPEN[0], HIGH[0], LOW[0], CLOSE[0], same[p, 0], cfg).metrics
        assert result.column("equity_final")[p, 0] == pytest.approx(alone.equity_final, rel=1e-12)
    assert len(set(np.round(result.column("equity_final")[:, 0], 6))) > 1


def test_sweep_when_shapes_or_config_count_wrong_then_value_error() -> None:
    with pytest.raises(ValueError, match="signals must be"):
        sweep(OPEN, HIGH, LOW, CLOSE, SIGNALS[:, :2], CONFIG)
    with pytest.raises(ValueError, match="3 configs for 4"):
        sweep(OPEN, HIGH, LOW, CLOSE, SIGNALS, [CONFIG] * 3)
    weekly = CONFIG.model_copy(update={"periods_per_year": 52.0})
    with pytest.raises(ValueError, match="same periods_per_year"):
        sweep(OPEN, HIGH, LOW, CLOSE, SIGNALS, [CONFIG] * 3 + [weekly])


def test_sweep_when_price_arrays_differ_in_shape_then_rejected_before_the_kernel() -> None:
    with pytest.raises(DataValidationError, match="differ in shape"):
        sweep(OPEN[:2], HIGH, LOW, CLOSE, SIGNALS, CONFIG)


def test_sweep_when_price_nan_then_error_names_column_symbol_bar() -> None:
    close = CLOSE.copy()
    close[2, 17] = np.nan
    with pytest.raises(DataValidationError) as err:
        sweep(OPEN, HIGH, LOW, close, SIGNALS, CONFIG)
    assert err.value.problems == ["close[symbol 2, bar 17] = nan: not a price > 0"]


def test_sweep_when_signal_value_not_a_direction_then_rejected() -> None:
    bad = SIGNALS.copy()
    bad[1, 0, 5] = 2
    with pytest.raises(DataValidationError, match="-1, 0 or 1"):
        sweep(OPEN, HIGH, LOW, CLOSE, bad, CONFIG)


def test_sweep_when_atr_shape_differs_then_rejected() -> None:
    cfg = BacktestConfig(size_fraction=0.5, pyramid_levels=1, pyramid_fraction=0.5)
    with pytest.raises(DataValidationError, match="atr shape"):
        sweep(OPEN, HIGH, LOW, CLOSE, SIGNALS, cfg, atr=np.ones((1, 300)))


def test_sweep_and_grid_kernels_when_compiled_then_parallel_over_sets() -> None:
    """``prange`` loops run in threads only in ``parallel=True`` kernels."""
    from tools.backtest.sweep import sweep_kernel
    from tools.strategies import cross_grid

    assert sweep_kernel.targetoptions.get("parallel") is True
    assert cross_grid.targetoptions.get("parallel") is True
