"""Momentum indicators with TA-Lib's arithmetic: RSI, MACD, ROC, MOM.

Conventions kept from TA-Lib:

- RSI: the first average gain/loss is the plain mean of the first ``timeperiod`` changes,
  then Wilder smoothing ``avg = (avg·(n−1) + x) / n``; RSI is 0 when both averages are exactly 0.
- MACD: the fast EMA is seeded at the slow EMA's first bar (SMA of the ``fastperiod``
  closes ending there), so both lines start together; the MACD line itself stays NaN until
  the signal line starts (lookback ``slowperiod − 1 + signalperiod − 1``). A ``slowperiod``
  smaller than ``fastperiod`` is swapped, as TA-Lib does.
- ROC: (price / price[−n] − 1) · 100, 0 when the old price is 0. MOM: price − price[−n].
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tools.indicators._common import (
    FloatArray,
    as_series,
    check_period,
    fill_nan,
    segment1,
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
    out[period] = 100.0 * (prev_gain / total) if total > 0.0 else 0.0
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
        out[today] = 100.0 * (prev_gain / total) if total > 0.0 else 0.0


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


@kernel
def roc_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """TA_ROC: percent change over ``period`` bars; 0 when the old price is 0."""
    for i in range(period, x.shape[0]):
        old = x[i - period]
        out[i] = ((x[i] / old) - 1.0) * 100.0 if old != 0.0 else 0.0


@kernel
def mom_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """TA_MOM: price change over ``period`` bars."""
    for i in range(period, x.shape[0]):
        out[i] = x[i] - x[i - period]


# ---------------------------------------------------------------- kernels (full series)


@kernel
def rsi_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        rsi_into(real[begin:end], timeperiod, out[begin:end])
        fill_nan(out, pos, min(begin + timeperiod, end))
        pos = end
    return out


@kernel
def macd_kernel(
    real: FloatArray, fastperiod: int, slowperiod: int, signalperiod: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n: int = len(real)
    macd_line = np.empty(n, dtype=np.float64)
    signal = np.empty(n, dtype=np.float64)
    hist = np.empty(n, dtype=np.float64)
    lookback = max(fastperiod, slowperiod) - 1 + signalperiod - 1
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        macd_into(
            real[begin:end],
            fastperiod,
            slowperiod,
            signalperiod,
            macd_line[begin:end],
            signal[begin:end],
            hist[begin:end],
        )
        # After the core: the MACD line is computable earlier, but TA-Lib reports it only
        # from the signal line's first bar.
        stop = min(begin + lookback, end)
        fill_nan(macd_line, pos, stop)
        fill_nan(signal, pos, stop)
        fill_nan(hist, pos, stop)
        pos = end
    return macd_line, signal, hist


@kernel
def roc_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        roc_into(real[begin:end], timeperiod, out[begin:end])
        fill_nan(out, pos, min(begin + timeperiod, end))
        pos = end
    return out


@kernel
def mom_kernel(real: FloatArray, timeperiod: int) -> FloatArray:
    n: int = len(real)
    out = np.empty(n, dtype=np.float64)
    pos = 0
    while pos < n:
        begin, end = segment1(real, pos)
        mom_into(real[begin:end], timeperiod, out[begin:end])
        fill_nan(out, pos, min(begin + timeperiod, end))
        pos = end
    return out


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


def roc(real: npt.ArrayLike, timeperiod: int = 10) -> FloatArray:
    """Rate of change in percent (TA-Lib ``ROC``); NaN for the first ``timeperiod`` bars."""
    return roc_kernel(as_series(real, "real"), check_period("timeperiod", timeperiod, 1))


def mom(real: npt.ArrayLike, timeperiod: int = 10) -> FloatArray:
    """Momentum, price minus price ``timeperiod`` bars ago (TA-Lib ``MOM``)."""
    return mom_kernel(as_series(real, "real"), check_period("timeperiod", timeperiod, 1))
