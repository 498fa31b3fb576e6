"""Technical indicators as Numba kernels with TA-Lib's names, parameters and arithmetic.

Every indicator is a ``@njit(cache=True)`` kernel on float64 NumPy arrays
(``<name>_kernel`` in its module, callable from other kernels) behind a thin Python
function with TA-Lib's name, parameter names, defaults and output order (``sma``,
``bbands``...), which validates its arguments and raises ``ValueError`` on bad input.
Outputs have the input's length; the first ``lookback`` bars are NaN exactly as in TA-Lib
(TA-Lib's Python wrapper with its default settings: no unstable period, default
compatibility). ``tests/unit/tools/test_indicators*.py`` hold them to TA-Lib within
1e-9 · max(1, |value|). ``donchian`` and ``keltner`` are not in TA-Lib; their conventions
are in their docstrings.

NaN inside the input
--------------------
A bar where any input is NaN splits the series: the output is NaN at that bar, and the
indicator restarts after it with a fresh warm-up, as if the series began there. In other
words each NaN-free run is computed exactly as TA-Lib computes that run alone, and leading
NaNs are skipped exactly as TA-Lib's Python wrapper skips them. (An all-NaN input gives
an all-NaN output.) TA-Lib itself is not consistent here — its C loops let an interior
NaN poison running sums forever (SMA, EMA, BBANDS, ATR), turn RSI into 0.0 for every
later bar, or silently drop the bar after the NaN from MAX/MIN — so a missing bar would
turn into a permanent or misleading signal; the restart rule keeps a gap local.

Panel
-----
``panel(open_, high, low, close, volume, [IndicatorSpec("rsi", {"timeperiod": 14}), ...])``
computes several indicators on (symbols × bars) arrays in one call, parallel over symbols,
with the same kernels (module ``tools.indicators._panel``).

Loading
-------
Importing this package loads no kernel module: each name is imported from its module on
first use (PEP 562 ``__getattr__``), so ``from tools.indicators import atr`` loads only
``volatility`` and its Numba kernels, not the other indicators or the panel.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real signatures for type checkers; at run time, see __getattr__
    from tools.indicators._panel import IndicatorSpec, panel
    from tools.indicators.bollinger import bbands
    from tools.indicators.channels import donchian, keltner
    from tools.indicators.directional import adx, minus_di, plus_di
    from tools.indicators.momentum import macd, mom, roc, rsi
    from tools.indicators.moving_averages import dema, ema, kama, sma, tema, wma
    from tools.indicators.oscillators import cci, stoch, willr
    from tools.indicators.volatility import atr, natr, trange
    from tools.indicators.volume import mfi, obv

# The indicator functions (what ``panel`` accepts as ``IndicatorSpec.indicator``).
INDICATOR_NAMES: tuple[str, ...] = (
    "adx",
    "atr",
    "bbands",
    "cci",
    "dema",
    "donchian",
    "ema",
    "kama",
    "keltner",
    "macd",
    "mfi",
    "minus_di",
    "mom",
    "natr",
    "obv",
    "plus_di",
    "roc",
    "rsi",
    "sma",
    "stoch",
    "tema",
    "trange",
    "willr",
    "wma",
)

# Public name -> the module (in this package) that defines it.
_MODULE_OF: dict[str, str] = {
    "bbands": "bollinger",
    "donchian": "channels",
    "keltner": "channels",
    "adx": "directional",
    "minus_di": "directional",
    "plus_di": "directional",
    "macd": "momentum",
    "mom": "momentum",
    "roc": "momentum",
    "rsi": "momentum",
    "dema": "moving_averages",
    "ema": "moving_averages",
    "kama": "moving_averages",
    "sma": "moving_averages",
    "tema": "moving_averages",
    "wma": "moving_averages",
    "cci": "oscillators",
    "stoch": "oscillators",
    "willr": "oscillators",
    "IndicatorSpec": "_panel",
    "panel": "_panel",
    "atr": "volatility",
    "natr": "volatility",
    "trange": "volatility",
    "mfi": "volume",
    "obv": "volume",
}

# Every key of _MODULE_OF plus INDICATOR_NAMES (a test holds them together).
__all__ = [
    "INDICATOR_NAMES",
    "IndicatorSpec",
    "adx",
    "atr",
    "bbands",
    "cci",
    "dema",
    "donchian",
    "ema",
    "kama",
    "keltner",
    "macd",
    "mfi",
    "minus_di",
    "mom",
    "natr",
    "obv",
    "panel",
    "plus_di",
    "roc",
    "rsi",
    "sma",
    "stoch",
    "tema",
    "trange",
    "willr",
    "wma",
]


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use and keep it here (PEP 562)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
