"""Typed wrappers around ``numba.njit`` so ``mypy --strict`` keeps each kernel's signature.

Numba ships no type information, so ``@numba.njit`` would erase a kernel's signature to
``Any``. These helpers compile exactly as ``@njit(cache=True)`` (nopython mode, on-disk
cache) and hand the decorated function back to the type checker unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def kernel(fn: F) -> F:
    """``@njit(cache=True)``: a nopython kernel compiled once and cached on disk."""
    return cast(F, numba.njit(cache=True)(fn))


def parallel_kernel(fn: F) -> F:
    """``@njit(cache=True, parallel=True)``: ``numba.prange`` loops run in threads."""
    return cast(F, numba.njit(cache=True, parallel=True)(fn))
