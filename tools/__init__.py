"""Deterministic Numba tools: indicators, risk kernels, simulation, sizing, strategies.

Kernels take NumPy arrays and scalars only (no pydantic, no I/O, no LLM) and import
nothing but ``core`` and NumPy/Numba; thin typed Python wrappers validate arguments.

Importing ``tools`` loads nothing else: each subpackage or module (``tools.indicators``,
``tools.backtest``...) is imported on first attribute access (PEP 562 ``__getattr__``)
or by an explicit ``import tools.<name>``, so a command pays only for the kernels it uses.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def __getattr__(name: str) -> ModuleType:
    """``tools.<name>``: import the submodule on first use (PEP 562)."""
    if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")
