"""Rolling window maximum and minimum in O(1) per bar (van Herk / Gil-Werman).

The series is cut into blocks of ``period`` bars. A window ending inside a block spans
the tail of the previous block and the head of this one, so its extreme is the larger of
a suffix extreme of the older block and a prefix extreme of the newer one. TA-Lib 0.6+
computes MAX, MIN and WILLR the same way; on NaN-free input the result is the exact
window extreme whatever the algorithm, so outputs match TA-Lib bit for bit.

``window_extrema_into`` scans ``high`` for maxima and ``low`` for minima in the same
passes and hands each window to a small ``finish`` step chosen by ``mode``: the raw
extremes (Donchian), Williams' %R, or the stochastic's fast %K. It returns NaN when any
input it read was NaN (the package's probe rule), else 0.0.
"""

from __future__ import annotations

import numpy as np

from tools.indicators._common import FloatArray, is_zero_scaled
from tools.indicators._jit import inline_kernel, kernel

MODE_DONCHIAN = 0  # first = highest high, second = lowest low, third = their midpoint
MODE_WILLR = 1  # first = Williams' %R
MODE_FASTK = 2  # first = fast %K


@inline_kernel
def williams_r(top: float, bottom: float, close: float) -> float:
    """TA-Lib's WILLR of one window: 0 when flat, else clamped to [−100, 0]."""
    spread = top - bottom
    if is_zero_scaled(spread, abs(top) + abs(bottom)):
        return 0.0
    position = ((top - close) / spread) * -100.0
    position = 0.0 if position > 0.0 else position
    return -100.0 if position < -100.0 else position


@inline_kernel
def fast_k(top: float, bottom: float, close: float) -> float:
    """TA-Lib's fast %K of one window: 0 when flat."""
    spread = top - bottom
    if is_zero_scaled(spread, abs(top) + abs(bottom)):
        return 0.0
    return ((close - bottom) / spread) * 100.0


@kernel
def window_extrema_into(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    period: int,
    mode: int,
    first: FloatArray,
    second: FloatArray,
    third: FloatArray,
) -> float:
    """Highest ``high`` / lowest ``low`` of each ``period``-bar window, finished by ``mode``.

    Writes bars ``period - 1`` onwards. ``close`` is read for the %R and %K modes and
    probed for NaN in every mode (Donchian passes ``high`` again).
    The three forward loops are spelled out per mode so each stays a tight loop.
    """
    n = high.shape[0]
    if n < period:
        return 0.0
    suffix_high = np.empty(period, dtype=np.float64)
    suffix_low = np.empty(period, dtype=np.float64)
    bad = False
    block = 0
    # Indices are cast to unsigned: Numba then emits no negative-index wraparound code,
    # which would cost more than the comparisons here (slice views per block would cost
    # reference-count traffic instead).
    while block + period - 1 < n:
        # Suffix extremes of the block [block, last], which every bar belongs to once.
        last = block + period - 1
        top = -np.inf
        bottom = np.inf
        for k in range(period - 1, -1, -1):
            at = np.uint64(block + k)
            value = high[at]
            top = value if value > top else top
            other = low[at]
            bottom = other if other < bottom else bottom
            suffix_high[k] = top
            suffix_low[k] = bottom
        # The NaN probe, apart from the scan above so that both loops stay tight (this
        # one vectorises); Donchian passes ``high`` as ``close``, which needs no check.
        if mode == MODE_DONCHIAN:
            for k in range(period):
                at = np.uint64(block + k)
                bad |= (high[at] != high[at]) | (low[at] != low[at])
        else:
            for k in range(period):
                at = np.uint64(block + k)
                bad |= (high[at] != high[at]) | (low[at] != low[at]) | (close[at] != close[at])
        following = block + period
        available = min(period - 1, n - following)
        if mode == MODE_DONCHIAN:
            first[last] = top
            second[last] = bottom
            third[last] = (top + bottom) / 2.0
        elif mode == MODE_WILLR:
            first[last] = williams_r(top, bottom, close[last])
        else:
            first[last] = fast_k(top, bottom, close[last])
        # Windows ending in the next block: older suffix joined with a growing prefix.
        top = -np.inf
        bottom = np.inf
        if mode == MODE_DONCHIAN:
            for m in range(available):
                at = np.uint64(following + m)
                value = high[at]
                top = value if value > top else top
                other = low[at]
                bottom = other if other < bottom else bottom
                older = suffix_high[m + 1]
                window_top = older if older > top else top
                older = suffix_low[m + 1]
                window_bottom = older if older < bottom else bottom
                first[at] = window_top
                second[at] = window_bottom
                third[at] = (window_top + window_bottom) / 2.0
        elif mode == MODE_WILLR:
            for m in range(available):
                at = np.uint64(following + m)
                value = high[at]
                top = value if value > top else top
                other = low[at]
                bottom = other if other < bottom else bottom
                older = suffix_high[m + 1]
                window_top = older if older > top else top
                older = suffix_low[m + 1]
                window_bottom = older if older < bottom else bottom
                first[at] = williams_r(window_top, window_bottom, close[at])
        else:
            for m in range(available):
                at = np.uint64(following + m)
                value = high[at]
                top = value if value > top else top
                other = low[at]
                bottom = other if other < bottom else bottom
                older = suffix_high[m + 1]
                window_top = older if older > top else top
                older = suffix_low[m + 1]
                window_bottom = older if older < bottom else bottom
                first[at] = fast_k(window_top, window_bottom, close[at])
        block = following
    # The bars after the last full block were read only by the forward scans above.
    for i in range(block, n):
        bad |= np.isnan(high[i]) | np.isnan(low[i]) | np.isnan(close[i])
    return np.nan if bad else 0.0
