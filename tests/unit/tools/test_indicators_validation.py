"""Argument validation of the public indicator functions (plain Python, before a kernel).

Period minima are TA-Lib's own: each one is checked against TA-Lib refusing the value
just below it and accepting it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import talib

import tools.indicators as ti

CLOSE = 100.0 + np.cumsum(np.random.default_rng(3).normal(0.0, 1.0, 120))
HIGH = CLOSE + 1.0
LOW = CLOSE - 1.0
VOLUME = np.full(120, 1000.0)
INPUTS: dict[str, tuple[np.ndarray, ...]] = {
    "real": (CLOSE,),
    "hl": (HIGH, LOW),
    "hlc": (HIGH, LOW, CLOSE),
    "hlcv": (HIGH, LOW, CLOSE, VOLUME),
}

# (our function, TA-Lib function or None, inputs, period parameter, TA-Lib's minimum)
PERIOD_MINIMA: list[tuple[Callable[..., Any], Callable[..., Any] | None, str, str, int]] = [
    (ti.sma, talib.SMA, "real", "timeperiod", 1),
    (ti.ema, talib.EMA, "real", "timeperiod", 1),
    (ti.wma, talib.WMA, "real", "timeperiod", 1),
    (ti.dema, talib.DEMA, "real", "timeperiod", 1),
    (ti.tema, talib.TEMA, "real", "timeperiod", 1),
    (ti.kama, talib.KAMA, "real", "timeperiod", 1),
    (ti.rsi, talib.RSI, "real", "timeperiod", 2),
    (ti.macd, talib.MACD, "real", "fastperiod", 2),
    (ti.macd, talib.MACD, "real", "slowperiod", 2),
    (ti.macd, talib.MACD, "real", "signalperiod", 1),
    (ti.bbands, talib.BBANDS, "real", "timeperiod", 2),
    (ti.atr, talib.ATR, "hlc", "timeperiod", 1),
    (ti.natr, talib.NATR, "hlc", "timeperiod", 1),
    (ti.adx, talib.ADX, "hlc", "timeperiod", 2),
    (ti.plus_di, talib.PLUS_DI, "hlc", "timeperiod", 1),
    (ti.minus_di, talib.MINUS_DI, "hlc", "timeperiod", 1),
    (ti.cci, talib.CCI, "hlc", "timeperiod", 2),
    (ti.stoch, talib.STOCH, "hlc", "fastk_period", 1),
    (ti.stoch, talib.STOCH, "hlc", "slowk_period", 1),
    (ti.stoch, talib.STOCH, "hlc", "slowd_period", 1),
    (ti.willr, talib.WILLR, "hlc", "timeperiod", 2),
    (ti.roc, talib.ROC, "real", "timeperiod", 1),
    (ti.mom, talib.MOM, "real", "timeperiod", 1),
    (ti.mfi, talib.MFI, "hlcv", "timeperiod", 2),
    (ti.donchian, None, "hl", "timeperiod", 1),
    (ti.keltner, None, "hlc", "timeperiod", 1),
    (ti.keltner, None, "hlc", "atr_period", 1),
]
PERIOD_IDS = [f"{fn.__name__}-{param}" for fn, _, _, param, _ in PERIOD_MINIMA]


@pytest.mark.parametrize(
    ("ours", "oracle", "inputs", "param", "minimum"), PERIOD_MINIMA, ids=PERIOD_IDS
)
def test_period_when_below_talib_minimum_then_value_error_naming_it(
    ours: Callable[..., Any],
    oracle: Callable[..., Any] | None,
    inputs: str,
    param: str,
    minimum: int,
) -> None:
    args = INPUTS[inputs]
    with pytest.raises(ValueError, match=param):
        ours(*args, **{param: minimum - 1})
    ours(*args, **{param: minimum})
    if oracle is not None:
        with pytest.raises(Exception, match="Bad Parameter"):
            oracle(*args, **{param: minimum - 1})
        oracle(*args, **{param: minimum})


@pytest.mark.parametrize("bad", [2.5, "14", True, None, 100_001])
def test_period_when_not_an_integer_in_range_then_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="timeperiod"):
        ti.rsi(CLOSE, bad)  # type: ignore[arg-type]


def test_period_when_numpy_integer_then_accepted() -> None:
    np.testing.assert_array_equal(ti.sma(CLOSE, np.int64(5)), ti.sma(CLOSE, 5))


@pytest.mark.parametrize(("matype", "name"), [(5, "TRIMA"), (7, "MAMA"), (8, "T3")])
def test_matype_when_talib_type_not_implemented_then_value_error_naming_it(
    matype: int, name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        ti.bbands(CLOSE, 10, matype=matype)
    with pytest.raises(ValueError, match="slowd_matype"):
        ti.stoch(HIGH, LOW, CLOSE, slowd_matype=matype)


@pytest.mark.parametrize("matype", [-1, 9, 1.0])
def test_matype_when_not_a_talib_type_then_value_error(matype: object) -> None:
    with pytest.raises(ValueError, match="matype"):
        ti.bbands(CLOSE, 10, matype=matype)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.nan, np.inf, "2"])
def test_multiplier_when_not_finite_number_then_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="nbdevup"):
        ti.bbands(CLOSE, 10, nbdevup=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multiplier"):
        ti.keltner(HIGH, LOW, CLOSE, multiplier=bad)  # type: ignore[arg-type]


def test_input_when_two_dimensional_then_value_error() -> None:
    with pytest.raises(ValueError, match="1-D"):
        ti.sma(np.ones((3, 40)), 5)


def test_input_when_not_numeric_then_value_error() -> None:
    with pytest.raises(ValueError, match="real"):
        ti.ema(["a", "b", "c"], 2)


def test_inputs_when_lengths_differ_then_value_error_listing_them() -> None:
    with pytest.raises(ValueError, match=r"high=120, low=119, close=120"):
        ti.atr(HIGH, LOW[:-1], CLOSE)


def test_input_when_integers_or_list_then_converted_to_float64() -> None:
    integers = np.arange(1, 60)
    np.testing.assert_array_equal(ti.sma(integers, 5), ti.sma(integers.astype(float), 5))
    np.testing.assert_allclose(ti.sma(integers, 5), talib.SMA(integers.astype(float), 5))
    np.testing.assert_array_equal(
        ti.obv(list(CLOSE), VOLUME.astype(np.int64)), talib.OBV(CLOSE, VOLUME)
    )


def test_input_when_strided_view_then_same_as_contiguous_copy() -> None:
    strided = CLOSE[::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(ti.rsi(strided, 5), ti.rsi(strided.copy(), 5))


def test_input_when_float32_then_computed_in_float64() -> None:
    single = CLOSE.astype(np.float32)
    result = ti.ema(single, 10)
    assert result.dtype == np.float64
    widened = single.astype(np.float64)
    np.testing.assert_array_equal(result, ti.ema(widened, 10))
    np.testing.assert_allclose(result, talib.EMA(widened, 10), rtol=1e-12)
