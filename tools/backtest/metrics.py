"""Performance metrics of an equity curve, as Numba kernels.

Conventions: returns are simple per-bar returns of the equity curve; Sharpe and Sortino
use a zero risk-free rate and annualise by ``sqrt(periods_per_year)`` (252 for daily bars);
Sharpe uses the sample standard deviation (ddof=1); Sortino's downside deviation is
``sqrt(mean(min(r, 0)²))`` over all bars. ``max_drawdown`` is a positive fraction of the
running peak (0.25 = the equity fell 25 % below its high). NaN when undefined
(fewer than two bars, zero volatility).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]

TRADING_DAYS = 252.0


@njit(cache=True)
def bar_returns(equity: FloatArray) -> FloatArray:
    n = equity.shape[0]
    out = np.empty(max(n - 1, 0))
    for i in range(1, n):
        out[i - 1] = equity[i] / equity[i - 1] - 1.0
    return out


@njit(cache=True)
def total_return(equity: FloatArray) -> float:
    if equity.shape[0] == 0:
        return np.nan
    return float(equity[-1] / equity[0] - 1.0)


@njit(cache=True)
def cagr(equity: FloatArray, periods_per_year: float) -> float:
    """Compound annual growth over ``len(equity) - 1`` periods."""
    n = equity.shape[0]
    if n < 2 or equity[0] <= 0.0:
        return np.nan
    if equity[-1] <= 0.0:
        return -1.0
    years = (n - 1) / periods_per_year
    return float((equity[-1] / equity[0]) ** (1.0 / years) - 1.0)


@njit(cache=True)
def max_drawdown(equity: FloatArray) -> float:
    peak = -np.inf
    worst = 0.0
    for x in equity:
        peak = max(peak, x)
        if peak > 0.0:
            dd = 1.0 - x / peak
            worst = max(worst, dd)
    return worst


@njit(cache=True)
def drawdown_series(equity: FloatArray) -> FloatArray:
    out = np.empty_like(equity)
    peak = -np.inf
    for i in range(equity.shape[0]):
        peak = max(peak, equity[i])
        out[i] = 1.0 - equity[i] / peak if peak > 0.0 else 0.0
    return out


@njit(cache=True)
def sharpe(equity: FloatArray, periods_per_year: float) -> float:
    r = bar_returns(equity)
    n = r.shape[0]
    if n < 2:
        return np.nan
    mean = r.mean()
    var = 0.0
    for x in r:
        var += (x - mean) ** 2
    sd = np.sqrt(var / (n - 1))
    if sd == 0.0:
        return np.nan
    return float(mean / sd * np.sqrt(periods_per_year))


@njit(cache=True)
def sortino(equity: FloatArray, periods_per_year: float) -> float:
    r = bar_returns(equity)
    n = r.shape[0]
    if n < 2:
        return np.nan
    down = 0.0
    for x in r:
        if x < 0.0:
            down += x * x
    dd = np.sqrt(down / n)
    if dd == 0.0:
        return np.nan
    return float(r.mean() / dd * np.sqrt(periods_per_year))


@njit(cache=True)
def exposure_time(exposure: FloatArray) -> float:
    """Fraction of bars that closed with any position open."""
    n = exposure.shape[0]
    if n == 0:
        return np.nan
    held = 0
    for x in exposure:
        held += x > 0.0
    return float(held / n)


# Column order of ``all_metrics``.
ALL_METRICS = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "exposure")


@njit(cache=True)
def all_metrics(equity: FloatArray, exposure: FloatArray, periods_per_year: float) -> FloatArray:
    """Every metric above in one call (one dispatch instead of six): see ``ALL_METRICS``."""
    out = np.empty(6)
    out[0] = total_return(equity)
    out[1] = cagr(equity, periods_per_year)
    out[2] = sharpe(equity, periods_per_year)
    out[3] = sortino(equity, periods_per_year)
    out[4] = max_drawdown(equity)
    out[5] = exposure_time(exposure)
    return out
