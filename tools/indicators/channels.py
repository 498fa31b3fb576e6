"""Price channels not in TA-Lib: Donchian and Keltner (conventions documented per function).

Donchian is the rolling window max/min (``_extrema``, van Herk; equal to ``talib.MAX(high)`` and
``talib.MIN(low)`` bar for bar); Keltner is built from this
package's ``EMA`` and ``ATR`` kernels, so it inherits their TA-Lib conventions.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tools.indicators._common import (
    FloatArray,
    as_series_group,
    check_period,
    check_real,
    fill_nan,
    new_outputs,
    next_nan2,
    next_nan3,
    next_valid2,
    next_valid3,
)
from tools.indicators._extrema import MODE_DONCHIAN, window_extrema_into
from tools.indicators._jit import fma, kernel
from tools.indicators.moving_averages import ema_into
from tools.indicators.volatility import true_range, wilder_coefficients, wilder_two_steps

# ---------------------------------------------------------------- cores (valid suffix)
# Each core writes ``out[lookback:]`` and returns a probe, NaN exactly when it read a NaN.


@kernel
def donchian_into(
    high: FloatArray,
    low: FloatArray,
    period: int,
    upper: FloatArray,
    middle: FloatArray,
    lower: FloatArray,
) -> float:
    return window_extrema_into(high, low, high, period, MODE_DONCHIAN, upper, lower, middle)


@kernel
def keltner_into(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    period: int,
    atr_period: int,
    multiplier: float,
    upper: FloatArray,
    middle: FloatArray,
    lower: FloatArray,
) -> float:
    n = high.shape[0]
    lookback = max(period - 1, atr_period)
    if n <= lookback:
        return 0.0
    probe = ema_into(close, period, period - 1, False, middle)
    # ATR exactly as ``atr_into`` computes it, with the bands written in the same pass.
    beta, alpha, beta2, ab = wilder_coefficients(atr_period)
    total = 0.0
    for i in range(1, atr_period + 1):
        total += true_range(high[i], low[i], close[i - 1])
    atr = total / atr_period
    if atr_period >= lookback:
        width = multiplier * atr
        upper[atr_period] = middle[atr_period] + width
        lower[atr_period] = middle[atr_period] - width
    # Slice views indexed from 0 (no Numba wraparound code in the hot loop).
    highs = high[atr_period + 1 :]
    lows = low[atr_period + 1 :]
    prev_closes = close[atr_period : n - 1]
    mids = middle[atr_period + 1 :]
    uppers = upper[atr_period + 1 :]
    lowers = lower[atr_period + 1 :]
    count = n - atr_period - 1
    j = 0
    while j + 1 < count:
        tr1 = true_range(highs[j], lows[j], prev_closes[j])
        tr2 = true_range(highs[j + 1], lows[j + 1], prev_closes[j + 1])
        first, atr = wilder_two_steps(atr, tr1, tr2, beta, alpha, beta2, ab)
        width = multiplier * first
        uppers[j] = mids[j] + width
        lowers[j] = mids[j] - width
        width = multiplier * atr
        uppers[j + 1] = mids[j + 1] + width
        lowers[j + 1] = mids[j + 1] - width
        j += 2
    if j < count:
        atr = fma(beta, atr, alpha * true_range(highs[j], lows[j], prev_closes[j]))
        width = multiplier * atr
        uppers[j] = mids[j] + width
        lowers[j] = mids[j] - width
    # The EMA's probe covers every close; a NaN high or low stays in the ATR.
    return probe + atr


# ---------------------------------------------------------------- kernels (full series)


@kernel
def donchian_kernel(
    high: FloatArray,
    low: FloatArray,
    timeperiod: int,
    upper: FloatArray,
    middle: FloatArray,
    lower: FloatArray,
) -> None:
    n: int = len(high)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid2(high, low, pos)
        end = n if optimistic else next_nan2(high, low, begin)
        for attempt in range(2):
            probe = donchian_into(
                high[begin:end],
                low[begin:end],
                timeperiod,
                upper[begin:end],
                middle[begin:end],
                lower[begin:end],
            )
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False  # a NaN inside: cut the series at it, run by run
            end = next_nan2(high, low, begin)
        stop = min(begin + timeperiod - 1, end)
        fill_nan(upper, pos, stop)
        fill_nan(middle, pos, stop)
        fill_nan(lower, pos, stop)
        pos = end


@kernel
def keltner_kernel(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    timeperiod: int,
    atr_period: int,
    multiplier: float,
    upper: FloatArray,
    middle: FloatArray,
    lower: FloatArray,
) -> None:
    n: int = len(high)
    lookback = max(timeperiod - 1, atr_period)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid3(high, low, close, pos)
        end = n if optimistic else next_nan3(high, low, close, begin)
        for attempt in range(2):
            probe = keltner_into(
                high[begin:end],
                low[begin:end],
                close[begin:end],
                timeperiod,
                atr_period,
                multiplier,
                upper[begin:end],
                middle[begin:end],
                lower[begin:end],
            )
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False
            end = next_nan3(high, low, close, begin)
        # After the core: its EMA/ATR warm-ups wrote values the bands do not report yet.
        stop = min(begin + lookback, end)
        fill_nan(upper, pos, stop)
        fill_nan(middle, pos, stop)
        fill_nan(lower, pos, stop)
        pos = end


# ---------------------------------------------------------------- public API


def donchian(
    high: npt.ArrayLike, low: npt.ArrayLike, timeperiod: int = 20
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Donchian channel -> (upper, middle, lower).

    upper = highest ``high`` and lower = lowest ``low`` of the last ``timeperiod`` bars
    *including the current bar* (as ``talib.MAX`` / ``talib.MIN``; shift by one bar for a
    breakout rule that compares today's close with the prior channel), middle =
    (upper + lower) / 2. NaN for the first ``timeperiod - 1`` bars.
    """
    h, lo = as_series_group(high=high, low=low)
    upper, middle, lower = new_outputs(len(h), 3)
    donchian_kernel(h, lo, check_period("timeperiod", timeperiod, 1), upper, middle, lower)
    return upper, middle, lower


def keltner(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    timeperiod: int = 20,
    atr_period: int = 10,
    multiplier: float = 2.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Keltner channel -> (upper, middle, lower).

    middle = ``ema(close, timeperiod)`` (TA-Lib EMA, SMA-seeded), upper/lower = middle ±
    ``multiplier`` · ``atr(high, low, close, atr_period)`` (TA-Lib ATR, Wilder). NaN for the
    first ``max(timeperiod - 1, atr_period)`` bars, so all three bands start together.
    """
    h, lo, c = as_series_group(high=high, low=low, close=close)
    upper, middle, lower = new_outputs(len(h), 3)
    keltner_kernel(
        h,
        lo,
        c,
        check_period("timeperiod", timeperiod, 1),
        check_period("atr_period", atr_period, 1),
        check_real("multiplier", multiplier),
        upper,
        middle,
        lower,
    )
    return upper, middle, lower
