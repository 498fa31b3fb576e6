"""Grid backtests that keep what the overfitting statistics need: each parameter set's
signal on one symbol, and each set's whole equity curve (``tools.backtest.sweep`` keeps
only metrics).

``BarArrays`` is the plain, picklable form of a symbol's bars that research tasks take
(a ``BarSeries`` is validated once, then turned into arrays with ``from_series``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from core.bars import BarSeries
from tools.backtest import metrics as m
from tools.backtest.engine import checked_prices
from tools.backtest.kernel import CFG_ALLOW_SHORT, N_TR, STATUS_RUINED, simulate
from tools.strategies import ParamValue, ma_crossover_grid, signal_for

FloatArray = npt.NDArray[np.float64]
SignalArray = npt.NDArray[np.int8]

# Columns of ``grid_equity``'s metrics: ``tools.backtest.metrics.ALL_METRICS``, then these.
G_N_TRADES = len(m.ALL_METRICS)
G_N_WINS = G_N_TRADES + 1
G_EQUITY_FINAL = G_N_TRADES + 2
G_INVALID = G_N_TRADES + 3  # non-finite equity, or ruin in a long-only run
N_GRID_METRICS = G_N_TRADES + 4
GRID_METRICS = (*m.ALL_METRICS, "n_trades", "n_wins", "equity_final", "invalid")


class BarArrays(NamedTuple):
    """One symbol's bars as 1-D arrays of one length (timestamps ``datetime64[ns]``)."""

    symbol: str
    timestamps: npt.NDArray[np.datetime64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray

    @classmethod
    def from_series(cls, bars: BarSeries) -> BarArrays:
        return cls(bars.symbol, bars.timestamps, bars.open, bars.high, bars.low, bars.close)

    @property
    def n_bars(self) -> int:
        return int(self.close.shape[0])

    def checked(self) -> BarArrays:
        """The same bars with prices checked (finite, > 0, one length) and contiguous."""
        o, h, lo, c = checked_prices(self.open, self.high, self.low, self.close)
        if o.shape[0] != 1 or self.timestamps.shape != (c.shape[1],):
            raise ValueError(
                f"{self.symbol}: bars must be 1-D of one length, got prices {c.shape} and "
                f"timestamps {self.timestamps.shape}"
            )
        return BarArrays(self.symbol, self.timestamps, o[0], h[0], lo[0], c[0])


def grid_signals(
    strategy: str, bars: BarArrays, param_sets: Sequence[Mapping[str, ParamValue]]
) -> SignalArray:
    """``int8[P, T]``: the signal of each resolved parameter set over the whole series.

    ``ma_crossover`` computes each distinct window's average once (``ma_crossover_grid``);
    other strategies run ``signal_for`` per set. Either way a row equals the strategy's
    own signal for those parameters.
    """
    n_sets = len(param_sets)
    out = np.empty((n_sets, bars.n_bars), dtype=np.int8)
    if strategy == "ma_crossover":
        for ma_type in sorted({str(p["ma_type"]) for p in param_sets}):
            rows = [i for i, p in enumerate(param_sets) if str(p["ma_type"]) == ma_type]
            fast = [int(param_sets[i]["fast"]) for i in rows]
            slow = [int(param_sets[i]["slow"]) for i in rows]
            out[rows] = ma_crossover_grid(bars.close, fast, slow, ma_type)[:, 0, :]
        return out
    for i, params in enumerate(param_sets):
        out[i], _ = signal_for(strategy, bars.open, bars.high, bars.low, bars.close, params)
    return out


@njit(cache=True, parallel=True)
def _grid_equity_kernel(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    signals: SignalArray,
    atr: FloatArray,
    cfg: FloatArray,
    ppy: float,
) -> tuple[FloatArray, FloatArray]:
    n_set = signals.shape[0]
    n_bar = close.shape[1]
    equity = np.empty((n_set, n_bar))
    out = np.empty((n_set, N_GRID_METRICS))
    no_trades = np.empty((1, N_TR))
    for job in prange(n_set):
        p = np.int64(job)
        exposure = np.empty(n_bar)
        n_tr, n_win, status = simulate(
            open_, high, low, close, signals[p], atr, cfg, equity[p], exposure, no_trades, False
        )
        out[p, :G_N_TRADES] = m.all_metrics(equity[p], exposure, ppy)
        out[p, G_N_TRADES] = n_tr
        out[p, G_N_WINS] = n_win
        out[p, G_EQUITY_FINAL] = equity[p, n_bar - 1]
        bad = status == STATUS_RUINED and cfg[CFG_ALLOW_SHORT] == 0.0
        for t in range(n_bar):
            if not np.isfinite(equity[p, t]):
                bad = True
        out[p, G_INVALID] = 1.0 if bad else 0.0
    return equity, out


def grid_equity(
    bars: BarArrays, signals: SignalArray, cfg: FloatArray, ppy: float, atr: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Every parameter set's equity curve ``[P, T]`` and metrics ``[P, N_GRID_METRICS]``
    (``GRID_METRICS`` columns) on one symbol, in parallel over the sets. ``cfg`` is a
    ``BacktestConfig.kernel_config()`` vector; ``atr`` the symbol's ATR (NaN: none)."""
    sig = np.ascontiguousarray(signals, dtype=np.int8)
    if sig.ndim != 2 or sig.shape[1] != bars.n_bars:
        raise ValueError(f"signals must be [P, {bars.n_bars}], got {sig.shape}")

    def row(a: FloatArray) -> FloatArray:
        return np.ascontiguousarray(a, dtype=np.float64).reshape(1, -1)

    equity, metrics = _grid_equity_kernel(
        row(bars.open), row(bars.high), row(bars.low), row(bars.close),
        sig.reshape(sig.shape[0], 1, sig.shape[1]), row(atr), cfg, float(ppy),
    )  # fmt: skip
    return equity, metrics
