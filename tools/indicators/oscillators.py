"""Range oscillators with TA-Lib's arithmetic: STOCH, WILLR, CCI.

Conventions kept from TA-Lib:

- STOCH: fast %K = (close − lowest low) / (highest high − lowest low) · 100 over
  ``fastk_period`` bars, 0 on a flat window (range within 1e-14 of the price level);
  slow %K = MA(fast %K, ``slowk_period``,
  ``slowk_matype``); slow %D = MA(slow %K, ``slowd_period``, ``slowd_matype``).
- WILLR: (highest high − close) / (highest high − lowest low) · −100, clamped to
  [−100, 0], 0 on a flat window.
- CCI: typical price tp = (h + l + c) / 3; (tp − mean) / (0.015 · mean |tp − mean|),
  0 when the numerator or the mean deviation is within 1e-14 of |mean| (a flat window).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tools.indicators._common import (
    MA_KAMA,
    FloatArray,
    as_series_group,
    check_matype,
    check_period,
    fill_nan,
    is_zero_scaled,
    new_output,
    new_outputs,
    next_nan3,
    next_valid3,
)
from tools.indicators._extrema import MODE_FASTK, MODE_WILLR, window_extrema_into
from tools.indicators._jit import kernel
from tools.indicators.moving_averages import ma_into, ma_lookback

# ---------------------------------------------------------------- cores (valid suffix)
# Each core writes ``out[lookback:]`` and returns a probe, NaN exactly when it read a NaN.


@kernel
def range_position_into(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    period: int,
    williams: bool,
    out: FloatArray,
) -> float:
    """Where the close sits in the ``period``-bar high/low range (TA-Lib's STOCH/WILLR).

    STOCH (``williams`` False): (close − lowest) / (highest − lowest) · 100.
    WILLR (``williams`` True): (highest − close) / (highest − lowest) · −100, clamped
    to [−100, 0]. A window whose range is within 1e-14 of its own price level is flat: 0.
    """
    mode = MODE_WILLR if williams else MODE_FASTK
    return window_extrema_into(high, low, close, period, mode, out, out, out)


@kernel
def stoch_into(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    fastk_period: int,
    slowk_period: int,
    slowk_matype: int,
    slowd_period: int,
    slowd_matype: int,
    slowk: FloatArray,
    slowd: FloatArray,
) -> float:
    """TA_STOCH: fast %K, then two MAs (TA-Lib's MA switch).

    Fast %K is written into ``slowd`` (no temporary series): slow %K reads it from there,
    and slow %D, computed from slow %K, overwrites it.
    """
    n = high.shape[0]
    lookback_k = fastk_period - 1
    lookback_slowk = ma_lookback(slowk_period, slowk_matype)
    lookback = lookback_k + lookback_slowk + ma_lookback(slowd_period, slowd_matype)
    if n <= lookback:
        return 0.0
    fastk = slowd
    probe = range_position_into(high, low, close, fastk_period, False, fastk)
    # KAMA would amplify one-ulp differences in its input (moving_averages, above the
    # cores): feeding it, slow %K is computed with TA-Lib's exact recurrence.
    exact = slowd_matype == MA_KAMA
    ma_into(fastk[lookback_k:], slowk_period, slowk_matype, exact, slowk[lookback_k:])
    start = lookback_k + lookback_slowk
    ma_into(slowk[start:], slowd_period, slowd_matype, False, slowd[start:])
    return probe


@kernel
def cci_into(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, out: FloatArray
) -> float:
    """TA_CCI: the window sits in a circular buffer summed in buffer order, as in TA-Lib."""
    n = high.shape[0]
    if n < period:
        return 0.0
    buffer = np.zeros(period, dtype=np.float64)
    slot = 0
    bad = False  # a typical price is NaN exactly when one of its inputs is
    for i in range(period - 1):
        typical = (high[i] + low[i] + close[i]) / 3
        buffer[slot] = typical
        bad |= np.isnan(typical)
        slot += 1
    for i in range(period - 1, n):
        last = (high[i] + low[i] + close[i]) / 3
        bad |= np.isnan(last)
        buffer[slot] = last
        average = 0.0
        for j in range(period):
            average += buffer[j]
        average /= period
        deviation = 0.0
        for j in range(period):
            deviation += abs(buffer[j] - average)
        deviation /= period
        numerator = last - average
        level = abs(average)
        if is_zero_scaled(numerator, level) or is_zero_scaled(deviation, level):
            out[i] = 0.0
        else:
            out[i] = numerator / (0.015 * deviation)
        slot = slot + 1 if slot + 1 < period else 0
    return np.nan if bad else 0.0


# ---------------------------------------------------------------- kernels (full series)


@kernel
def stoch_kernel(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    fastk_period: int,
    slowk_period: int,
    slowk_matype: int,
    slowd_period: int,
    slowd_matype: int,
    slowk: FloatArray,
    slowd: FloatArray,
) -> None:
    n: int = len(high)
    lookback = (
        fastk_period
        - 1
        + ma_lookback(slowk_period, slowk_matype)
        + ma_lookback(slowd_period, slowd_matype)
    )
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid3(high, low, close, pos)
        end = n if optimistic else next_nan3(high, low, close, begin)
        for attempt in range(2):
            probe = stoch_into(
                high[begin:end],
                low[begin:end],
                close[begin:end],
                fastk_period,
                slowk_period,
                slowk_matype,
                slowd_period,
                slowd_matype,
                slowk[begin:end],
                slowd[begin:end],
            )
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False  # a NaN inside: cut the series at it, run by run
            end = next_nan3(high, low, close, begin)
        # After the core: slow %K is reported only from slow %D's first bar, as in TA-Lib.
        stop = min(begin + lookback, end)
        fill_nan(slowk, pos, stop)
        fill_nan(slowd, pos, stop)
        pos = end


@kernel
def window_kernel(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    timeperiod: int,
    which: int,
    out: FloatArray,
) -> None:
    """WILLR (which=0) or CCI (1) with the package's NaN rule."""
    n: int = len(high)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid3(high, low, close, pos)
        end = n if optimistic else next_nan3(high, low, close, begin)
        for attempt in range(2):
            h = high[begin:end]
            lo = low[begin:end]
            c = close[begin:end]
            if which == 0:
                probe = range_position_into(h, lo, c, timeperiod, True, out[begin:end])
            else:
                probe = cci_into(h, lo, c, timeperiod, out[begin:end])
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False
            end = next_nan3(high, low, close, begin)
        fill_nan(out, pos, min(begin + timeperiod - 1, end))
        pos = end


@kernel
def willr_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int, out: FloatArray
) -> None:
    window_kernel(high, low, close, timeperiod, 0, out)


@kernel
def cci_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int, out: FloatArray
) -> None:
    window_kernel(high, low, close, timeperiod, 1, out)


# ---------------------------------------------------------------- public API


def stoch(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowk_matype: int = 0,
    slowd_period: int = 3,
    slowd_matype: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """Slow stochastic (TA-Lib ``STOCH``) -> (slowk, slowd).

    MA types: 0=SMA, 1=EMA, 2=WMA, 3=DEMA, 4=TEMA, 6=KAMA; others raise ``ValueError``.
    """
    h, lo, c = as_series_group(high=high, low=low, close=close)
    slowk, slowd = new_outputs(len(h), 2)
    stoch_kernel(
        h,
        lo,
        c,
        check_period("fastk_period", fastk_period, 1),
        check_period("slowk_period", slowk_period, 1),
        check_matype("slowk_matype", slowk_matype),
        check_period("slowd_period", slowd_period, 1),
        check_matype("slowd_matype", slowd_matype),
        slowk,
        slowd,
    )
    return slowk, slowd


def willr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Williams' %R (TA-Lib ``WILLR``), in [−100, 0]; NaN for ``timeperiod - 1`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return new_output(len(h), willr_kernel, h, lo, c, check_period("timeperiod", timeperiod, 2))


def cci(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Commodity channel index (TA-Lib ``CCI``); NaN for ``timeperiod - 1`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return new_output(len(h), cci_kernel, h, lo, c, check_period("timeperiod", timeperiod, 2))
