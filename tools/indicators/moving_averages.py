"""Moving averages with TA-Lib's arithmetic: SMA, EMA, WMA, DEMA, TEMA, KAMA and the MA switch.

Each ``*_into`` core runs TA-Lib's C loop on a series that starts at its first usable bar
(leading NaNs already skipped) and writes the output from the lookback on; the
``*_kernel`` functions add TA-Lib's leading-NaN rule, and the public functions validate
their arguments in Python and call the kernel. Conventions kept from TA-Lib:

- EMA is seeded with the SMA of its first ``timeperiod`` values, ``k = 2 / (timeperiod + 1)``.
- DEMA = 2·EMA − EMA(EMA); TEMA = 3·EMA − 3·EMA(EMA) + EMA(EMA(EMA)), each inner EMA
  seeded on the previous one's first valid value.
- KAMA uses the fixed fast/slow constants 2/(2+1) and 2/(30+1) of TA-Lib; its efficiency
  ratio is capped at 1 (``sum |changes| <= |change over the window|`` gives 1), as
  TA-Lib's: the add-then-subtract sum can fall below the window's one tiny move by its
  rounding residue, and an uncapped ratio then makes KAMA overshoot its input.
- Period 1: SMA, EMA, WMA and KAMA return the input unchanged (no warm-up), as TA-Lib.
- WMA re-anchors its running sums every 8·period bars (TA-Lib #255), so long series
  do not drift.
- The MA switch (``matype``) copies the input unchanged when ``timeperiod == 1``.

Where TA-Lib's loop is bound by a chain of dependent floating-point operations, the
recurrences here are rearranged to shorten the chain (see the note above the cores), so
the public functions agree with TA-Lib within a few ulps rather than bit for bit; the
parity table in docs/indicators.md says which indicators are bit-identical.
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
    new_output,
    next_nan1,
    next_valid1,
)
from tools.indicators._jit import fma, inline_kernel, kernel

# ---------------------------------------------------------------- cores (valid suffix)
# Each core runs TA-Lib's loop on ``x`` (no leading NaN), writes ``out[lookback:]`` and
# returns a probe that is NaN exactly when it read a NaN (see _common).
#
# ``exact``: TA-Lib's own recurrence, bit for bit. Otherwise (what the public functions
# use) the recurrence is rearranged so that fewer dependent operations sit on its chain:
# TA-Lib's loops are bound by that chain, so these run in 0.5-0.9 of its time and agree
# with it within a few ulps. ``exact`` is for an MA whose output feeds KAMA (STOCH's
# slow %K when slow %D is KAMA): KAMA's efficiency ratio divides two sums of changes
# that are rounding-sized on a flat stretch, so it would amplify even one-ulp
# differences. The flag is loop-invariant: LLVM unswitches it out of the loops.


@kernel
def copy_into(x: FloatArray, out: FloatArray) -> float:
    probe = 0.0
    for i in range(x.shape[0]):
        out[i] = x[i]
        probe += x[i]
    return probe


@kernel
def sma_into(x: FloatArray, period: int, exact: bool, out: FloatArray) -> float:
    """TA_INT_SMA's running sum; ``out[period-1:]`` gets the window means.

    Fast form: the sum moves by one precomputed difference per bar (TA-Lib adds the new
    value, then subtracts the old one: two dependent additions) and is scaled by
    ``1 / period`` (TA-Lib divides; the divider alone would bound the loop).
    """
    n = x.shape[0]
    if n < period:
        return 0.0
    total = 0.0
    for i in range(period - 1):
        total += x[i]
    # Slice views indexed from 0: Numba adds wraparound code to ``x[i - k]`` accesses.
    incoming = x[period - 1 :]
    outgoing = x[: n - period + 1]
    outs = out[period - 1 :]
    if exact:
        for j in range(n - period + 1):
            total += incoming[j]
            value = total
            total -= outgoing[j]
            outs[j] = value / period
        return total  # a NaN read stays in the running sum
    inv_period = 1.0 / period
    total += incoming[0]
    outs[0] = total * inv_period
    incoming = x[period:]
    outgoing = x[: n - period]
    outs = out[period:]
    for j in range(n - period):
        total += incoming[j] - outgoing[j]
        outs[j] = total * inv_period
    result: float = total
    return result


@inline_kernel
def ema_coefficients(period: int) -> tuple[float, float]:
    """(β, α) of the fast EMA step ``e = β·e + α·x``: β = (period − 1)/(period + 1)
    first, α = 1 − β, so α + β is exactly 1 (α is TA-Lib's k = 2/(period + 1) within
    an ulp)."""
    beta = (period - 1) / (period + 1)
    return beta, 1.0 - beta


@inline_kernel
def ema_step(prev: float, value: float, k: float, beta: float, exact: bool) -> float:
    """One EMA step: TA-Lib's ``fma(x − e, k, e)`` (a subtraction, then a multiply-add,
    on the chain) or the fast ``fma(β, e, α·x)`` (one multiply-add on the chain)."""
    if exact:
        return fma(value - prev, k, prev)
    return fma(beta, prev, k * value)


@kernel
def ema_into(x: FloatArray, period: int, start: int, exact: bool, out: FloatArray) -> float:
    """TA_INT_EMA from bar ``start`` (>= period-1): seed = SMA of the window ending there."""
    n = x.shape[0]
    start = max(start, period - 1)
    if start >= n:
        return 0.0
    beta, alpha = ema_coefficients(period)
    k = 2.0 / (period + 1) if exact else alpha
    total = 0.0
    for i in range(start - period + 1, start + 1):
        total += x[i]
    prev = total / period
    out[start] = prev
    values = x[start + 1 :]
    outs = out[start + 1 :]
    for j in range(n - start - 1):
        prev = ema_step(prev, values[j], k, beta, exact)
        outs[j] = prev
    return prev + total  # both NaN-sticky; the seed sum covers bars before ``start``


@kernel
def wma_exact_into(x: FloatArray, period: int, out: FloatArray) -> float:
    """TA_WMA's own loop, bit for bit (``period`` >= 2, ``len(x)`` >= ``period``)."""
    n = x.shape[0]
    divider = period * (period + 1) / 2.0
    period_sub = 0.0
    period_sum = 0.0
    probe = 0.0
    for i in range(period - 1):
        value = x[i]
        period_sub += value
        period_sum += value * (i + 1)
        probe += value
    bars_since_reseed = 8 * period
    trailing_value = 0.0
    incoming = x[period - 1 :]
    outgoing = x[: n - period + 1]
    outs = out[period - 1 :]
    for j in range(n - period + 1):
        value = incoming[j]
        probe += value  # the re-anchor can wash a NaN out of the sums: probe separately
        period_sub += value
        period_sub -= trailing_value
        period_sum += value * period
        bars_since_reseed -= 1
        if bars_since_reseed <= 0:
            bars_since_reseed = 8 * period
            period_sub = 0.0
            period_sum = 0.0
            for k in range(period):
                window_value = x[j + k]
                period_sub += window_value
                period_sum += window_value * (k + 1)
        trailing_value = outgoing[j]
        outs[j] = period_sum / divider
        period_sum -= period_sub
    return probe


@kernel
def wma_into(x: FloatArray, period: int, exact: bool, out: FloatArray) -> float:
    """TA_WMA: weights 1..period in O(1) per bar, re-anchored every 8·period bars
    (TA-Lib #255), so long series do not drift.

    Fast form: the same two running sums, each moved by one addition per bar instead of
    two, scaled by the reciprocal of the weight total, rebuilt at the start of every
    8·period-bar block.
    """
    n = x.shape[0]
    if n < period:
        return 0.0
    if period == 1:
        return copy_into(x, out)
    if exact:
        return wma_exact_into(x, period, out)
    inv_divider = 1.0 / (period * (period + 1) / 2.0)
    weight = float(period)
    probe = 0.0  # the re-anchor can wash a NaN out of the sums: probe separately
    for i in range(period - 1):
        probe += x[i]
    incoming = x[period - 1 :]
    outgoing = x[: n - period + 1]
    outs = out[period - 1 :]
    count = n - period + 1
    begin = 0
    while begin < count:
        # Sums over the period − 1 bars before window ``begin``'s last bar.
        period_sub = 0.0
        period_sum = 0.0
        for k in range(period - 1):
            value = x[begin + k]
            period_sub += value
            period_sum += value * (k + 1)
        trailing_value = 0.0
        stop = min(count, begin + 8 * period)
        for j in range(begin, stop):
            value = incoming[j]
            weighted = value * weight
            outs[j] = (period_sum + weighted) * inv_divider
            period_sub += value - trailing_value
            period_sum += weighted - period_sub
            trailing_value = outgoing[j]
            probe += value
        begin = stop
    return probe


@kernel
def dema_into(x: FloatArray, period: int, exact: bool, out: FloatArray) -> float:
    """TA_DEMA in one pass: 2·EMA − EMA(EMA), the inner EMA seeded on the outer's first
    ``period`` values; lookback 2·(period−1)."""
    n = x.shape[0]
    lookback = period - 1
    if n <= 2 * lookback:
        return 0.0
    beta, alpha = ema_coefficients(period)
    k = 2.0 / (period + 1) if exact else alpha
    total = 0.0
    for i in range(period):
        total += x[i]
    e1 = total / period
    sum2 = e1
    for i in range(period, 2 * lookback + 1):
        e1 = ema_step(e1, x[i], k, beta, exact)
        sum2 += e1
    e2 = sum2 / period
    out[2 * lookback] = (2.0 * e1) - e2
    values = x[2 * lookback + 1 :]
    outs = out[2 * lookback + 1 :]
    for j in range(n - 2 * lookback - 1):
        e1 = ema_step(e1, values[j], k, beta, exact)
        e2 = ema_step(e2, e1, k, beta, exact)
        outs[j] = (2.0 * e1) - e2
    return e1 + total


@kernel
def tema_into(x: FloatArray, period: int, exact: bool, out: FloatArray) -> float:
    """TA_TEMA in one pass: 3·EMA − 3·EMA(EMA) + EMA(EMA(EMA)); lookback 3·(period−1)."""
    n = x.shape[0]
    lookback = period - 1
    if n <= 3 * lookback:
        return 0.0
    beta, alpha = ema_coefficients(period)
    k = 2.0 / (period + 1) if exact else alpha
    total = 0.0
    for i in range(period):
        total += x[i]
    e1 = total / period
    sum2 = e1
    for i in range(period, 2 * lookback + 1):
        e1 = ema_step(e1, x[i], k, beta, exact)
        sum2 += e1
    e2 = sum2 / period
    sum3 = e2
    for i in range(2 * lookback + 1, 3 * lookback + 1):
        e1 = ema_step(e1, x[i], k, beta, exact)
        e2 = ema_step(e2, e1, k, beta, exact)
        sum3 += e2
    e3 = sum3 / period
    out[3 * lookback] = e3 + ((3.0 * e1) - (3.0 * e2))
    values = x[3 * lookback + 1 :]
    outs = out[3 * lookback + 1 :]
    for j in range(n - 3 * lookback - 1):
        e1 = ema_step(e1, values[j], k, beta, exact)
        e2 = ema_step(e2, e1, k, beta, exact)
        e3 = ema_step(e3, e2, k, beta, exact)
        outs[j] = e3 + ((3.0 * e1) - (3.0 * e2))
    return e1 + total


@inline_kernel
def kama_step(prev: float, value: float, ratio: float, exact: bool) -> float:
    """KAMA's EMA-like step with smoothing constant ``ratio``: TA-Lib's
    ``fma(x − kama, sc, kama)``, or ``fma(1 − sc, kama, sc·x)`` (one multiply-add on
    the chain). Either way the efficiency ratio itself is TA-Lib's, bit for bit."""
    if exact:
        return fma(value - prev, ratio, prev)
    return fma(1.0 - ratio, prev, ratio * value)


@kernel
def kama_into(x: FloatArray, period: int, exact: bool, out: FloatArray) -> float:
    """TA_KAMA: efficiency ratio scaled between TA-Lib's fixed fast (2) and slow (30) EMAs."""
    n = x.shape[0]
    if period == 1:  # TA-Lib's KAMA(1) returns its input unchanged
        probe = 0.0
        for i in range(n):
            out[i] = x[i]
            probe += x[i]
        return probe
    if n <= period:
        return 0.0
    const_max = 2.0 / (30.0 + 1.0)
    const_diff = 2.0 / (2.0 + 1.0) - const_max
    sum_roc1 = 0.0
    probe = x[0]
    # Consecutive zero changes: a whole window of them means the (add-then-subtract)
    # sum is exactly 0, so TA-Lib drops its rounding residue.
    null_run = 0
    for today in range(period):
        diff = x[today] - x[today + 1]
        sum_roc1 += abs(diff)
        probe += x[today + 1]
        null_run = null_run + 1 if diff == 0.0 else 0
    today = period
    prev_kama = x[today - 1]
    trailing_value = x[0]
    period_roc = x[today] - trailing_value
    # The efficiency ratio is capped at 1 (module docstring): the running sum's rounding
    # residue can leave it below |period_roc| when the window holds one tiny move.
    ratio = 1.0 if sum_roc1 <= abs(period_roc) else abs(period_roc / sum_roc1)
    ratio = fma(ratio, const_diff, const_max)
    ratio *= ratio
    prev_kama = kama_step(prev_kama, x[today], ratio, exact)
    out[today] = prev_kama
    incoming = x[period + 1 :]
    previous = x[period : n - 1]
    outgoing = x[1 : n - period]
    outs = out[period + 1 :]
    for j in range(n - period - 1):
        value = incoming[j]
        value2 = outgoing[j]
        period_roc = value - value2
        change = value - previous[j]
        sum_roc1 -= abs(trailing_value - value2)
        sum_roc1 += abs(change)
        null_run = null_run + 1 if change == 0.0 else 0
        if null_run >= period:
            null_run = period
            sum_roc1 = 0.0
        trailing_value = value2
        ratio = 1.0 if sum_roc1 <= abs(period_roc) else abs(period_roc / sum_roc1)
        ratio = fma(ratio, const_diff, const_max)
        ratio *= ratio
        prev_kama = kama_step(prev_kama, value, ratio, exact)
        outs[j] = prev_kama
    result: float = prev_kama + probe  # prev_kama reads every later bar, keeps a NaN
    return result


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
def ma_into(x: FloatArray, period: int, matype: int, exact: bool, out: FloatArray) -> float:
    """TA_MA: dispatch on ``matype``; ``period == 1`` copies the input as TA-Lib does.
    ``exact``: TA-Lib's recurrences bit for bit (see the note above the cores)."""
    if period == 1:
        return copy_into(x, out)
    if matype == MA_SMA:
        return sma_into(x, period, exact, out)
    if matype == MA_EMA:
        return ema_into(x, period, period - 1, exact, out)
    if matype == MA_WMA:
        return wma_into(x, period, exact, out)
    if matype == MA_DEMA:
        return dema_into(x, period, exact, out)
    if matype == MA_TEMA:
        return tema_into(x, period, exact, out)
    if matype == MA_KAMA:
        return kama_into(x, period, exact, out)
    raise ValueError("unsupported matype")


# ---------------------------------------------------------------- kernels (full series)


@kernel
def ma_kernel(real: FloatArray, timeperiod: int, matype: int, out: FloatArray) -> None:
    """Any MA type on a full series, with the package's NaN rule (see _common)."""
    n: int = len(real)
    lookback = ma_lookback(timeperiod, matype)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid1(real, pos)
        end = n if optimistic else next_nan1(real, begin)
        if np.isnan(ma_into(real[begin:end], timeperiod, matype, False, out[begin:end])):
            optimistic = False  # a NaN inside: cut the series at it, run by run
            end = next_nan1(real, begin)
            ma_into(real[begin:end], timeperiod, matype, False, out[begin:end])
        fill_nan(out, pos, min(begin + lookback, end))
        pos = end


@kernel
def sma_kernel(real: FloatArray, timeperiod: int, out: FloatArray) -> None:
    ma_kernel(real, timeperiod, MA_SMA, out)


@kernel
def ema_kernel(real: FloatArray, timeperiod: int, out: FloatArray) -> None:
    ma_kernel(real, timeperiod, MA_EMA, out)


@kernel
def wma_kernel(real: FloatArray, timeperiod: int, out: FloatArray) -> None:
    ma_kernel(real, timeperiod, MA_WMA, out)


@kernel
def dema_kernel(real: FloatArray, timeperiod: int, out: FloatArray) -> None:
    ma_kernel(real, timeperiod, MA_DEMA, out)


@kernel
def tema_kernel(real: FloatArray, timeperiod: int, out: FloatArray) -> None:
    ma_kernel(real, timeperiod, MA_TEMA, out)


@kernel
def kama_kernel(real: FloatArray, timeperiod: int, out: FloatArray) -> None:
    ma_kernel(real, timeperiod, MA_KAMA, out)


# ---------------------------------------------------------------- public API


def sma(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Simple moving average (TA-Lib ``SMA``); NaN for the first ``timeperiod - 1`` bars."""
    series = as_series(real, "real")
    return new_output(len(series), sma_kernel, series, check_period("timeperiod", timeperiod, 1))


def ema(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Exponential moving average (TA-Lib ``EMA``), seeded with the SMA of the first window."""
    series = as_series(real, "real")
    return new_output(len(series), ema_kernel, series, check_period("timeperiod", timeperiod, 1))


def wma(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Linearly weighted moving average (TA-Lib ``WMA``)."""
    series = as_series(real, "real")
    return new_output(len(series), wma_kernel, series, check_period("timeperiod", timeperiod, 1))


def dema(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Double EMA (TA-Lib ``DEMA``); NaN for the first ``2 * (timeperiod - 1)`` bars."""
    series = as_series(real, "real")
    return new_output(len(series), dema_kernel, series, check_period("timeperiod", timeperiod, 1))


def tema(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Triple EMA (TA-Lib ``TEMA``); NaN for the first ``3 * (timeperiod - 1)`` bars."""
    series = as_series(real, "real")
    return new_output(len(series), tema_kernel, series, check_period("timeperiod", timeperiod, 1))


def kama(real: npt.ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Kaufman adaptive moving average (TA-Lib ``KAMA``); NaN for the first ``timeperiod`` bars."""
    series = as_series(real, "real")
    return new_output(len(series), kama_kernel, series, check_period("timeperiod", timeperiod, 1))
