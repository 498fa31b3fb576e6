"""Shared pieces of the indicator kernels: TA-Lib's start rule, zero tests and validation.

TA-Lib's Python wrapper skips leading NaNs: it finds the first bar where *every* input is
not NaN (``check_begidx``; the last bar if there is none) and runs the C function from
there, so the warm-up NaNs end at ``begin + lookback``. The ``first_valid*`` kernels
reproduce that rule. The validation helpers run in plain Python, before a kernel is called.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tools.indicators._jit import kernel

FloatArray = npt.NDArray[np.float64]

# TA-Lib's TA_IS_ZERO / TA_IS_ZERO_OR_NEG threshold (ta_func/ta_utility.h).
TA_EPSILON = 0.00000000000001

# TA-Lib's MA types (TA_MAType); the ones our MA dispatch implements.
MA_SMA = 0
MA_EMA = 1
MA_WMA = 2
MA_DEMA = 3
MA_TEMA = 4
MA_KAMA = 6
SUPPORTED_MATYPES: dict[int, str] = {
    MA_SMA: "SMA",
    MA_EMA: "EMA",
    MA_WMA: "WMA",
    MA_DEMA: "DEMA",
    MA_TEMA: "TEMA",
    MA_KAMA: "KAMA",
}
UNSUPPORTED_MATYPES: dict[int, str] = {5: "TRIMA", 7: "MAMA", 8: "T3"}


@kernel
def is_zero(value: float) -> bool:
    """TA-Lib's ``TA_IS_ZERO``: within 1e-14 of zero (False for NaN)."""
    return -TA_EPSILON < value < TA_EPSILON


@kernel
def first_valid1(a: FloatArray) -> int:
    """First index where ``a`` is not NaN; the last index when there is none (TA-Lib rule)."""
    n: int = len(a)
    for i in range(n):
        if not np.isnan(a[i]):
            return i
    return n - 1


@kernel
def first_valid2(a: FloatArray, b: FloatArray) -> int:
    """First index where neither input is NaN; the last index when there is none."""
    n: int = len(a)
    for i in range(n):
        if not (np.isnan(a[i]) or np.isnan(b[i])):
            return i
    return n - 1


@kernel
def first_valid3(a: FloatArray, b: FloatArray, c: FloatArray) -> int:
    """First index where no input is NaN; the last index when there is none."""
    n: int = len(a)
    for i in range(n):
        if not (np.isnan(a[i]) or np.isnan(b[i]) or np.isnan(c[i])):
            return i
    return n - 1


@kernel
def first_valid4(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray) -> int:
    """First index where no input is NaN; the last index when there is none."""
    n: int = len(a)
    for i in range(n):
        if not (np.isnan(a[i]) or np.isnan(b[i]) or np.isnan(c[i]) or np.isnan(d[i])):
            return i
    return n - 1


@kernel
def nan_output(n: int, n_nan: int) -> FloatArray:
    """An uninitialised output of length ``n`` whose first ``n_nan`` values are NaN."""
    out = np.empty(n, dtype=np.float64)
    out[: min(n_nan, n)] = np.nan
    return out


def as_series(values: npt.ArrayLike, name: str) -> FloatArray:
    """A 1-D contiguous float64 array from ``values`` (copied only when needed)."""
    try:
        array = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a 1-D array of numbers ({exc})") from exc
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got {array.ndim} dimensions")
    return array


def as_series_group(**named: npt.ArrayLike) -> list[FloatArray]:
    """Several inputs of one indicator: each 1-D float64, all of the same length."""
    arrays = [as_series(values, name) for name, values in named.items()]
    lengths = {name: len(a) for name, a in zip(named, arrays, strict=True)}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"inputs must have the same length: {detail}")
    return arrays


def check_period(name: str, value: int, minimum: int) -> int:
    """An integer period within TA-Lib's range ``[minimum, 100000]``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not minimum <= int(value) <= 100_000:
        raise ValueError(f"{name} must be between {minimum} and 100000, got {value}")
    return int(value)


def check_real(name: str, value: float) -> float:
    """A finite float parameter (multipliers, deviations)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    result = float(value)
    if not np.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value}")
    return result


def check_matype(name: str, value: int) -> int:
    """A moving-average type this package implements (TA-Lib numbering)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer MA type, got {value!r}")
    code = int(value)
    if code in SUPPORTED_MATYPES:
        return code
    supported = ", ".join(f"{k}={v}" for k, v in SUPPORTED_MATYPES.items())
    if code in UNSUPPORTED_MATYPES:
        raise ValueError(
            f"{name}={code} ({UNSUPPORTED_MATYPES[code]}) is not implemented; "
            f"supported: {supported}"
        )
    raise ValueError(f"{name}={code} is not a TA-Lib MA type; supported: {supported}")
