"""Directional movement with TA-Lib's arithmetic: PLUS_DI, MINUS_DI, ADX.

Conventions kept from TA-Lib: +DM counts only when the up-move is positive and larger
than the down-move (and −DM symmetrically); DM and TR are summed over the first
``timeperiod − 1`` changes, then smoothed with ``s = s − s/n + x`` (Wilder); DI is
``100 · DM / TR``, 0 where the smoothed TR is exactly 0 (TA-Lib #253: a sum of true
ranges has no cancellation residue, so it is tested exactly, not against TA_IS_ZERO's
fixed 1e-14 — which zeroed DI for tiny quotes and after long flat stretches). ADX
averages the first ``timeperiod`` DX values and then Wilder-smooths
``(adx·(n−1) + dx) / n``; a DX with (+DI + −DI) within 1e-14 of 0 (a ratio, so the fixed
band is scale-free) leaves ADX unchanged. ``timeperiod == 1`` DI is the unsmoothed
``DM / TR`` ratio (not in percent), as in TA-Lib.
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
    new_output,
    next_nan3,
    next_valid3,
)
from tools.indicators._jit import inline_kernel, kernel
from tools.indicators.volatility import true_range_at

# ---------------------------------------------------------------- cores (valid suffix)
# Each core writes ``out[lookback:]`` and returns a probe, NaN exactly when it read a NaN.
# Directional moves are chosen with selects, not branches (their sign is a coin flip);
# adding the 0.0 of the side not taken is exact, so the arithmetic is TA-Lib's.


@inline_kernel
def plus_dm_at(high: FloatArray, low: FloatArray, i: int) -> float:
    diff_p = high[i] - high[i - 1]
    diff_m = low[i - 1] - low[i]
    return diff_p if (diff_p > 0) and (diff_p > diff_m) else 0.0


@inline_kernel
def minus_dm_at(high: FloatArray, low: FloatArray, i: int) -> float:
    diff_p = high[i] - high[i - 1]
    diff_m = low[i - 1] - low[i]
    return diff_m if (diff_m > 0) and (diff_p < diff_m) else 0.0


@kernel
def di_into(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, plus: bool, out: FloatArray
) -> float:
    """TA_PLUS_DI (``plus``) or TA_MINUS_DI; lookback ``period`` (1 when period is 1)."""
    n = high.shape[0]
    probe: float = close[0] if n else 0.0
    if period <= 1:
        for today in range(1, n):
            move = plus_dm_at(high, low, today) if plus else minus_dm_at(high, low, today)
            tr = true_range_at(high, low, close, today)
            out[today] = 0.0 if move == 0.0 or tr <= 0.0 else move / tr
            probe += high[today] + low[today] + close[today]
        return probe
    if n <= period:
        return 0.0
    prev_dm = 0.0
    prev_tr = 0.0
    for today in range(1, period):
        prev_dm += plus_dm_at(high, low, today) if plus else minus_dm_at(high, low, today)
        prev_tr += true_range_at(high, low, close, today)
        probe += close[today]
    for today in range(period, n):
        move = plus_dm_at(high, low, today) if plus else minus_dm_at(high, low, today)
        prev_dm = prev_dm - (prev_dm / period)
        prev_dm += move
        prev_tr = prev_tr - (prev_tr / period) + true_range_at(high, low, close, today)
        out[today] = 100.0 * (prev_dm / prev_tr) if prev_tr > 0.0 else 0.0
        probe += close[today]
    # A NaN high or low stays in prev_tr; a NaN close can hide in a true range.
    return probe + prev_tr


@kernel
def adx_into(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, out: FloatArray
) -> float:
    """TA_ADX: Wilder-smoothed DX; lookback ``2·period − 1``."""
    n = high.shape[0]
    lookback = 2 * period - 1
    if n <= lookback:
        return 0.0
    probe: float = close[0]
    prev_minus_dm = 0.0
    prev_plus_dm = 0.0
    prev_tr = 0.0
    for today in range(1, period):
        prev_minus_dm += minus_dm_at(high, low, today)
        prev_plus_dm += plus_dm_at(high, low, today)
        prev_tr += true_range_at(high, low, close, today)
        probe += close[today]
    sum_dx = 0.0
    for today in range(period, 2 * period):
        prev_minus_dm -= prev_minus_dm / period
        prev_plus_dm -= prev_plus_dm / period
        prev_minus_dm += minus_dm_at(high, low, today)
        prev_plus_dm += plus_dm_at(high, low, today)
        prev_tr = prev_tr - (prev_tr / period) + true_range_at(high, low, close, today)
        probe += close[today]
        if prev_tr > 0.0:
            minus_di = 100.0 * (prev_minus_dm / prev_tr)
            plus_di = 100.0 * (prev_plus_dm / prev_tr)
            total = minus_di + plus_di
            if not is_zero(total):
                sum_dx += 100.0 * (abs(minus_di - plus_di) / total)
    prev_adx = sum_dx / period
    out[lookback] = prev_adx
    for today in range(2 * period, n):
        prev_minus_dm -= prev_minus_dm / period
        prev_plus_dm -= prev_plus_dm / period
        prev_minus_dm += minus_dm_at(high, low, today)
        prev_plus_dm += plus_dm_at(high, low, today)
        prev_tr = prev_tr - (prev_tr / period) + true_range_at(high, low, close, today)
        probe += close[today]
        if prev_tr > 0.0:
            minus_di = 100.0 * (prev_minus_dm / prev_tr)
            plus_di = 100.0 * (prev_plus_dm / prev_tr)
            total = minus_di + plus_di
            if not is_zero(total):
                dx = 100.0 * (abs(minus_di - plus_di) / total)
                prev_adx = ((prev_adx * (period - 1)) + dx) / period
        out[today] = prev_adx
    return probe + prev_tr  # a NaN high or low stays in prev_tr


# ---------------------------------------------------------------- kernels (full series)


@kernel
def directional_kernel(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    timeperiod: int,
    which: int,
    out: FloatArray,
) -> None:
    """PLUS_DI (which=0), MINUS_DI (1) or ADX (2) with the package's NaN rule."""
    n: int = len(high)
    lookback = 2 * timeperiod - 1 if which == 2 else max(timeperiod, 1)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid3(high, low, close, pos)
        end = n if optimistic else next_nan3(high, low, close, begin)
        for attempt in range(2):
            h = high[begin:end]
            lo = low[begin:end]
            c = close[begin:end]
            if which == 2:
                probe = adx_into(h, lo, c, timeperiod, out[begin:end])
            else:
                probe = di_into(h, lo, c, timeperiod, which == 0, out[begin:end])
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False  # a NaN inside: cut the series at it, run by run
            end = next_nan3(high, low, close, begin)
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end


@kernel
def plus_di_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int, out: FloatArray
) -> None:
    directional_kernel(high, low, close, timeperiod, 0, out)


@kernel
def minus_di_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int, out: FloatArray
) -> None:
    directional_kernel(high, low, close, timeperiod, 1, out)


@kernel
def adx_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int, out: FloatArray
) -> None:
    directional_kernel(high, low, close, timeperiod, 2, out)


# ---------------------------------------------------------------- public API


def plus_di(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Plus directional indicator (TA-Lib ``PLUS_DI``); NaN for ``timeperiod`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return new_output(len(h), plus_di_kernel, h, lo, c, check_period("timeperiod", timeperiod, 1))


def minus_di(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Minus directional indicator (TA-Lib ``MINUS_DI``); NaN for ``timeperiod`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return new_output(len(h), minus_di_kernel, h, lo, c, check_period("timeperiod", timeperiod, 1))


def adx(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Average directional index (TA-Lib ``ADX``); NaN for ``2 * timeperiod - 1`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return new_output(len(h), adx_kernel, h, lo, c, check_period("timeperiod", timeperiod, 2))
