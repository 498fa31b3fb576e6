"""Volatility indicators with TA-Lib's arithmetic: TRANGE, ATR, NATR, BBANDS.

Conventions kept from TA-Lib:

- TRANGE starts at the second bar (it needs the previous close).
- ATR is seeded with the SMA of the first ``timeperiod`` true ranges (bars 1..timeperiod)
  and then smoothed with Wilder's rule ``atr = (atr·(n−1) + tr) / n``; ``timeperiod == 1``
  returns TRANGE. NATR is ``100 · ATR / close`` (0 where the close is zero).
- BBANDS' middle band is the ``matype`` MA; the deviation is the population standard
  deviation over the same window (computed around the SMA itself when ``matype`` is SMA,
  as TA-Lib does), clamped to 0 when the variance is below 1e-14.
"""

from __future__ import annotations

import math

import numpy.typing as npt

from tools.indicators._common import (
    MA_SMA,
    TA_EPSILON,
    FloatArray,
    as_series,
    as_series_group,
    check_matype,
    check_period,
    check_real,
    first_valid1,
    first_valid3,
    is_zero,
    nan_output,
)
from tools.indicators._jit import kernel
from tools.indicators.moving_averages import ma_into, ma_lookback

# ---------------------------------------------------------------- cores (valid suffix)


@kernel
def true_range_at(high: FloatArray, low: FloatArray, close: FloatArray, i: int) -> float:
    """TA-Lib's TRUE_RANGE for bar ``i`` (needs ``i >= 1``)."""
    high_i = high[i]
    low_i = low[i]
    prev_close = close[i - 1]
    greatest: float = high_i - low_i
    # Explicit comparisons, not max(): a NaN must lose exactly as in TA-Lib's C code.
    up = abs(prev_close - high_i)
    greatest = up if up > greatest else greatest
    down = abs(prev_close - low_i)
    return down if down > greatest else greatest


@kernel
def trange_into(high: FloatArray, low: FloatArray, close: FloatArray, out: FloatArray) -> None:
    for i in range(1, high.shape[0]):
        out[i] = true_range_at(high, low, close, i)


@kernel
def atr_into(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, out: FloatArray
) -> None:
    """TA_ATR: SMA-seeded Wilder smoothing of the true range; lookback ``period``."""
    n = high.shape[0]
    if period <= 1:
        trange_into(high, low, close, out)
        return
    if n <= period:
        return
    total = 0.0
    for i in range(1, period + 1):
        total += true_range_at(high, low, close, i)
    prev_atr = total / period
    out[period] = prev_atr
    for i in range(period + 1, n):
        prev_atr *= period - 1
        prev_atr += true_range_at(high, low, close, i)
        prev_atr /= period
        out[i] = prev_atr


@kernel
def natr_into(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, out: FloatArray
) -> None:
    """TA_NATR: ATR as a percentage of the close (0 where the close is zero)."""
    n = high.shape[0]
    if n <= period:
        return
    atr_into(high, low, close, period, out)
    for i in range(period, n):
        value = close[i]
        out[i] = 0.0 if is_zero(value) else (out[i] / value) * 100.0


@kernel
def bbands_into(
    x: FloatArray,
    period: int,
    nbdevup: float,
    nbdevdn: float,
    matype: int,
    upper: FloatArray,
    middle: FloatArray,
    lower: FloatArray,
) -> None:
    """TA_BBANDS: MA middle band ± nbdev · population standard deviation."""
    n = x.shape[0]
    lookback = ma_lookback(period, matype)
    if n <= lookback:
        return
    ma_into(x, period, matype, middle)
    if matype == MA_SMA:
        # TA_INT_stddev_using_precalc_ma: variance around the SMA already computed.
        total2 = 0.0
        for i in range(lookback - period + 1, lookback):
            total2 += x[i] * x[i]
        trailing = lookback - period + 1
        for i in range(lookback, n):
            value = x[i]
            total2 += value * value
            mean2 = total2 / period
            value = x[trailing]
            total2 -= value * value
            trailing += 1
            value = middle[i]
            mean2 -= value * value
            upper[i] = math.sqrt(mean2) if not mean2 < TA_EPSILON else 0.0
    else:
        # TA_STDDEV (TA_INT_VAR) over the same window, from the MA's first output.
        total1 = 0.0
        total2 = 0.0
        trailing = lookback - period + 1
        for i in range(trailing, lookback):
            value = x[i]
            total1 += value
            total2 += value * value
        for i in range(lookback, n):
            value = x[i]
            total1 += value
            total2 += value * value
            mean1 = total1 / period
            mean2 = total2 / period
            value = x[trailing]
            total1 -= value
            total2 -= value * value
            trailing += 1
            variance = mean2 - mean1 * mean1
            upper[i] = math.sqrt(variance) if not variance < TA_EPSILON else 0.0
    for i in range(lookback, n):
        deviation = upper[i]
        mid = middle[i]
        upper[i] = mid + deviation * nbdevup
        lower[i] = mid - deviation * nbdevdn


# ---------------------------------------------------------------- kernels (full series)


@kernel
def trange_kernel(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    begin = first_valid3(high, low, close)
    out = nan_output(high.shape[0], begin + 1)
    trange_into(high[begin:], low[begin:], close[begin:], out[begin:])
    return out


@kernel
def atr_kernel(high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int) -> FloatArray:
    begin = first_valid3(high, low, close)
    out = nan_output(high.shape[0], begin + max(timeperiod, 1))
    atr_into(high[begin:], low[begin:], close[begin:], timeperiod, out[begin:])
    return out


@kernel
def natr_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int
) -> FloatArray:
    begin = first_valid3(high, low, close)
    out = nan_output(high.shape[0], begin + max(timeperiod, 1))
    natr_into(high[begin:], low[begin:], close[begin:], timeperiod, out[begin:])
    return out


@kernel
def bbands_kernel(
    real: FloatArray, timeperiod: int, nbdevup: float, nbdevdn: float, matype: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    begin = first_valid1(real)
    n_nan = begin + ma_lookback(timeperiod, matype)
    n = real.shape[0]
    upper = nan_output(n, n_nan)
    middle = nan_output(n, n_nan)
    lower = nan_output(n, n_nan)
    bbands_into(
        real[begin:],
        timeperiod,
        nbdevup,
        nbdevdn,
        matype,
        upper[begin:],
        middle[begin:],
        lower[begin:],
    )
    return upper, middle, lower


# ---------------------------------------------------------------- public API


def trange(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """True range (TA-Lib ``TRANGE``); NaN for the first bar."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return trange_kernel(h, lo, c)


def atr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Average true range (TA-Lib ``ATR``, Wilder smoothing); NaN for ``timeperiod`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return atr_kernel(h, lo, c, check_period("timeperiod", timeperiod, 1))


def natr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Normalised ATR, percent of close (TA-Lib ``NATR``)."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return natr_kernel(h, lo, c, check_period("timeperiod", timeperiod, 1))


def bbands(
    real: npt.ArrayLike,
    timeperiod: int = 5,
    nbdevup: float = 2.0,
    nbdevdn: float = 2.0,
    matype: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger bands (TA-Lib ``BBANDS``) -> (upperband, middleband, lowerband).

    ``matype``: 0=SMA, 1=EMA, 2=WMA, 3=DEMA, 4=TEMA, 6=KAMA; others raise ``ValueError``.
    """
    return bbands_kernel(
        as_series(real, "real"),
        check_period("timeperiod", timeperiod, 2),
        check_real("nbdevup", nbdevup),
        check_real("nbdevdn", nbdevdn),
        check_matype("matype", matype),
    )
