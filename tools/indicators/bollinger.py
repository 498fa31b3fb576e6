"""Bollinger bands with TA-Lib's arithmetic (BBANDS).

The middle band is the ``matype`` MA; the deviation is TA-Lib's population standard
deviation of the same window, from its cancellation-free shifted-sum variance (TA_VAR),
so huge prices with tiny moves keep their digits. The SMA middle band is bit-identical to
TA-Lib's fused SMA path.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tools.indicators._common import (
    FloatArray,
    as_series,
    check_matype,
    check_period,
    check_real,
    fill_nan,
    new_outputs,
    next_nan1,
    next_valid1,
)
from tools.indicators._jit import kernel
from tools.indicators.moving_averages import ma_into, ma_lookback

# ---------------------------------------------------------------- cores (valid suffix)


@kernel
def stddev_bands_into(
    x: FloatArray,
    period: int,
    start: int,
    nbdevup: float,
    nbdevdn: float,
    middle: FloatArray,
    upper: FloatArray,
    lower: FloatArray,
) -> None:
    """Bands around ``middle`` from bar ``start``: middle ± nbdev · TA_STDDEV.

    TA_VAR is TA-Lib's cancellation-free population variance:

    Running sums of deviations from a shift near the window, rebuilt with a two-pass
    sum when the variance collapses below 1e-6 of the peak mean square (or every
    32·period bars), re-anchored on a flat window, floored at 1e-12 of the mean square.
    The bands are written in the same pass (one sweep over memory instead of two).
    """
    n = x.shape[0]
    lookback = period - 1
    start = max(start, lookback)
    if start >= n:
        return
    inv_period = 1.0 / period
    trailing = start - lookback
    shift = x[trailing]
    total1 = 0.0
    total2 = 0.0
    for j in range(trailing, start):
        dev = x[j] - shift
        total1 += dev
        dev *= dev
        total2 += dev
    bars_since_reseed = 32 * period
    peak2 = total2
    incoming = x[start:]
    outgoing = x[start - lookback :]
    for j in range(n - start):
        i = start + j
        dev = incoming[j] - shift
        total1 += dev
        dev *= dev
        total2 += dev
        peak2 = total2 if total2 > peak2 else peak2
        mean1 = total1 * inv_period
        variance = total2 * inv_period - mean1 * mean1
        dev = outgoing[j] - shift
        total1 -= dev
        dev *= dev
        total2 -= dev
        bars_since_reseed -= 1
        if variance < 0.000001 * (peak2 * inv_period) or bars_since_reseed <= 0:
            bars_since_reseed = 32 * period
            window_start = i - lookback
            acc = 0.0
            for k in range(window_start, i + 1):
                acc += x[k]
            shift = acc * inv_period
            total1 = 0.0
            total2 = 0.0
            for k in range(window_start, i + 1):
                dev = x[k] - shift
                total1 += dev
                dev *= dev
                total2 += dev
            mean1 = total1 * inv_period
            variance = total2 * inv_period - mean1 * mean1
            if variance < 0.000001 * (total2 * inv_period):
                shift = x[i]
                total1 = 0.0
                total2 = 0.0
                for k in range(window_start, i + 1):
                    dev = x[k] - shift
                    total1 += dev
                    dev *= dev
                    total2 += dev
                mean1 = total1 * inv_period
                variance = total2 * inv_period - mean1 * mean1
            peak2 = total2
            if variance < 0.000000000001 * (total2 * inv_period):
                variance = 0.0
            dev = x[window_start] - shift
            total1 -= dev
            dev *= dev
            total2 -= dev
        deviation = math.sqrt(variance)
        mid = middle[i]
        upper[i] = mid + deviation * nbdevup
        lower[i] = mid - deviation * nbdevdn


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
) -> float:
    """TA_BBANDS: MA middle band ± nbdev · population standard deviation (TA_STDDEV)."""
    n = x.shape[0]
    lookback = max(ma_lookback(period, matype), period - 1)
    if n <= lookback:
        return 0.0
    probe = ma_into(x, period, matype, False, middle)
    stddev_bands_into(x, period, lookback, nbdevup, nbdevdn, middle, upper, lower)
    return probe


# ---------------------------------------------------------------- kernels (full series)


@kernel
def bbands_kernel(
    real: FloatArray,
    timeperiod: int,
    nbdevup: float,
    nbdevdn: float,
    matype: int,
    upper: FloatArray,
    middle: FloatArray,
    lower: FloatArray,
) -> None:
    n: int = len(real)
    lookback = max(ma_lookback(timeperiod, matype), timeperiod - 1)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid1(real, pos)
        end = n if optimistic else next_nan1(real, begin)
        for attempt in range(2):
            probe = bbands_into(
                real[begin:end],
                timeperiod,
                nbdevup,
                nbdevdn,
                matype,
                upper[begin:end],
                middle[begin:end],
                lower[begin:end],
            )
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False
            end = next_nan1(real, begin)
        stop = min(begin + lookback, end)
        fill_nan(upper, pos, stop)
        fill_nan(middle, pos, stop)
        fill_nan(lower, pos, stop)
        pos = end


# ---------------------------------------------------------------- public API


def bbands(
    real: npt.ArrayLike,
    timeperiod: int = 20,
    nbdevup: float = 2.0,
    nbdevdn: float = 2.0,
    matype: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger bands (TA-Lib ``BBANDS``) -> (upperband, middleband, lowerband).

    ``timeperiod`` defaults to 20 as in the TA-Lib this is tested against (0.6+ C library;
    older releases defaulted to 5).

    ``matype``: 0=SMA, 1=EMA, 2=WMA, 3=DEMA, 4=TEMA, 6=KAMA; others raise ``ValueError``.
    """
    series = as_series(real, "real")
    upper, middle, lower = new_outputs(len(series), 3)
    bbands_kernel(
        series,
        check_period("timeperiod", timeperiod, 2),
        check_real("nbdevup", nbdevup),
        check_real("nbdevdn", nbdevdn),
        check_matype("matype", matype),
        upper,
        middle,
        lower,
    )
    return upper, middle, lower
