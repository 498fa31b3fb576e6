"""Shared pieces of the indicator kernels: NaN runs, TA-Lib's zero tests, validation.

NaN rule (see the package docstring): every kernel computes each run of bars where no
input is NaN as TA-Lib would compute that run alone; gaps and each run's warm-up are NaN
(``fill_nan``). To cost nothing on clean data, a kernel first runs its core from the
first valid bar to the end: each core returns a *probe*, a value that is NaN exactly when
it read a NaN (a NaN-sticky running state, or a running sum of its inputs). Only then
does it cut the series at NaNs (``next_valid*`` / ``next_nan*``) and recompute run by
run. The validation helpers run in plain Python, before a kernel is called.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from tools.indicators._jit import inline_kernel, kernel

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


@inline_kernel
def is_zero(value: float) -> bool:
    """TA-Lib's ``TA_IS_ZERO``: within 1e-14 of zero (False for NaN)."""
    return -TA_EPSILON < value < TA_EPSILON


@inline_kernel
def is_zero_scaled(value: float, scale: float) -> bool:
    """TA-Lib's ``TA_IS_ZERO_SCALED``: ``|value| <= 1e-14 · scale`` (a relative dead-zone)."""
    return abs(value) <= TA_EPSILON * scale


@kernel
def next_valid1(a: FloatArray, start: int) -> int:
    """First index >= ``start`` where ``a`` is not NaN; ``len(a)`` when there is none."""
    n: int = len(a)
    i = start
    while i < n and np.isnan(a[i]):
        i += 1
    return i


@kernel
def next_nan1(a: FloatArray, start: int) -> int:
    """First index >= ``start`` where ``a`` is NaN; ``len(a)`` when there is none."""
    n: int = len(a)
    i = start
    while i < n and not np.isnan(a[i]):
        i += 1
    return i


@kernel
def next_valid2(a: FloatArray, b: FloatArray, start: int) -> int:
    n: int = len(a)
    i = start
    while i < n and (np.isnan(a[i]) or np.isnan(b[i])):
        i += 1
    return i


@kernel
def next_nan2(a: FloatArray, b: FloatArray, start: int) -> int:
    n: int = len(a)
    i = start
    while i < n and not (np.isnan(a[i]) or np.isnan(b[i])):
        i += 1
    return i


@kernel
def next_valid3(a: FloatArray, b: FloatArray, c: FloatArray, start: int) -> int:
    n: int = len(a)
    i = start
    while i < n and (np.isnan(a[i]) or np.isnan(b[i]) or np.isnan(c[i])):
        i += 1
    return i


@kernel
def next_nan3(a: FloatArray, b: FloatArray, c: FloatArray, start: int) -> int:
    n: int = len(a)
    i = start
    while i < n and not (np.isnan(a[i]) or np.isnan(b[i]) or np.isnan(c[i])):
        i += 1
    return i


@kernel
def next_valid4(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray, start: int) -> int:
    n: int = len(a)
    i = start
    while i < n and (np.isnan(a[i]) or np.isnan(b[i]) or np.isnan(c[i]) or np.isnan(d[i])):
        i += 1
    return i


@kernel
def next_nan4(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray, start: int) -> int:
    n: int = len(a)
    i = start
    while i < n and not (np.isnan(a[i]) or np.isnan(b[i]) or np.isnan(c[i]) or np.isnan(d[i])):
        i += 1
    return i


@kernel
def fill_nan(out: FloatArray, start: int, stop: int) -> None:
    """NaN into ``out[start:stop]`` (gaps and warm-ups between computed runs)."""
    for i in range(start, stop):
        out[i] = np.nan


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


def new_output(n: int, kernel: Callable[..., None], *args: object) -> FloatArray:
    """Run a single-output kernel into a fresh array of ``n`` bars: the one place every
    public wrapper allocates its result (kernels write into ``out``, never allocate)."""
    out = np.empty(n)
    kernel(*args, out)
    return out


def new_outputs(n: int, count: int) -> tuple[FloatArray, ...]:
    """``count`` outputs of ``n`` bars for a multi-output wrapper, carved from one block.

    One allocation instead of ``count``: each output is a C-contiguous row view of a
    (count × n) array. Besides the saved calls, on million-bar series glibc then keeps
    the block's memory between calls instead of returning it to the OS and faulting it
    in again (separate arrays whose total passes its trim threshold are given back on
    every call). The rows share one buffer: it is freed when the last row is released.
    """
    return tuple(np.empty((count, n)))


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
