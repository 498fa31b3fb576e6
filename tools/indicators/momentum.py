"""Momentum oscillators with TA-Lib's arithmetic: RSI, MACD, STOCH, WILLR, CCI, ROC, MOM.

Conventions kept from TA-Lib:

- RSI: the first average gain/loss is the plain mean of the first ``timeperiod`` changes,
  then Wilder smoothing ``avg = (avg·(n−1) + x) / n``; RSI is 0 when both averages are ~0.
- MACD: the fast EMA is seeded at the slow EMA's first bar (SMA of the ``fastperiod``
  closes ending there), so both lines start together; the MACD line itself stays NaN until
  the signal line starts (lookback ``slowperiod − 1 + signalperiod − 1``). A ``slowperiod``
  smaller than ``fastperiod`` is swapped, as TA-Lib does.
- STOCH: fast %K = (close − lowest low) / ((highest high − lowest low) / 100), 0 on a flat
  window; slow %K = MA(fast %K), slow %D = MA(slow %K).
- WILLR: (highest − close) / ((highest − lowest) / −100), 0 on a flat window.
- CCI: (tp − mean(tp)) / (0.015 · mean |tp − mean(tp)|), 0 when either part is exactly 0.
- ROC: (price / price[−n] − 1) · 100, 0 when the old price is 0. MOM: price − price[−n].
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tools.indicators._common import (
    FloatArray,
    as_series,
    check_period,
    first_valid1,
    is_zero,
    nan_output,
)
from tools.indicators._jit import kernel
from tools.indicators.moving_averages import ema_into

# ---------------------------------------------------------------- cores (valid suffix)


@kernel
def rsi_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """TA_RSI (no unstable period): Wilder-smoothed average gain over gain + loss."""
    n = x.shape[0]
    if n <= period:
        return
    prev_value = x[0]
    prev_gain = 0.0
    prev_loss = 0.0
    for today in range(1, period + 1):
        value = x[today]
        change = value - prev_value
        prev_value = value
        if change < 0:
            prev_loss -= change
        else:
            prev_gain += change
    prev_loss /= period
    prev_gain /= period
    total = prev_gain + prev_loss
    out[period] = 0.0 if is_zero(total) else 100.0 * (prev_gain / total)
    for today in range(period + 1, n):
        value = x[today]
        change = value - prev_value
        prev_value = value
        prev_loss *= period - 1
        prev_gain *= period - 1
        if change < 0:
            prev_loss -= change
        else:
            prev_gain += change
        prev_loss /= period
        prev_gain /= period
        total = prev_loss + prev_gain
        out[today] = 0.0 if is_zero(total) else 100.0 * (prev_gain / total)


@kernel
def macd_into(
    x: FloatArray,
    fastperiod: int,
    slowperiod: int,
    signalperiod: int,
    macd_out: FloatArray,
    signal_out: FloatArray,
    hist_out: FloatArray,
) -> None:
    """TA_INT_MACD: EMA(fast) − EMA(slow) from the slow EMA's first bar, then EMA signal."""
    if slowperiod < fastperiod:
        fastperiod, slowperiod = slowperiod, fastperiod
    n = x.shape[0]
    slow_lookback = slowperiod - 1
    lookback = slow_lookback + signalperiod - 1
    if n <= lookback:
        return
    slow = np.empty(n, dtype=np.float64)
    ema_into(x, slowperiod, 2.0 / (slowperiod + 1), slow_lookback, slow)
    # The fast EMA starts where the slow one does (seeded with the SMA ending there).
    ema_into(x, fastperiod, 2.0 / (fastperiod + 1), slow_lookback, macd_out)
    for i in range(slow_lookback, n):
        macd_out[i] = macd_out[i] - slow[i]
    line = macd_out[slow_lookback:]
    ema_into(
        line, signalperiod, 2.0 / (signalperiod + 1), signalperiod - 1, signal_out[slow_lookback:]
    )
    for i in range(lookback, n):
        hist_out[i] = macd_out[i] - signal_out[i]


# ---------------------------------------------------------------- kernels (full series)


@kernel
def rsi_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    begin = first_valid1(real)
    out = nan_output(real.shape[0], begin + timeperiod)
    rsi_into(real[begin:], timeperiod, out[begin:])
    return out


@kernel
def macd_kernel(
    real: FloatArray, fastperiod: int, slowperiod: int, signalperiod: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    begin = first_valid1(real)
    n = real.shape[0]
    n_nan = begin + max(fastperiod, slowperiod) - 1 + signalperiod - 1
    macd_line = nan_output(n, n_nan)
    signal = nan_output(n, n_nan)
    hist = nan_output(n, n_nan)
    macd_into(
        real[begin:],
        fastperiod,
        slowperiod,
        signalperiod,
        macd_line[begin:],
        signal[begin:],
        hist[begin:],
    )
    # The MACD line is computable earlier, but TA-Lib reports it only with the signal.
    macd_line[: min(n_nan, n)] = np.nan
    signal[: min(n_nan, n)] = np.nan
    return macd_line, signal, hist


# ---------------------------------------------------------------- public API


def rsi(real: npt.ArrayLike, timeperiod: int = 14) -> FloatArray:
    """Relative strength index (TA-Lib ``RSI``, Wilder); NaN for the first ``timeperiod`` bars."""
    return rsi_kernel(as_series(real, "real"), check_period("timeperiod", timeperiod, 2))


def macd(
    real: npt.ArrayLike, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD (TA-Lib ``MACD``) -> (macd, macdsignal, macdhist)."""
    return macd_kernel(
        as_series(real, "real"),
        check_period("fastperiod", fastperiod, 2),
        check_period("slowperiod", slowperiod, 2),
        check_period("signalperiod", signalperiod, 1),
    )
