"""Rolling window maximum and minimum in O(1) per bar (van Herk / Gil-Werman).

The series is cut into blocks of ``period`` bars. A window ending inside a block spans
the tail of the previous block and the head of this one, so its extreme is the larger of
a suffix extreme of the older block and a prefix extreme of the newer one. TA-Lib 0.6+
computes MAX, MIN and WILLR the same way; on NaN-free input the result is the exact
window extreme whatever the algorithm, so outputs match TA-Lib bit for bit.
"""

from __future__ import annotations

import numpy as np

from tools.indicators._common import FloatArray
from tools.indicators._jit import kernel


@kernel
def rolling_max_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """``out[i] = max(x[i-period+1 .. i])`` for ``i >= period - 1``."""
    n = x.shape[0]
    suffix = np.empty(period, dtype=np.float64)
    block = 0
    while block + period - 1 < n:
        last = block + period - 1
        best = x[last]
        suffix[period - 1] = best
        for i in range(last - 1, block - 1, -1):
            value = x[i]
            best = value if value > best else best
            suffix[i - block] = best
        out[last] = best
        following = block + period
        available = min(period - 1, n - following)
        best = -np.inf
        for m in range(1, available + 1):
            value = x[following + m - 1]
            best = value if value > best else best
            older = suffix[m]
            out[last + m] = older if older > best else best
        block = following


@kernel
def rolling_min_into(x: FloatArray, period: int, out: FloatArray) -> None:
    """``out[i] = min(x[i-period+1 .. i])`` for ``i >= period - 1``."""
    n = x.shape[0]
    suffix = np.empty(period, dtype=np.float64)
    block = 0
    while block + period - 1 < n:
        last = block + period - 1
        best = x[last]
        suffix[period - 1] = best
        for i in range(last - 1, block - 1, -1):
            value = x[i]
            best = value if value < best else best
            suffix[i - block] = best
        out[last] = best
        following = block + period
        available = min(period - 1, n - following)
        best = np.inf
        for m in range(1, available + 1):
            value = x[following + m - 1]
            best = value if value < best else best
            older = suffix[m]
            out[last + m] = older if older < best else best
        block = following
