"""Grid signals and grid equity against the strategies, the sweep and run_arrays."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import DataValidationError
from tools.backtest import BacktestConfig, run_arrays
from tools.backtest.sweep import sweep
from tools.costs import CommissionModel
from tools.research.grid import GRID_METRICS, BarArrays, grid_equity, grid_signals
from tools.strategies import STRATEGIES, signal_for


def synthetic(n: int = 600, seed: int = 3) -> BarArrays:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.018, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.006, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.006, n)))
    ts = np.arange(n).astype("datetime64[D]").astype("datetime64[ns]")
    return BarArrays("SYN", ts, open_, high, low, close)


SETS = {
    "ma_crossover": [
        STRATEGIES["ma_crossover"].resolve({"fast": f, "slow": s, "ma_type": t})
        for f, s, t in [(5, 20, "sma"), (10, 50, "ema"), (8, 30, "sma"), (3, 9, "kama")]
    ],
    "momentum": [STRATEGIES["momentum"].resolve({"lookback": k}) for k in (5, 20, 60)],
    "breakout": [STRATEGIES["breakout"].resolve({"period": k}) for k in (10, 40)],
    "mean_reversion": [
        STRATEGIES["mean_reversion"].resolve({"rsi_period": k, "bb_std": 1.5}) for k in (7, 14)
    ],
}


@pytest.mark.parametrize("strategy", sorted(SETS))
def test_grid_signals_when_any_strategy_then_each_row_is_the_strategys_own_signal(
    strategy: str,
) -> None:
    b = synthetic()
    out = grid_signals(strategy, b, SETS[strategy])
    assert out.dtype == np.int8 and out.shape == (len(SETS[strategy]), b.n_bars)
    for row, params in zip(out, SETS[strategy], strict=True):
        expected, _ = signal_for(strategy, b.open, b.high, b.low, b.close, params)
        np.testing.assert_array_equal(row, expected)


def test_grid_equity_when_compared_with_sweep_and_run_arrays_then_identical() -> None:
    b = synthetic(800, seed=5)
    sets = [STRATEGIES["ma_crossover"].resolve({"fast": f, "slow": s})
            for f in (5, 10, 20) for s in (30, 60)]  # fmt: skip
    sig = grid_signals("ma_crossover", b, sets)
    cfg = BacktestConfig(
        size_fraction=0.9, allow_short=True, slippage_bps=5, stop_loss=0.08, take_profit=0.2,
        commission=CommissionModel(kind="percent", rate=0.001),
    )  # fmt: skip
    equity, metrics = grid_equity(b, sig, cfg.kernel_config(), 252.0, np.full(b.n_bars, np.nan))
    ref = sweep(b.open[None], b.high[None], b.low[None], b.close[None], sig[:, None, :], cfg)
    for name in ("sharpe", "total_return", "max_drawdown", "n_trades", "equity_final"):
        np.testing.assert_array_equal(metrics[:, GRID_METRICS.index(name)], ref.column(name)[:, 0])
    for p in range(len(sets)):
        run = run_arrays(b.open, b.high, b.low, b.close, sig[p], cfg)
        np.testing.assert_array_equal(equity[p], run.equity)
    assert np.all(metrics[:, GRID_METRICS.index("invalid")] == 0.0)


def test_grid_equity_when_signals_misshaped_then_value_error() -> None:
    b = synthetic(100)
    with pytest.raises(ValueError, match=r"signals must be \[P, 100\]"):
        grid_equity(b, np.zeros((2, 99), dtype=np.int8), BacktestConfig().kernel_config(), 252.0,
                    np.full(100, np.nan))  # fmt: skip


def test_bar_arrays_checked_when_bad_price_then_names_bar() -> None:
    b = synthetic(50)
    bad = b._replace(close=np.where(np.arange(50) == 7, np.nan, b.close))
    with pytest.raises(DataValidationError) as info:
        bad.checked()
    assert info.value.problems == ["close[symbol 0, bar 7] = nan: not a price > 0"]
    with pytest.raises(ValueError, match="one length"):
        b._replace(timestamps=b.timestamps[:-1]).checked()
