"""Moving averages with TA-Lib's arithmetic: SMA, EMA, WMA, DEMA, TEMA, KAMA and the MA switch.

Each ``*_into`` core runs TA-Lib's C loop on a series that starts at its first usable bar
(leading NaNs already skipped) and writes the output from the lookback on; the
``*_kernel`` functions add TA-Lib's leading-NaN rule, and the public functions validate
their arguments in Python and call the kernel. Conventions kept from TA-Lib:

- EMA is seeded with the SMA of its first ``timeperiod`` values, ``k = 2 / (timeperiod + 1)``.
- DEMA = 2·EMA − EMA(EMA); TEMA = 3·EMA − 3·EMA(EMA) + EMA(EMA(EMA)), each inner EMA
  seeded on the previous one's first valid value.
- KAMA uses the fixed fast/slow constants 2/(2+1) and 2/(30+1) of TA-Lib.
- Period 1: SMA, EMA, WMA and KAMA return the input unchanged (no warm-up), as TA-Lib.
- The MA switch (``matype``) copies the input unchanged when ``timeperiod == 1``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tools.indicators._common import (
    MA_DEMA,
    MA_EMA,
    MA_KAMA,
    MA_SMA,
    MA_TEMA,
    MA_WMA,
    FloatArray,
    as_series,
    check_period,
    fill_nan,
    segment1,
)
from tools.indicators._jit import kernel

# ---------------------------------------------------------------- cores (valid suffix)


@kernel
def sma_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """TA_INT_SMA: running sum; ``out[period-1:]`` gets the window means."""
    n = x.shape[0]
    if n < period:
        return
    total = 0.0
    for i in range(period - 1):
        total += x[i]
    for i in range(period - 1, n):
        total += x[i]
        value = total
        total -= x[i - period + 1]
        out[i] = value / period


@kernel
def ema_into(x: FloatArray, period: int, k: float, start: int, out: FloatArray) -> None:
    """TA_INT_EMA from bar ``start`` (>= period-1): seed = SMA of the window ending there."""
    n = x.shape[0]
    start = max(start, period - 1)
    if start >= n:
        return
    total = 0.0
    for i in range(start - period + 1, start + 1):
        total += x[i]
    prev = total / period
    out[start] = prev
    for i in range(start + 1, n):
        prev = ((x[i] - prev) * k) + prev
        out[i] = prev


@kernel
def wma_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """TA_INT_WMA: weights 1..period, updated in O(1) per bar."""
    n = x.shape[0]
    if n < period:
        return
    if period == 1:
        for i in range(n):
            out[i] = x[i]
        return
    divider = (period * (period + 1)) >> 1
    period_sub = 0.0
    period_sum = 0.0
    weight = 1
    for i in range(period - 1):
        value = x[i]
        period_sub += value
        period_sum += value * weight
        weight += 1
    trailing_value = 0.0
    for i in range(period - 1, n):
        value = x[i]
        period_sub += value
        period_sub -= trailing_value
        period_sum += value * period
        trailing_value = x[i - period + 1]
        out[i] = period_sum / divider
        period_sum -= period_sub


@kernel
def dema_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """TA_DEMA: 2·EMA − EMA(EMA); lookback 2·(period−1)."""
    n = x.shape[0]
    lookback = period - 1
    if n <= 2 * lookback:
        return
    k = 2.0 / (period + 1)
    first = np.empty(n, dtype=np.float64)
    ema_into(x, period, k, lookback, first)
    second = np.empty(n - lookback, dtype=np.float64)
    ema_into(first[lookback:], period, k, lookback, second)
    for i in range(2 * lookback, n):
        out[i] = (2.0 * first[i]) - second[i - lookback]


@kernel
def tema_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """TA_TEMA: 3·EMA − 3·EMA(EMA) + EMA(EMA(EMA)); lookback 3·(period−1)."""
    n = x.shape[0]
    lookback = period - 1
    if n <= 3 * lookback:
        return
    k = 2.0 / (period + 1)
    first = np.empty(n, dtype=np.float64)
    ema_into(x, period, k, lookback, first)
    second = np.empty(n - lookback, dtype=np.float64)
    ema_into(first[lookback:], period, k, lookback, second)
    third = np.empty(n - 2 * lookback, dtype=np.float64)
    ema_into(second[lookback:], period, k, lookback, third)
    for i in range(3 * lookback, n):
        e1 = first[i]
        e2 = second[i - lookback]
        e3 = third[i - 2 * lookback]
        out[i] = e3 + ((3.0 * e1) - (3.0 * e2))


@kernel
def kama_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """TA_KAMA: efficiency ratio scaled between TA-Lib's fixed fast (2) and slow (30) EMAs."""
    n = x.shape[0]
    if period == 1:  # TA-Lib's KAMA(1) returns its input unchanged
        for i in range(n):
            out[i] = x[i]
        return
    if n <= period:
        return
    const_max = 2.0 / (30.0 + 1.0)
    const_diff = 2.0 / (2.0 + 1.0) - const_max
    sum_roc1 = 0.0
    # Consecutive zero changes: a whole window of them means the (add-then-subtract)
    # sum is exactly 0, so TA-Lib drops its rounding residue.
    null_run = 0
    for today in range(period):
        diff = x[today] - x[today + 1]
        sum_roc1 += abs(diff)
        null_run = null_run + 1 if diff == 0.0 else 0
    today = period
    prev_kama = x[today - 1]
    trailing_value = x[0]
    period_roc = x[today] - trailing_value
    ratio = 1.0 if sum_roc1 <= period_roc else abs(period_roc / sum_roc1)
    ratio = (ratio * const_diff) + const_max
    ratio *= ratio
    prev_kama = ((x[today] - prev_kama) * ratio) + prev_kama
    out[today] = prev_kama
    for today in range(period + 1, n):
        value = x[today]
        value2 = x[today - period]
        period_roc = value - value2
        sum_roc1 -= abs(trailing_value - value2)
        sum_roc1 += abs(value - x[today - 1])
        null_run = null_run + 1 if value - x[today - 1] == 0.0 else 0
        if null_run >= period:
            null_run = period
            sum_roc1 = 0.0
        trailing_value = value2
        ratio = 1.0 if sum_roc1 <= period_roc else abs(period_roc / sum_roc1)
        ratio = (ratio * const_diff) + const_max
        ratio *= ratio
        prev_kama = ((x[today] - prev_kama) * ratio) + prev_kama
        out[today] = prev_kama


@kernel
def ma_lookback(period: int, matype: int) -> int:
    """TA_MA_Lookback for the MA types implemented here."""
    if period <= 1:
        return 0
    if matype == MA_DEMA:
        return 2 * (period - 1)
    if matype == MA_TEMA:
        return 3 * (period - 1)
    if matype == MA_KAMA:
        return period
    return period - 1


@kernel
def ma_into(x: FloatArray, period: int, matype: int, out: FloatArray) -> None:
    """TA_MA: dispatch on ``matype``; ``period == 1`` copies the input as TA-Lib does."""
    if period == 1:
        for i in range(x.shape[0]):
            out[i] = x[i]
    elif matype == MA_SMA:
        sma_into(x, period, out)
    elif matype == MA_EMA:
        ema_into(x, period, 2.0 / (period + 1), period - 1, out)
    elif matype == MA_WMA:
        wma_into(x, period, out)
    elif matype == MA_DEMA:
        dema_into(x, period, out)
    elif matype == MA_TEMA:
        tema_into(x, period, out)
    elif matype == MA_KAMA:
        kama_into(x, period, out)
    else:
        raise ValueError("unsupported matype")


# ---------------------------------------------------------------- kernels (full series)


@kernel
def sma_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    lookback = timeperiod - 1
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        sma_into(real[begin:end], timeperiod, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end
    return out


@kernel
def wma_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    lookback = timeperiod - 1
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        wma_into(real[begin:end], timeperiod, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end
    return out


@kernel
def dema_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    lookback = 2 * (timeperiod - 1)
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        dema_into(real[begin:end], timeperiod, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end
    return out


@kernel
def tema_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    lookback = 3 * (timeperiod - 1)
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        tema_into(real[begin:end], timeperiod, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end
    return out


@kernel
def kama_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    lookback = timeperiod if timeperiod > 1 else 0
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        kama_into(real[begin:end], timeperiod, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end
    return out


@kernel
def ema_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    lookback = timeperiod - 1
    k = 2.0 / (timeperiod + 1)
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        if timeperiod == 1:  # TA-Lib's EMA(1) returns its input unchanged
            out[begin:end] = real[begin:end]
        else:
            ema_into(real[begin:end], timeperiod, k, lookback, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end
    return out


@kernel
def ma_kernel(real: FloatArray, timeperiod: int, matype: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    lookback = ma_lookback(timeperiod, matype)
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        ma_into(real[begin:end], timeperiod, matype, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end
    return out


# ---------------------------------------------------------------- public API


def sma(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Simple moving average (TA-Lib ``SMA``); NaN for the first ``timeperiod - 1`` bars."""
    return sma_kernel(as_series(real, "real"), check_period("timeperiod", timeperiod, 1))


def ema(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Exponential moving average (TA-Lib ``EMA``), seeded with the SMA of the first window."""
    return ema_kernel(as_series(real, "real"), check_period("timeperiod", timeperiod, 1))


def wma(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Linearly weighted moving average (TA-Lib ``WMA``)."""
    return wma_kernel(as_series(real, "real"), check_period("timeperiod", timeperiod, 1))


def dema(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Double EMA (TA-Lib ``DEMA``); NaN for the first ``2 * (timeperiod - 1)`` bars."""
    return dema_kernel(as_series(real, "real"), check_period("timeperiod", timeperiod, 1))


def tema(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Triple EMA (TA-Lib ``TEMA``); NaN for the first ``3 * (timeperiod - 1)`` bars."""
    return tema_kernel(as_series(real, "real"), check_period("timeperiod", timeperiod, 1))


def kama(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Kaufman adaptive moving average (TA-Lib ``KAMA``); NaN for the first ``timeperiod`` bars."""
    return kama_kernel(as_series(real, "real"), check_period("timeperiod", timeperiod, 1))
