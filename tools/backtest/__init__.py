"""Backtesting: a Numba kernel (fill at the next open, costs, stops, pyramiding, shared
cash), parameter sweeps, metrics and self-validation. See docs/backtest.md."""

from tools.backtest.engine import (
    BacktestConfig,
    BacktestResult,
    Metrics,
    Trade,
    run_arrays,
    run_bars,
)
from tools.backtest.validate import BacktestValidationError

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "BacktestValidationError",
    "Metrics",
    "Trade",
    "run_arrays",
    "run_bars",
]
