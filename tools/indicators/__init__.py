"""Technical indicators as Numba kernels with TA-Lib's names, parameters and arithmetic."""

from tools.indicators.channels import donchian, keltner
from tools.indicators.momentum import macd, rsi
from tools.indicators.moving_averages import dema, ema, kama, sma, tema, wma
from tools.indicators.volatility import atr, bbands, natr, trange

__all__ = [
    "atr",
    "bbands",
    "dema",
    "donchian",
    "ema",
    "kama",
    "keltner",
    "macd",
    "natr",
    "rsi",
    "sma",
    "tema",
    "trange",
    "wma",
]
