"""Volatility indicators with TA-Lib's arithmetic: TRANGE, ATR, NATR.

Conventions kept from TA-Lib:

- TRANGE starts at the second bar (it needs the previous close).
- ATR is seeded with the SMA of the first ``timeperiod`` true ranges (bars 1..timeperiod)
  and then smoothed with Wilder's rule ``atr = α·tr + β·atr``, β = (n−1)/n, α = 1 − β
  (advanced two bars per step here: ``wilder_two_steps``; within ulps of TA-Lib).
  NATR is ``100 · ATR / close`` (0 where the close is exactly 0) — except
  ``timeperiod == 1``, where TA-Lib returns the raw true range, not normalised; kept.

BBANDS lives in ``bollinger``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tools.indicators._common import (
    FloatArray,
    as_series_group,
    check_period,
    fill_nan,
    new_output,
    next_nan3,
    next_valid3,
)
from tools.indicators._jit import fma, inline_kernel, kernel

# ---------------------------------------------------------------- cores (valid suffix)
# Each core writes ``out[lookback:]`` and returns a probe, NaN exactly when it read a NaN.


@inline_kernel
def true_range(high_i: float, low_i: float, prev_close: float) -> float:
    """TA-Lib's TRUE_RANGE of one bar: the greatest of high−low, |prev close − high| and
    |prev close − low|, compared in that order (the same selects as TA-Lib's C code)."""
    greatest = high_i - low_i
    up = abs(prev_close - high_i)
    greatest = up if up > greatest else greatest
    down = abs(prev_close - low_i)
    return down if down > greatest else greatest


@inline_kernel
def true_range_at(high: FloatArray, low: FloatArray, close: FloatArray, i: int) -> float:
    """``true_range`` of bar ``i`` (needs ``i >= 1``)."""
    return true_range(high[i], low[i], close[i - 1])


# Hot loops below index slice views from 0 rather than ``array[i - k]``: Numba cannot
# prove ``i - k >= 0`` and would add negative-index wraparound code to every access,
# which costs more than the arithmetic in these throughput-bound loops.


@kernel
def trange_into(high: FloatArray, low: FloatArray, close: FloatArray, out: FloatArray) -> float:
    n = high.shape[0]
    if n < 2:
        return 0.0
    highs = high[1:]
    lows = low[1:]
    prev_closes = close[: n - 1]
    trs = out[1:]
    bad = False
    for j in range(n - 1):
        high_j = highs[j]
        low_j = lows[j]
        prev_close = prev_closes[j]
        trs[j] = true_range(high_j, low_j, prev_close)
        bad |= np.isnan(high_j) | np.isnan(low_j) | np.isnan(prev_close)
    return np.nan if bad else 0.0


@inline_kernel
def wilder_coefficients(period: int) -> tuple[float, float, float, float]:
    """(β, α, β², α·β) of Wilder's step ``a = β·a + α·tr``: β = (n−1)/n first and
    α = 1 − β, so α + β is exactly 1 (TA-Lib's two-coefficient form)."""
    beta = (period - 1) / period
    alpha = 1.0 - beta
    return beta, alpha, beta * beta, alpha * beta


@inline_kernel
def wilder_two_steps(
    prev: float, tr1: float, tr2: float, beta: float, alpha: float, beta2: float, ab: float
) -> tuple[float, float]:
    """Wilder's average after one and after two more true ranges.

    The second comes straight from ``prev`` (β²·a + α·β·tr1 + α·tr2), not from the
    first, so the recurrence advances two bars per fused multiply-add: about 0.8 of
    TA-Lib's time, which chains one per bar. The values stay within an ulp or two of
    TA-Lib's (the average forgets rounding errors geometrically).
    """
    first = fma(beta, prev, alpha * tr1)
    second = fma(beta2, prev, fma(ab, tr1, alpha * tr2))
    return first, second


@kernel
def atr_into(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    period: int,
    normalize: bool,
    out: FloatArray,
) -> float:
    """TA_ATR (or TA_NATR when ``normalize``): SMA-seeded Wilder smoothing of the true
    range; lookback ``period``.

    NATR divides by the bar's close (0 where it is exactly 0), except for TA-Lib's quirk
    kept here: ``period == 1`` is the raw true range, not normalised. The division runs
    as a second pass over the output, where it vectorises.
    """
    n = high.shape[0]
    if n <= period:
        return 0.0
    beta, alpha, beta2, ab = wilder_coefficients(period)
    total = 0.0
    # A NaN close can hide in a true range (it loses every comparison): flag closes.
    bad = False
    for i in range(period + 1):
        bad |= np.isnan(close[i])
    for i in range(1, period + 1):
        total += true_range_at(high, low, close, i)
    prev_atr = total / period
    out[period] = prev_atr
    highs = high[period + 1 :]
    lows = low[period + 1 :]
    prev_closes = close[period : n - 1]
    closes_now = close[period + 1 :]
    outs = out[period + 1 :]
    count = n - period - 1
    j = 0
    while j + 1 < count:
        tr1 = true_range(highs[j], lows[j], prev_closes[j])
        tr2 = true_range(highs[j + 1], lows[j + 1], prev_closes[j + 1])
        outs[j], prev_atr = wilder_two_steps(prev_atr, tr1, tr2, beta, alpha, beta2, ab)
        outs[j + 1] = prev_atr
        bad |= np.isnan(closes_now[j]) | np.isnan(closes_now[j + 1])
        j += 2
    if j < count:
        prev_atr = fma(beta, prev_atr, alpha * true_range(highs[j], lows[j], prev_closes[j]))
        outs[j] = prev_atr
        bad |= np.isnan(closes_now[j])
    if normalize and period > 1:
        values = out[period:]
        closes = close[period:]
        for i in range(n - period):
            value = closes[i]
            values[i] = (values[i] / value) * 100.0 if value != 0.0 else 0.0
    probe: float = np.nan if bad else prev_atr  # a NaN high or low stays in prev_atr
    return probe


# ---------------------------------------------------------------- kernels (full series)


@kernel
def hlc_kernel(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    timeperiod: int,
    which: int,
    out: FloatArray,
) -> None:
    """TRANGE (which=0), ATR (1) or NATR (2) with the package's NaN rule."""
    n: int = len(high)
    lookback = 1 if which == 0 else max(timeperiod, 1)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid3(high, low, close, pos)
        end = n if optimistic else next_nan3(high, low, close, begin)
        for attempt in range(2):
            h = high[begin:end]
            lo = low[begin:end]
            c = close[begin:end]
            o = out[begin:end]
            if which == 0:
                probe = trange_into(h, lo, c, o)
            else:
                probe = atr_into(h, lo, c, timeperiod, which == 2, o)
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False  # a NaN inside: cut the series at it, run by run
            end = next_nan3(high, low, close, begin)
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end


@kernel
def trange_kernel(high: FloatArray, low: FloatArray, close: FloatArray, out: FloatArray) -> None:
    hlc_kernel(high, low, close, 1, 0, out)


@kernel
def atr_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int, out: FloatArray
) -> None:
    hlc_kernel(high, low, close, timeperiod, 1, out)


@kernel
def natr_kernel(
    high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int, out: FloatArray
) -> None:
    hlc_kernel(high, low, close, timeperiod, 2, out)


# ---------------------------------------------------------------- public API


def trange(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """True range (TA-Lib ``TRANGE``); NaN for the first bar."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return new_output(len(h), trange_kernel, h, lo, c)


def atr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Average true range (TA-Lib ``ATR``, Wilder smoothing); NaN for ``timeperiod`` bars."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return new_output(len(h), atr_kernel, h, lo, c, check_period("timeperiod", timeperiod, 1))


def natr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, timeperiod: int = 14
) -> FloatArray:
    """Normalised ATR, percent of close (TA-Lib ``NATR``)."""
    h, lo, c = as_series_group(high=high, low=low, close=close)
    return new_output(len(h), natr_kernel, h, lo, c, check_period("timeperiod", timeperiod, 1))
