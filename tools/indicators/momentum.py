"""Momentum indicators with TA-Lib's arithmetic: RSI, MACD, ROC, MOM.

Conventions kept from TA-Lib:

- RSI: the first average gain/loss is the plain mean of the first ``timeperiod`` changes,
  then Wilder smoothing ``avg = β·avg + α·x`` (β = (n−1)/n, α = 1 − β);
  RSI is 0 when both averages are exactly 0.
- MACD: the fast EMA is seeded at the slow EMA's first bar (SMA of the ``fastperiod``
  closes ending there), so both lines start together (EMA steps as in
  ``moving_averages.ema_into``, within ulps of TA-Lib); the MACD line itself stays NaN until
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
    new_output,
    new_outputs,
    next_nan1,
    next_valid1,
)
from tools.indicators._jit import fma, kernel
from tools.indicators.moving_averages import ema_coefficients

# ---------------------------------------------------------------- cores (valid suffix)
# Each core writes ``out[lookback:]`` and returns a probe, NaN exactly when it read a NaN.


@kernel
def rsi_into(x: FloatArray, period: int, out: FloatArray) -> float:
    """TA_RSI (no unstable period): Wilder-smoothed average gain over gain + loss."""
    n = x.shape[0]
    if n <= period:
        return 0.0
    prev_gain = 0.0
    prev_loss = 0.0
    for today in range(1, period + 1):
        change = x[today] - x[today - 1]
        # Selects, not branches: the sign of a price change is a coin flip.
        prev_loss -= change if change < 0.0 else 0.0
        prev_gain += 0.0 if change < 0.0 else change
    prev_loss /= period
    prev_gain /= period
    total = prev_gain + prev_loss
    out[period] = 100.0 * (prev_gain / total) if total > 0.0 else 0.0
    # Wilder's step in TA-Lib's two-coefficient form: beta first, alpha + beta exactly 1.
    beta = (period - 1) / period
    alpha = 1.0 - beta
    now = x[period + 1 :]
    before = x[period : n - 1]
    outs = out[period + 1 :]
    for j in range(n - period - 1):
        change = now[j] - before[j]
        loss = -change if change < 0.0 else 0.0
        gain = 0.0 if change < 0.0 else change
        prev_loss = fma(beta, prev_loss, alpha * loss)
        prev_gain = fma(beta, prev_gain, alpha * gain)
        total = prev_gain + prev_loss
        outs[j] = 100.0 * (prev_gain / total) if total > 0.0 else 0.0
    probe: float = prev_gain + x[0]
    return probe  # a NaN change lands in the gain and stays there


@kernel
def macd_into(
    x: FloatArray,
    fastperiod: int,
    slowperiod: int,
    signalperiod: int,
    macd_out: FloatArray,
    signal_out: FloatArray,
    hist_out: FloatArray,
) -> float:
    """TA_INT_MACD in one pass: EMA(fast) − EMA(slow), both from the slow EMA's first bar
    (the fast one seeded with the SMA of the ``fastperiod`` closes ending there), then an
    EMA signal of that line; all three outputs from ``slow − 1 + signal − 1`` on."""
    if slowperiod < fastperiod:
        fastperiod, slowperiod = slowperiod, fastperiod
    n = x.shape[0]
    start = slowperiod - 1
    lookback = start + signalperiod - 1
    if n <= lookback:
        return 0.0
    beta_slow, alpha_slow = ema_coefficients(slowperiod)
    beta_fast, alpha_fast = ema_coefficients(fastperiod)
    beta_signal, alpha_signal = ema_coefficients(signalperiod)
    total = 0.0
    for i in range(slowperiod):
        total += x[i]
    slow = total / slowperiod
    fast_total = 0.0
    for i in range(slowperiod - fastperiod, slowperiod):
        fast_total += x[i]
    fast = fast_total / fastperiod
    line = fast - slow
    signal_total = line
    for i in range(start + 1, lookback + 1):
        slow = fma(beta_slow, slow, alpha_slow * x[i])
        fast = fma(beta_fast, fast, alpha_fast * x[i])
        line = fast - slow
        signal_total += line
    signal = signal_total / signalperiod
    macd_out[lookback] = line
    signal_out[lookback] = signal
    hist_out[lookback] = line - signal
    # Slice views indexed from 0 (no Numba wraparound code in the hot loops).
    values = x[lookback + 1 :]
    lines = macd_out[lookback + 1 :]
    signals = signal_out[lookback + 1 :]
    hists = hist_out[lookback + 1 :]
    if signalperiod == 1:  # the signal is the line itself (TA-Lib), not a rounded step
        for j in range(n - lookback - 1):
            value = values[j]
            slow = fma(beta_slow, slow, alpha_slow * value)
            fast = fma(beta_fast, fast, alpha_fast * value)
            line = fast - slow
            lines[j] = line
            signals[j] = line
            hists[j] = line - line
        return slow + total
    for j in range(n - lookback - 1):
        value = values[j]
        slow = fma(beta_slow, slow, alpha_slow * value)
        fast = fma(beta_fast, fast, alpha_fast * value)
        line = fast - slow
        signal = fma(beta_signal, signal, alpha_signal * line)
        lines[j] = line
        signals[j] = signal
        hists[j] = line - signal
    return slow + total


@kernel
def roc_into(x: FloatArray, period: int, out: FloatArray) -> float:
    """TA_ROC: percent change over ``period`` bars; 0 when the old price is 0."""
    n = x.shape[0]
    bad = False
    for i in range(min(period, n)):
        bad |= np.isnan(x[i])
    if n <= period:
        return np.nan if bad else 0.0
    # Slice views indexed from 0: Numba adds wraparound code to ``x[i - k]`` accesses.
    now = x[period:]
    before = x[: n - period]
    outs = out[period:]
    for j in range(n - period):
        value = now[j]
        old = before[j]
        outs[j] = ((value / old) - 1.0) * 100.0 if old != 0.0 else 0.0
        bad |= np.isnan(value)
    return np.nan if bad else 0.0


@kernel
def mom_into(x: FloatArray, period: int, out: FloatArray) -> float:
    """TA_MOM: price change over ``period`` bars."""
    n = x.shape[0]
    bad = False
    for i in range(min(period, n)):
        bad |= np.isnan(x[i])
    if n <= period:
        return np.nan if bad else 0.0
    now = x[period:]
    before = x[: n - period]
    outs = out[period:]
    for j in range(n - period):
        value = now[j]
        outs[j] = value - before[j]
        bad |= np.isnan(value)
    return np.nan if bad else 0.0


# ---------------------------------------------------------------- kernels (full series)


@kernel
def real_kernel(real: FloatArray, timeperiod: int, which: int, out: FloatArray) -> None:
    """RSI (which=0), ROC (1) or MOM (2) with the package's NaN rule (see _common)."""
    n: int = len(real)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid1(real, pos)
        end = n if optimistic else next_nan1(real, begin)
        for attempt in range(2):
            if which == 0:
                probe = rsi_into(real[begin:end], timeperiod, out[begin:end])
            elif which == 1:
                probe = roc_into(real[begin:end], timeperiod, out[begin:end])
            else:
                probe = mom_into(real[begin:end], timeperiod, out[begin:end])
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False  # a NaN inside: cut the series at it, run by run
            end = next_nan1(real, begin)
        fill_nan(out, pos, min(begin + timeperiod, end))
        pos = end


@kernel
def rsi_kernel(real: FloatArray, timeperiod: int, out: FloatArray) -> None:
    real_kernel(real, timeperiod, 0, out)


@kernel
def roc_kernel(real: FloatArray, timeperiod: int, out: FloatArray) -> None:
    real_kernel(real, timeperiod, 1, out)


@kernel
def mom_kernel(real: FloatArray, timeperiod: int, out: FloatArray) -> None:
    real_kernel(real, timeperiod, 2, out)


@kernel
def macd_kernel(
    real: FloatArray,
    fastperiod: int,
    slowperiod: int,
    signalperiod: int,
    macd_line: FloatArray,
    signal: FloatArray,
    hist: FloatArray,
) -> None:
    n: int = len(real)
    lookback = max(fastperiod, slowperiod) - 1 + signalperiod - 1
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid1(real, pos)
        end = n if optimistic else next_nan1(real, begin)
        for attempt in range(2):
            probe = macd_into(
                real[begin:end],
                fastperiod,
                slowperiod,
                signalperiod,
                macd_line[begin:end],
                signal[begin:end],
                hist[begin:end],
            )
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False
            end = next_nan1(real, begin)
        stop = min(begin + lookback, end)
        fill_nan(macd_line, pos, stop)
        fill_nan(signal, pos, stop)
        fill_nan(hist, pos, stop)
        pos = end


# ---------------------------------------------------------------- public API


def rsi(real: npt.ArrayLike, timeperiod: int = 14) -> FloatArray:
    """Relative strength index (TA-Lib ``RSI``, Wilder); NaN for the first ``timeperiod`` bars."""
    series = as_series(real, "real")
    return new_output(len(series), rsi_kernel, series, check_period("timeperiod", timeperiod, 2))


def macd(
    real: npt.ArrayLike, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD (TA-Lib ``MACD``) -> (macd, macdsignal, macdhist)."""
    series = as_series(real, "real")
    line, signal, hist = new_outputs(len(series), 3)
    macd_kernel(
        series,
        check_period("fastperiod", fastperiod, 2),
        check_period("slowperiod", slowperiod, 2),
        check_period("signalperiod", signalperiod, 1),
        line,
        signal,
        hist,
    )
    return line, signal, hist


def roc(real: npt.ArrayLike, timeperiod: int = 10) -> FloatArray:
    """Rate of change in percent (TA-Lib ``ROC``); NaN for the first ``timeperiod`` bars."""
    series = as_series(real, "real")
    return new_output(len(series), roc_kernel, series, check_period("timeperiod", timeperiod, 1))


def mom(real: npt.ArrayLike, timeperiod: int = 10) -> FloatArray:
    """Momentum, price minus price ``timeperiod`` bars ago (TA-Lib ``MOM``)."""
    series = as_series(real, "real")
    return new_output(len(series), mom_kernel, series, check_period("timeperiod", timeperiod, 1))
