"""Typed wrappers around ``numba.njit`` so ``mypy --strict`` keeps each kernel's signature.

Numba ships no type information, so ``@numba.njit`` would erase a kernel's signature to
``Any``. These helpers compile exactly as ``@njit(cache=True)`` (nopython mode, on-disk
cache) and hand the decorated function back to the type checker unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

F = TypeVar("F", bound=Callable[..., Any])


def kernel(fn: F) -> F:
    """``@njit(cache=True)``: a nopython kernel compiled once and cached on disk.

    ``error_model="numpy"``: a float division is IEEE division (no zero check, so loops
    can vectorise); every division in the kernels is by a period or behind TA-Lib's
    guards, so Python's ZeroDivisionError was never the intended outcome.
    """
    return cast(F, numba.njit(cache=True, error_model="numpy")(fn))


def inline_kernel(fn: F) -> F:
    """A small kernel helper inlined into its callers at Numba IR level.

    Helpers called per bar with array arguments must be inlined: a real call would
    increment and decrement each array's reference count on every bar.
    """
    return cast(F, numba.njit(cache=True, inline="always", error_model="numpy")(fn))


def parallel_kernel(fn: F) -> F:
    """``@njit(cache=True, parallel=True)``: ``numba.prange`` loops run in threads."""
    return cast(F, numba.njit(cache=True, parallel=True, error_model="numpy")(fn))


def _fma_intrinsic(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """``llvm.fma.f64``: one rounding for ``a * b + c`` (a single instruction on FMA CPUs)."""
    signature = types.float64(types.float64, types.float64, types.float64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        double = ir.DoubleType()
        function_type = ir.FunctionType(double, [double, double, double])
        function = builder.module.declare_intrinsic("llvm.fma", [double], function_type)
        return builder.call(function, args)

    return signature, codegen


# Usable inside kernels only. TA-Lib's C library uses the same fused multiply-add in its
# Wilder and EMA recurrences on FMA hardware; fusing here keeps results bit-identical.
fma = cast(Callable[[float, float, float], float], intrinsic(_fma_intrinsic))
