"""Risk and performance metrics as Numba kernels on float64 arrays.

Conventions (one place; docs/risk.md repeats them for users):

- **Returns** are per-period simple returns unless a name says ``log``. ``simple_returns``
  and ``log_returns`` of ``n`` prices have ``n - 1`` values (no leading NaN).
- **NaN is not skipped.** A NaN anywhere in the input makes a scalar result NaN and
  propagates through series (a gap in the data is a problem to fix upstream, not to hide).
- **Undefined is NaN, never ±inf**: fewer than 2 observations, a zero denominator
  (constant returns for Sharpe, no downside for Sortino, no drawdown for Calmar, a
  constant benchmark for beta), a confidence outside (0, 1) or ``periods_per_year <= 0``.
- **Equity from returns** starts at 1.0 *before* the first return, so a loss on the first
  period is a drawdown (``equity_curve`` has ``n + 1`` points).
- **Drawdown** is a positive fraction below the running peak: ``(peak - equity) / peak``.
  For returns > -100 % it lies in [0, 1] (1.0 only by rounding of a near-total loss).
- **Volatility** is the sample standard deviation (``ddof=1`` by default) times
  ``sqrt(periods_per_year)`` (252 for daily bars).
- **Risk-free rate** is an *annual* rate, turned into a per-period rate geometrically:
  ``(1 + rf) ** (1 / periods_per_year) - 1``.
- **Sharpe** = mean(excess) / std(excess, ddof=1) * sqrt(periods_per_year).
- **Sortino** = mean(excess) / downside deviation * sqrt(periods_per_year), where the
  downside deviation is ``sqrt(mean(min(excess, 0) ** 2))`` over *all* observations
  (target downside deviation, Sortino & Price 1994; the risk-free rate is the target).
- **CAGR** = prod(1 + r) ** (periods_per_year / n) - 1; **Calmar** = CAGR / max drawdown.
- **VaR / CVaR** are positive *losses* (fractions) at a ``confidence`` such as 0.95.
  Historical VaR = -quantile(returns, 1 - confidence) with linear interpolation (NumPy's
  default); historical CVaR = -mean(returns <= that quantile), so CVaR >= VaR always.
  Parametric (Gaussian, mean and ddof=1 std): VaR = z*sigma - mu,
  CVaR = sigma * pdf(z) / (1 - confidence) - mu, with z = Phi^-1(confidence).
  One-period figures; no square-root-of-time scaling.
- **Beta** = cov(r, b) / var(b); **correlation** is Pearson's. Lengths must match.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

TRADING_DAYS = 252.0


@njit(cache=True)
def _has_nan(values: FloatArray) -> bool:
    for x in values:  # noqa: SIM110  (a loop, not any(): no generator in a kernel)
        if math.isnan(x):
            return True
    return False


@njit(cache=True)
def simple_returns(prices: FloatArray) -> FloatArray:
    """``p[i+1] / p[i] - 1``; ``n - 1`` values."""
    n = prices.shape[0]
    out = np.empty(max(n - 1, 0), dtype=np.float64)
    for i in range(n - 1):
        out[i] = prices[i + 1] / prices[i] - 1.0
    return out


@njit(cache=True)
def log_returns(prices: FloatArray) -> FloatArray:
    """``log(p[i+1] / p[i])``; ``n - 1`` values."""
    n = prices.shape[0]
    out = np.empty(max(n - 1, 0), dtype=np.float64)
    for i in range(n - 1):
        out[i] = math.log(prices[i + 1] / prices[i])
    return out


@njit(cache=True)
def equity_curve(returns: FloatArray, start_value: float = 1.0) -> FloatArray:
    """Compounded equity: ``start_value`` then one point per return (``n + 1`` values)."""
    n = returns.shape[0]
    out = np.empty(n + 1, dtype=np.float64)
    out[0] = start_value
    for i in range(n):
        out[i + 1] = out[i] * (1.0 + returns[i])
    return out


@njit(cache=True)
def drawdown_series(equity: FloatArray) -> FloatArray:
    """``(running peak - equity) / running peak`` per point, >= 0 (NaN propagates)."""
    n = equity.shape[0]
    out = np.empty(n, dtype=np.float64)
    peak = -np.inf
    poisoned = False
    for i in range(n):
        x = equity[i]
        if math.isnan(x):
            poisoned = True
        if poisoned:
            out[i] = np.nan
            continue
        peak = max(peak, x)
        out[i] = (peak - x) / peak if peak > 0.0 else 0.0
    return out


@njit(cache=True)
def max_drawdown(equity: FloatArray) -> float:
    """Largest drawdown of an equity (or price) series; 0.0 for an empty or rising one."""
    if _has_nan(equity):
        return np.nan
    worst = 0.0
    peak = -np.inf
    for x in equity:
        peak = max(peak, x)
        if peak > 0.0:
            worst = max(worst, (peak - x) / peak)
    return worst


@njit(cache=True)
def max_drawdown_from_returns(returns: FloatArray) -> float:
    """Max drawdown of the equity compounded from ``returns``, starting at 1.0."""
    return max_drawdown(equity_curve(returns, 1.0))


@njit(cache=True)
def _per_period_rate(annual_rate: float, periods_per_year: float) -> float:
    return math.pow(1.0 + annual_rate, 1.0 / periods_per_year) - 1.0


@njit(cache=True)
def _mean(values: FloatArray) -> float:
    total = 0.0
    for x in values:
        total += x
    return total / float(values.shape[0])


@njit(cache=True)
def _std(values: FloatArray, ddof: int) -> float:
    """Two-pass standard deviation, shifted by the first value so that a constant series
    gives exactly 0 (an unshifted mean can round and leave a 1e-19 'volatility')."""
    n = values.shape[0]
    if n - ddof <= 0:
        return np.nan
    shift = values[0]
    mu = 0.0
    for x in values:
        mu += x - shift
    mu /= n
    acc = 0.0
    for x in values:
        d = x - shift - mu
        acc += d * d
    return math.sqrt(acc / (n - ddof))


@njit(cache=True)
def annualized_volatility(
    returns: FloatArray, periods_per_year: float = TRADING_DAYS, ddof: int = 1
) -> float:
    """Sample std of returns (``ddof``) times ``sqrt(periods_per_year)``."""
    if returns.shape[0] < 2 or periods_per_year <= 0.0 or _has_nan(returns):
        return np.nan
    return _std(returns, ddof) * math.sqrt(periods_per_year)


@njit(cache=True)
def sharpe_ratio(
    returns: FloatArray, risk_free: float = 0.0, periods_per_year: float = TRADING_DAYS
) -> float:
    """Annualised Sharpe ratio; ``risk_free`` is an annual rate. NaN if returns are constant."""
    if returns.shape[0] < 2 or periods_per_year <= 0.0 or _has_nan(returns):
        return np.nan
    excess = returns - _per_period_rate(risk_free, periods_per_year)
    sd = _std(excess, 1)
    if sd == 0.0:
        return np.nan
    return _mean(excess) / sd * math.sqrt(periods_per_year)


@njit(cache=True)
def downside_deviation(
    returns: FloatArray, risk_free: float = 0.0, periods_per_year: float = TRADING_DAYS
) -> float:
    """Annualised target downside deviation below the per-period risk-free rate."""
    n = returns.shape[0]
    if n < 1 or periods_per_year <= 0.0 or _has_nan(returns):
        return np.nan
    target = _per_period_rate(risk_free, periods_per_year)
    acc = 0.0
    for x in returns:
        d = min(x - target, 0.0)
        acc += d * d
    return math.sqrt(acc / n) * math.sqrt(periods_per_year)


@njit(cache=True)
def sortino_ratio(
    returns: FloatArray, risk_free: float = 0.0, periods_per_year: float = TRADING_DAYS
) -> float:
    """Annualised mean excess return over annualised downside deviation. NaN if no downside."""
    if returns.shape[0] < 2 or periods_per_year <= 0.0 or _has_nan(returns):
        return np.nan
    dd = downside_deviation(returns, risk_free, periods_per_year)
    if dd == 0.0:
        return np.nan
    excess_mean = _mean(returns) - _per_period_rate(risk_free, periods_per_year)
    return excess_mean * periods_per_year / dd


@njit(cache=True)
def cagr(returns: FloatArray, periods_per_year: float = TRADING_DAYS) -> float:
    """Compound annual growth rate of ``returns``."""
    n = returns.shape[0]
    if n < 1 or periods_per_year <= 0.0 or _has_nan(returns):
        return np.nan
    growth = 1.0
    for x in returns:
        growth *= 1.0 + x
    if growth <= 0.0:
        return -1.0
    return math.pow(growth, periods_per_year / n) - 1.0


@njit(cache=True)
def calmar_ratio(returns: FloatArray, periods_per_year: float = TRADING_DAYS) -> float:
    """CAGR over max drawdown (equity from 1.0). NaN if there was no drawdown."""
    if returns.shape[0] < 2 or periods_per_year <= 0.0 or _has_nan(returns):
        return np.nan
    mdd = max_drawdown_from_returns(returns)
    if mdd == 0.0:
        return np.nan
    return cagr(returns, periods_per_year) / mdd


@njit(cache=True)
def _quantile_linear(sorted_values: FloatArray, q: float) -> float:
    """NumPy's default (``method='linear'``) quantile of an ascending array."""
    n = sorted_values.shape[0]
    pos = (n - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac)


@njit(cache=True)
def historical_var(returns: FloatArray, confidence: float = 0.95) -> float:
    """Loss not exceeded with probability ``confidence``, from the empirical distribution."""
    if returns.shape[0] < 1 or not 0.0 < confidence < 1.0 or _has_nan(returns):
        return np.nan
    return -_quantile_linear(np.sort(returns), 1.0 - confidence)


@njit(cache=True)
def historical_cvar(returns: FloatArray, confidence: float = 0.95) -> float:
    """Mean loss over the returns at or below the VaR quantile (expected shortfall)."""
    if returns.shape[0] < 1 or not 0.0 < confidence < 1.0 or _has_nan(returns):
        return np.nan
    ordered = np.sort(returns)
    cutoff = _quantile_linear(ordered, 1.0 - confidence)
    # Sum distances below the cutoff (each <= 0) so CVaR >= VaR holds exactly in floats.
    shortfall = 0.0
    count = 0
    for x in ordered:
        if x > cutoff:
            break
        shortfall += x - cutoff
        count += 1
    return -(cutoff + shortfall / count)


# Acklam's rational approximation of the inverse normal CDF, refined by one Halley step:
# about 1e-15 relative accuracy, no SciPy inside kernels.
_A = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690,
      -30.66479806614716, 2.506628277459239)  # fmt: skip
_B = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
      -13.28068155288572)  # fmt: skip
_C = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
      4.374664141464968, 2.938163982698783)  # fmt: skip
_D = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)


@njit(cache=True)
def _lower_normal_quantile(p: float) -> float:
    """Phi^-1(p) for 0 < p <= 0.5 (the refinement is exact there: no cancellation)."""
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / (
            (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0
        )
    else:
        q = p - 0.5
        r = q * q
        x = (
            (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5])
            * q
            / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0)
        )
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


@njit(cache=True)
def normal_quantile(p: float) -> float:
    """Phi^-1(p) for the standard normal; NaN outside (0, 1). Upper half by symmetry
    (``1 - p`` is exact for p >= 0.5, whereas Phi(x) - p near 1 cancels)."""
    if not 0.0 < p < 1.0:
        return np.nan
    if p > 0.5:
        return -_lower_normal_quantile(1.0 - p)
    return _lower_normal_quantile(p)


@njit(cache=True)
def parametric_var(returns: FloatArray, confidence: float = 0.95) -> float:
    """Gaussian VaR: ``z * sigma - mu`` with sample mean and ddof=1 std."""
    if returns.shape[0] < 2 or not 0.0 < confidence < 1.0 or _has_nan(returns):
        return np.nan
    return normal_quantile(confidence) * _std(returns, 1) - _mean(returns)


@njit(cache=True)
def parametric_cvar(returns: FloatArray, confidence: float = 0.95) -> float:
    """Gaussian expected shortfall: ``sigma * pdf(z) / (1 - confidence) - mu``."""
    if returns.shape[0] < 2 or not 0.0 < confidence < 1.0 or _has_nan(returns):
        return np.nan
    z = normal_quantile(confidence)
    pdf = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return _std(returns, 1) * pdf / (1.0 - confidence) - _mean(returns)


@njit(cache=True)
def _co_moments(a: FloatArray, b: FloatArray) -> tuple[float, float, float]:
    """Sums of centred cross-products (sum ab, sum aa, sum bb), shifted like ``_std``."""
    n = a.shape[0]
    ma = 0.0
    mb = 0.0
    for i in range(n):
        ma += a[i] - a[0]
        mb += b[i] - b[0]
    ma /= n
    mb /= n
    sab = 0.0
    saa = 0.0
    sbb = 0.0
    for i in range(n):
        da = a[i] - a[0] - ma
        db = b[i] - b[0] - mb
        sab += da * db
        saa += da * da
        sbb += db * db
    return sab, saa, sbb


@njit(cache=True)
def beta(returns: FloatArray, benchmark: FloatArray) -> float:
    """Sensitivity of ``returns`` to ``benchmark``: cov / var(benchmark)."""
    n = returns.shape[0]
    if n < 2 or benchmark.shape[0] != n or _has_nan(returns) or _has_nan(benchmark):
        return np.nan
    sab, _saa, sbb = _co_moments(returns, benchmark)
    if sbb == 0.0:
        return np.nan
    return sab / sbb


@njit(cache=True)
def correlation(a: FloatArray, b: FloatArray) -> float:
    """Pearson correlation; NaN if either series is constant."""
    n = a.shape[0]
    if n < 2 or b.shape[0] != n or _has_nan(a) or _has_nan(b):
        return np.nan
    sab, saa, sbb = _co_moments(a, b)
    if saa == 0.0 or sbb == 0.0:
        return np.nan
    return max(-1.0, min(1.0, sab / math.sqrt(saa * sbb)))
