"""Directional movement with TA-Lib's arithmetic: PLUS_DI, MINUS_DI, ADX.

Conventions kept from TA-Lib: +DM counts only when the up-move is positive and larger
than the down-move (and −DM symmetrically); DM and TR are summed over the first
``timeperiod − 1`` changes, then smoothed with ``s = s − s/n + x`` (Wilder); DI is
``100 · DM / TR`` (0 where TR ≈ 0). ADX averages the first ``timeperiod`` DX values and
then Wilder-smooths ``(adx·(n−1) + dx) / n``; a DX with (+DI + −DI) ≈ 0 leaves ADX
unchanged. ``timeperiod == 1`` DI is the unsmoothed ``DM / TR`` ratio (not in percent),
as in TA-Lib.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tools.indicators._common import (
    FloatArray,
    as_series_group,
    check_period,
    fill_nan,
    is_zero,
    segment3,
)
from tools.indicators._jit import kernel
from tools.indicators.volatility import true_range_at

# ---------------------------------------------------------------- cores (valid suffix)


@kernel
def di_into(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, plus: bool, out: FloatArray
) -> None:
    """TA_PLUS_DI (``plus``) or TA_MINUS_DI; lookback ``period`` (1 when period is 1)."""
    n = high.shape[0]
    if period <= 1:
        for today in range(1, n):
            diff_p = high[today] - high[today - 1]
            diff_m = low[today - 1] - low[today]
            if plus:
                move = diff_p if (diff_p > 0) and (diff_p > diff_m) else 0.0
            else:
                move = diff_m if (diff_m > 0) and (diff_p < diff_m) else 0.0
            if move == 0.0:
                out[today] = 0.0
            else:
                tr = true_range_at(high, low, close, today)
                out[today] = 0.0 if is_zero(tr) else move / tr
        return
    if n <= period:
        return
    prev_dm = 0.0
    prev_tr = 0.0
    for today in range(1, period):
        diff_p = high[today] - high[today - 1]
        diff_m = low[today - 1] - low[today]
        if plus:
            if (diff_p > 0) and (diff_p > diff_m):
                prev_dm += diff_p
        elif (diff_m > 0) and (diff_p < diff_m):
            prev_dm += diff_m
        prev_tr += true_range_at(high, low, close, today)
    for today in range(period, n):
        diff_p = high[today] - high[today - 1]
        diff_m = low[today - 1] - low[today]
        prev_dm = prev_dm - (prev_dm / period)
        if plus:
            if (diff_p > 0) and (diff_p > diff_m):
                prev_dm += diff_p
        elif (diff_m > 0) and (diff_p < diff_m):
            prev_dm += diff_m
        prev_tr = prev_tr - (prev_tr / period) + true_range_at(high, low, close, today)
        out[today] = 0.0 if is_zero(prev_tr) else 100.0 * (prev_dm / prev_tr)


@kernel
def adx_into(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, out: FloatArray
) -> None:
    """TA_ADX: Wilder-smoothed DX; lookback ``2·period − 1``."""
    n = high.shape[0]
    lookback = 2 * period - 1
    if n <= lookback:
        return
    prev_minus_dm = 0.0
    prev_plus_dm = 0.0
    prev_tr = 0.0
    today = 0
    for _ in range(period - 1):
        today += 1
        diff_p = high[today] - high[today - 1]
        diff_m = low[today - 1] - low[today]
        if (diff_m > 0) and (diff_p < diff_m):
            prev_minus_dm += diff_m
        elif (diff_p > 0) and (diff_p > diff_m):
            prev_plus_dm += diff_p
        prev_tr += true_range_at(high, low, close, today)
    sum_dx = 0.0
    for _ in range(period):
        today += 1
        diff_p = high[today] - high[today - 1]
        diff_m = low[today - 1] - low[today]
        prev_minus_dm -= prev_minus_dm / period
        prev_plus_dm -= prev_plus_dm / period
        if (diff_m > 0) and (diff_p < diff_m):
            prev_minus_dm += diff_m
        elif (diff_p > 0) and (diff_p > diff_m):
            prev_plus_dm += diff_p
        prev_tr = prev_tr - (prev_tr / period) + true_range_at(high, low, close, today)
        if not is_zero(prev_tr):
            minus_di = 100.0 * (prev_minus_dm / prev_tr)
            plus_di = 100.0 * (prev_plus_dm / prev_tr)
            total = minus_di + plus_di
            if not is_zero(total):
                sum_dx += 100.0 * (abs(minus_di - plus_di) / total)
    prev_adx = sum_dx / period
    out[today] = prev_adx
    while today < n - 1:
        today += 1
        diff_p = high[today] - high[today - 1]
        diff_m = low[today - 1] - low[today]
        prev_minus_dm -= prev_minus_dm / period
        prev_plus_dm -= prev_plus_dm / period
        if (diff_m > 0) and (diff_p < diff_m):
            prev_minus_dm += diff_m
        elif (diff_p > 0) and (diff_p > diff_m):
            prev_plus_dm += diff_p
        prev_tr = prev_tr - (prev_tr / period) + true_range_at(high, low, close, today)
        if not is_zero(prev_tr):
            minus_di = 100.0 * (prev_minus_dm / prev_tr)
            plus_di = 100.0 * (prev_plus_dm / prev_tr)
            total = minus_di + plus_di
            if not is_zero(total):
                dx = 100.0 * (abs(minus_di - plus_di) / total)
                prev_adx = ((prev_adx * (period - 1)) + dx) / period
        out[today] = prev_adx


# ---------------------------------------------------------------- kernels (full series)


@kernel
def di_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int, plus: bool
) -> FloatArray:
    n: int = len(high)
    out = np.empty(n, dtype=np.float64)
    lookback = max(timeperiod, 1)
    pos = 0
    while pos < n:
        begin, end = segment3(high, low, close, pos)
        di_into(high[begin:end], low[begin:end], close[begin:end], timeperiod, plus, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end
    return out


@kernel
def plus_di_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int
) -> FloatArray:
    return di_kernel(high, low, close, timeperiod, True)


@kernel
def minus_di_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int
) -> FloatArray:
    return di_kernel(high, low, close, timeperiod, False)


@kernel
def adx_kernel(high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(high)
    out = np.empty(n, dtype=np.float64)
    lookback = 2 * timeperiod - 1
    pos = 0
    while pos < n:
        begin, end = segment3(high, low, close, pos)
        adx_into(high[begin:end], low[begin:end], close[begin:end], timeperiod, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end
    return out


# ---------------------------------------------------------------- public API


def plus_di(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Plus directional indicator (TA-Lib ``PLUS_DI``); NaN for ``timeperiod`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return plus_di_kernel(h, lo, c, check_period("timeperiod", timeperiod, 1))


def minus_di(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Minus directional indicator (TA-Lib ``MINUS_DI``); NaN for ``timeperiod`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return minus_di_kernel(h, lo, c, check_period("timeperiod", timeperiod, 1))


def adx(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Average directional index (TA-Lib ``ADX``); NaN for ``2 * timeperiod - 1`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return adx_kernel(h, lo, c, check_period("timeperiod", timeperiod, 2))
