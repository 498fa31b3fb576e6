"""Performance metrics of an equity curve, as Numba kernels.

Sharpe, Sortino, CAGR and drawdown come from ``tools.risk_metrics`` (one set of
conventions for the whole project): simple per-bar returns of the equity curve, zero
risk-free rate, annualised by ``sqrt(periods_per_year)`` (252 for daily bars), Sharpe with
the sample standard deviation (ddof=1), Sortino's downside deviation over all bars,
``max_drawdown`` a positive fraction of the running peak (0.25 = 25 % below the high).
NaN when undefined (fewer than two bars, zero volatility, no downside).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from tools import risk_metrics as rm

FloatArray = npt.NDArray[np.float64]

TRADING_DAYS = 252.0

# Column order of ``all_metrics``.
ALL_METRICS = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "exposure")


@njit(cache=True)
def total_return(equity: FloatArray) -> float:
    if equity.shape[0] == 0:
        return np.nan
    return float(equity[-1] / equity[0] - 1.0)


@njit(cache=True)
def cagr(equity: FloatArray, periods_per_year: float) -> float:
    """Compound annual growth over ``len(equity) - 1`` periods."""
    if equity.shape[0] < 2:
        return np.nan
    return float(rm.cagr(rm.simple_returns(equity), periods_per_year))


@njit(cache=True)
def max_drawdown(equity: FloatArray) -> float:
    return float(rm.max_drawdown(equity))


@njit(cache=True)
def drawdown_series(equity: FloatArray) -> FloatArray:
    out: FloatArray = rm.drawdown_series(equity)
    return out


@njit(cache=True)
def sharpe(equity: FloatArray, periods_per_year: float) -> float:
    return float(rm.sharpe_ratio(rm.simple_returns(equity), 0.0, periods_per_year))


@njit(cache=True)
def sortino(equity: FloatArray, periods_per_year: float) -> float:
    return float(rm.sortino_ratio(rm.simple_returns(equity), 0.0, periods_per_year))


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


@njit(cache=True)
def all_metrics(equity: FloatArray, exposure: FloatArray, periods_per_year: float) -> FloatArray:
    """Every metric above in one call (one dispatch instead of six): see ``ALL_METRICS``."""
    out = np.empty(6)
    returns = rm.simple_returns(equity)
    out[0] = total_return(equity)
    out[1] = rm.cagr(returns, periods_per_year) if equity.shape[0] >= 2 else np.nan
    out[2] = rm.sharpe_ratio(returns, 0.0, periods_per_year)
    out[3] = rm.sortino_ratio(returns, 0.0, periods_per_year)
    out[4] = rm.max_drawdown(equity)
    out[5] = exposure_time(exposure)
    return out
