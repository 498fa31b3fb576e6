"""What the panel needs to know about each indicator: inputs, parameters, outputs, code.

The integer ``code`` is what the parallel panel kernel dispatches on; parameters travel
to it as one float64 row per spec, in the order listed here (TA-Lib's order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from tools.indicators._common import check_matype, check_period, check_real


class ParamKind(Enum):
    PERIOD = "period"
    REAL = "real"
    MATYPE = "matype"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: int | float
    kind: ParamKind = ParamKind.PERIOD
    minimum: int = 1

    def check(self, value: object) -> float:
        """The validated value as a float (periods and MA types stay whole numbers)."""
        if self.kind is ParamKind.PERIOD:
            return float(check_period(self.name, value, self.minimum))  # type: ignore[arg-type]
        if self.kind is ParamKind.MATYPE:
            return float(check_matype(self.name, value))  # type: ignore[arg-type]
        return check_real(self.name, value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class IndicatorInfo:
    code: int
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    outputs: tuple[str, ...]


HLC = ("high", "low", "close")
CLOSE = ("close",)
REAL = ("real",)


def _period(default: int, minimum: int = 1, name: str = "timeperiod") -> Param:
    return Param(name, default, ParamKind.PERIOD, minimum)


# Codes are stable small integers: the panel kernel's dispatch switches on them.
SMA, EMA, WMA, DEMA, TEMA, KAMA = 0, 1, 2, 3, 4, 5
RSI, MACD, ROC, MOM = 6, 7, 8, 9
BBANDS, ATR, NATR, TRANGE = 10, 11, 12, 13
ADX, PLUS_DI, MINUS_DI = 14, 15, 16
CCI, STOCH, WILLR = 17, 18, 19
OBV, MFI = 20, 21
DONCHIAN, KELTNER = 22, 23
MAX_PARAMS = 5

INDICATORS: Mapping[str, IndicatorInfo] = MappingProxyType(
    {
        "sma": IndicatorInfo(SMA, CLOSE, (_period(30),), REAL),
        "ema": IndicatorInfo(EMA, CLOSE, (_period(30),), REAL),
        "wma": IndicatorInfo(WMA, CLOSE, (_period(30),), REAL),
        "dema": IndicatorInfo(DEMA, CLOSE, (_period(30),), REAL),
        "tema": IndicatorInfo(TEMA, CLOSE, (_period(30),), REAL),
        "kama": IndicatorInfo(KAMA, CLOSE, (_period(30),), REAL),
        "rsi": IndicatorInfo(RSI, CLOSE, (_period(14, 2),), REAL),
        "macd": IndicatorInfo(
            MACD,
            CLOSE,
            (
                _period(12, 2, "fastperiod"),
                _period(26, 2, "slowperiod"),
                _period(9, 1, "signalperiod"),
            ),
            ("macd", "macdsignal", "macdhist"),
        ),
        "roc": IndicatorInfo(ROC, CLOSE, (_period(10),), REAL),
        "mom": IndicatorInfo(MOM, CLOSE, (_period(10),), REAL),
        "bbands": IndicatorInfo(
            BBANDS,
            CLOSE,
            (
                _period(20, 2),
                Param("nbdevup", 2.0, ParamKind.REAL),
                Param("nbdevdn", 2.0, ParamKind.REAL),
                Param("matype", 0, ParamKind.MATYPE),
            ),
            ("upperband", "middleband", "lowerband"),
        ),
        "atr": IndicatorInfo(ATR, HLC, (_period(14),), REAL),
        "natr": IndicatorInfo(NATR, HLC, (_period(14),), REAL),
        "trange": IndicatorInfo(TRANGE, HLC, (), REAL),
        "adx": IndicatorInfo(ADX, HLC, (_period(14, 2),), REAL),
        "plus_di": IndicatorInfo(PLUS_DI, HLC, (_period(14),), REAL),
        "minus_di": IndicatorInfo(MINUS_DI, HLC, (_period(14),), REAL),
        "cci": IndicatorInfo(CCI, HLC, (_period(14, 2),), REAL),
        "stoch": IndicatorInfo(
            STOCH,
            HLC,
            (
                _period(5, 1, "fastk_period"),
                _period(3, 1, "slowk_period"),
                Param("slowk_matype", 0, ParamKind.MATYPE),
                _period(3, 1, "slowd_period"),
                Param("slowd_matype", 0, ParamKind.MATYPE),
            ),
            ("slowk", "slowd"),
        ),
        "willr": IndicatorInfo(WILLR, HLC, (_period(14, 2),), REAL),
        "obv": IndicatorInfo(OBV, ("close", "volume"), (), REAL),
        "mfi": IndicatorInfo(MFI, (*HLC, "volume"), (_period(14, 2),), REAL),
        "donchian": IndicatorInfo(
            DONCHIAN, ("high", "low"), (_period(20),), ("upper", "middle", "lower")
        ),
        "keltner": IndicatorInfo(
            KELTNER,
            HLC,
            (
                _period(20),
                _period(10, 1, "atr_period"),
                Param("multiplier", 2.0, ParamKind.REAL),
            ),
            ("upper", "middle", "lower"),
        ),
    }
)
