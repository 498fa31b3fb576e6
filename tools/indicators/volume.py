"""Volume indicators with TA-Lib's arithmetic: OBV and MFI.

Conventions kept from TA-Lib: OBV starts at the first bar's volume (not 0) and adds or
subtracts each later bar's volume as the price rises or falls. MFI uses the typical price
(h + l + c) / 3 times volume over the last ``timeperiod`` changes (a change within 1e-14
of the price level counts as no move); it is 0 when the window holds no money flow.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tools.indicators._common import (
    FloatArray,
    as_series_group,
    check_period,
    fill_nan,
    is_zero_scaled,
    new_output,
    next_nan2,
    next_nan4,
    next_valid2,
    next_valid4,
)
from tools.indicators._jit import kernel

# ---------------------------------------------------------------- cores (valid suffix)


@kernel
def obv_into(real: FloatArray, volume: FloatArray, out: FloatArray) -> float:
    """TA_OBV; lookback 0.

    Two passes: each bar's step (+volume, −volume or 0.0) with selects, which
    vectorise, then the running total. TA-Lib branches on the direction of every bar,
    a coin flip on real prices that mispredicts about half the time; adding 0.0 or
    −volume is exactly its "no change" / "subtract", so the totals are bit-identical.
    """
    n = real.shape[0]
    if n == 0:
        return 0.0
    out[0] = 0.0
    now = real[1:]
    before = real[: n - 1]
    amounts = volume[1:]
    steps = out[1:]
    bad = np.isnan(real[0]) | np.isnan(volume[0])
    for i in range(n - 1):
        value = now[i]
        previous = before[i]
        amount = amounts[i]
        steps[i] = amount if value > previous else (-amount if value < previous else 0.0)
        bad |= np.isnan(value) | np.isnan(amount)
    total = volume[0]
    for i in range(n):
        total += out[i]
        out[i] = total
    return np.nan if bad else 0.0


@kernel
def mfi_into(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    period: int,
    out: FloatArray,
) -> float:
    """TA_MFI: positive / total money flow over a circular buffer of ``period`` bars."""
    n = high.shape[0]
    if n <= period:
        return 0.0
    positive = np.zeros(period, dtype=np.float64)
    negative = np.zeros(period, dtype=np.float64)
    slot = 0
    prev_value = (high[0] + low[0] + close[0]) / 3.0
    pos_sum = 0.0
    neg_sum = 0.0
    # Bars in a row that added no money flow: once a whole period of them has passed,
    # the running sums are exactly 0 and TA-Lib drops their rounding residue.
    null_run = 0
    probe: float = volume[0] + high[0] + low[0] + close[0]
    for today in range(1, n):
        probe += volume[today] + high[today] + low[today] + close[today]
        if today > period:
            pos_sum -= positive[slot]
            neg_sum -= negative[slot]
        typical = (high[today] + low[today] + close[today]) / 3.0
        change = typical - prev_value
        level = abs(typical) + abs(prev_value)
        prev_value = typical
        flow = 0.0 if is_zero_scaled(change, level) else typical * volume[today]
        pos_flow = 0.0 if change < 0.0 else flow
        neg_flow = flow if change < 0.0 else 0.0
        positive[slot] = pos_flow
        negative[slot] = neg_flow
        pos_sum += pos_flow
        neg_sum += neg_flow
        null_run = null_run + 1 if flow == 0.0 else 0
        if null_run >= period:
            null_run = period
            pos_sum = 0.0
            neg_sum = 0.0
        if today >= period:
            total = pos_sum + neg_sum
            clamped = 0.0 if pos_sum < 0.0 else (total if pos_sum > total else pos_sum)
            out[today] = 0.0 if total <= 0.0 else 100.0 * (clamped / total)
        slot = slot + 1 if slot + 1 < period else 0
    return probe


# ---------------------------------------------------------------- kernels (full series)


@kernel
def obv_kernel(real: FloatArray, volume: FloatArray, out: FloatArray) -> None:
    n: int = len(real)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid2(real, volume, pos)
        end = n if optimistic else next_nan2(real, volume, begin)
        if np.isnan(obv_into(real[begin:end], volume[begin:end], out[begin:end])):
            optimistic = False  # a NaN inside: cut the series at it, run by run
            end = next_nan2(real, volume, begin)
            obv_into(real[begin:end], volume[begin:end], out[begin:end])
        fill_nan(out, pos, begin)
        pos = end


@kernel
def mfi_kernel(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    timeperiod: int,
    out: FloatArray,
) -> None:
    n: int = len(high)
    pos = 0
    optimistic = True
    while pos < n:
        begin = next_valid4(high, low, close, volume, pos)
        end = n if optimistic else next_nan4(high, low, close, volume, begin)
        for attempt in range(2):
            probe = mfi_into(
                high[begin:end],
                low[begin:end],
                close[begin:end],
                volume[begin:end],
                timeperiod,
                out[begin:end],
            )
            if attempt == 1 or not np.isnan(probe):
                break
            optimistic = False
            end = next_nan4(high, low, close, volume, begin)
        fill_nan(out, pos, min(begin + timeperiod, end))
        pos = end


# ---------------------------------------------------------------- public API


def obv(real: npt.ArrayLike, volume: npt.ArrayLike) -> FloatArray:
    """On-balance volume (TA-Lib ``OBV``); no warm-up."""
    r, v = as_series_group(real=real, volume=volume)
    return new_output(len(r), obv_kernel, r, v)


def mfi(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    timeperiod: int = 14,
) -> FloatArray:
    """Money flow index (TA-Lib ``MFI``); NaN for the first ``timeperiod`` bars."""
    h, lo, c, v = as_series_group(high=high, low=low, close=close, volume=volume)
    return new_output(len(h), mfi_kernel, h, lo, c, v, check_period("timeperiod", timeperiod, 2))
