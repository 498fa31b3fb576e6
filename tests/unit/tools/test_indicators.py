"""TA-Lib is the oracle: every indicator, on the shipped data and on generated series.

After the lookback, |ours − TA-Lib| ≤ 1e-9 · max(1, |TA-Lib|), and the NaN positions are
identical. ``donchian`` and ``keltner`` are checked against their TA-Lib building blocks
(MAX/MIN, EMA/ATR).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from talib import abstract as talib_abstract

import tools.indicators as ti
from tests.unit.tools.conftest import DailyBars

FloatArray = npt.NDArray[np.float64]
Outputs = tuple[FloatArray, ...]
RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Series:
    """OHLCV columns of one test series (from the shipped data or generated)."""

    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def take(self, names: tuple[str, ...]) -> list[FloatArray]:
        return [getattr(self, name) for name in names]


@dataclass(frozen=True)
class Case:
    """One indicator: our function, its TA-Lib oracle, inputs, parameter sets to try."""

    name: str
    ours: Callable[..., Any]
    oracle: Callable[..., Any]
    inputs: tuple[str, ...]
    params: tuple[Mapping[str, Any], ...] = field(default=({},))

    def run(self, series: Series, params: Mapping[str, Any]) -> tuple[Outputs, Outputs]:
        args = series.take(self.inputs)
        return as_outputs(self.ours(*args, **params)), as_outputs(self.oracle(*args, **params))


def as_outputs(result: Any) -> Outputs:
    return tuple(result) if isinstance(result, tuple | list) else (result,)


def donchian_oracle(high: FloatArray, low: FloatArray, timeperiod: int = 20) -> Outputs:
    upper = talib.MAX(high, timeperiod)
    lower = talib.MIN(low, timeperiod)
    return upper, (upper + lower) / 2.0, lower


def keltner_oracle(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    timeperiod: int = 20,
    atr_period: int = 10,
    multiplier: float = 2.0,
) -> Outputs:
    middle = talib.EMA(close, timeperiod)
    width = multiplier * talib.ATR(high, low, close, atr_period)
    middle = np.where(np.isnan(width), np.nan, middle)
    return middle + width, middle, middle - width


HLC = ("high", "low", "close")
CASES: tuple[Case, ...] = (
    Case(
        "sma",
        ti.sma,
        talib.SMA,
        ("close",),
        ({}, {"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 20}),
    ),
    Case(
        "ema",
        ti.ema,
        talib.EMA,
        ("close",),
        ({}, {"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 12}),
    ),
    Case(
        "wma",
        ti.wma,
        talib.WMA,
        ("close",),
        ({}, {"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 9}),
    ),
    Case(
        "dema",
        ti.dema,
        talib.DEMA,
        ("close",),
        ({}, {"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 10}),
    ),
    Case(
        "tema",
        ti.tema,
        talib.TEMA,
        ("close",),
        ({}, {"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 7}),
    ),
    Case(
        "kama",
        ti.kama,
        talib.KAMA,
        ("close",),
        ({}, {"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 10}),
    ),
    Case("rsi", ti.rsi, talib.RSI, ("close",), ({}, {"timeperiod": 2}, {"timeperiod": 5})),
    Case(
        "macd",
        ti.macd,
        talib.MACD,
        ("close",),
        (
            {},
            {"fastperiod": 5, "slowperiod": 13, "signalperiod": 1},
            {"fastperiod": 26, "slowperiod": 12, "signalperiod": 4},
        ),
    ),
    Case(
        "bbands",
        ti.bbands,
        talib.BBANDS,
        ("close",),
        (
            {},
            {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0},
            {"timeperiod": 10, "nbdevup": 1.5, "nbdevdn": 2.5, "matype": 1},
            {"timeperiod": 8, "nbdevup": 1.0, "nbdevdn": 1.0, "matype": 2},
            {"timeperiod": 6, "matype": 3},
            {"timeperiod": 6, "matype": 4},
            {"timeperiod": 6, "matype": 6},
        ),
    ),
    Case("atr", ti.atr, talib.ATR, HLC, ({}, {"timeperiod": 1}, {"timeperiod": 5})),
    Case("natr", ti.natr, talib.NATR, HLC, ({}, {"timeperiod": 1}, {"timeperiod": 5})),
    Case("trange", ti.trange, talib.TRANGE, HLC),
    Case("adx", ti.adx, talib.ADX, HLC, ({}, {"timeperiod": 2}, {"timeperiod": 7})),
    Case("plus_di", ti.plus_di, talib.PLUS_DI, HLC, ({}, {"timeperiod": 1}, {"timeperiod": 5})),
    Case("minus_di", ti.minus_di, talib.MINUS_DI, HLC, ({}, {"timeperiod": 1}, {"timeperiod": 5})),
    Case("cci", ti.cci, talib.CCI, HLC, ({}, {"timeperiod": 2}, {"timeperiod": 20})),
    Case(
        "stoch",
        ti.stoch,
        talib.STOCH,
        HLC,
        (
            {},
            {"fastk_period": 1, "slowk_period": 1, "slowd_period": 1},
            {
                "fastk_period": 14,
                "slowk_period": 3,
                "slowk_matype": 1,
                "slowd_period": 3,
                "slowd_matype": 1,
            },
            {
                "fastk_period": 9,
                "slowk_period": 4,
                "slowk_matype": 2,
                "slowd_period": 2,
                "slowd_matype": 6,
            },
        ),
    ),
    Case("willr", ti.willr, talib.WILLR, HLC, ({}, {"timeperiod": 2}, {"timeperiod": 5})),
    Case("roc", ti.roc, talib.ROC, ("close",), ({}, {"timeperiod": 1}, {"timeperiod": 3})),
    Case("mom", ti.mom, talib.MOM, ("close",), ({}, {"timeperiod": 1}, {"timeperiod": 3})),
    Case("obv", ti.obv, talib.OBV, ("close", "volume")),
    Case("mfi", ti.mfi, talib.MFI, (*HLC, "volume"), ({}, {"timeperiod": 2}, {"timeperiod": 5})),
    Case(
        "donchian",
        ti.donchian,
        donchian_oracle,
        ("high", "low"),
        ({}, {"timeperiod": 2}, {"timeperiod": 55}),
    ),
    Case(
        "keltner",
        ti.keltner,
        keltner_oracle,
        HLC,
        (
            {},
            {"timeperiod": 5, "atr_period": 14, "multiplier": 1.5},
            {"timeperiod": 1, "atr_period": 1},
        ),
    ),
)
CASE_IDS = [case.name for case in CASES]
PARAM_CASES = [
    pytest.param(
        case,
        params,
        id=f"{case.name}-{'-'.join(f'{k}={v}' for k, v in params.items()) or 'defaults'}",
    )
    for case in CASES
    for params in case.params
]


def assert_matches_oracle(ours: Outputs, reference: Outputs, context: str = "") -> None:
    """Same shape, same NaN positions, values within 1e-9 · max(1, |reference|)."""
    assert len(ours) == len(reference), context
    for index, (mine, ref) in enumerate(zip(ours, reference, strict=True)):
        label = f"{context} output {index}"
        assert mine.dtype == np.float64, label
        assert mine.shape == ref.shape, label
        nan_mine, nan_ref = np.isnan(mine), np.isnan(ref)
        mismatched = np.flatnonzero(nan_mine != nan_ref)
        assert mismatched.size == 0, f"{label}: NaN positions differ at {mismatched[:10]}"
        valid = ~nan_ref
        error = np.abs(mine[valid] - ref[valid])
        bound = RELATIVE_TOLERANCE * np.maximum(1.0, np.abs(ref[valid]))
        worst = int(np.argmax(error - bound)) if error.size else 0
        assert np.all(error <= bound), (
            f"{label}: at valid bar {worst} ours={mine[valid][worst]!r} talib={ref[valid][worst]!r}"
        )


def shipped_series(bars: DailyBars) -> Series:
    return Series(high=bars.high, low=bars.low, close=bars.close, volume=bars.volume)


# ---------------------------------------------------------------- shipped real data


def test_every_public_indicator_has_an_oracle_case() -> None:
    assert sorted(CASE_IDS) == sorted(ti.INDICATOR_NAMES)


@pytest.mark.parametrize("name", sorted(set(ti.INDICATOR_NAMES) - {"donchian", "keltner"}))
def test_signature_when_compared_with_talib_then_same_parameters_and_defaults(name: str) -> None:
    reference = talib_abstract.Function(name.upper())
    parameters = inspect.signature(getattr(ti, name)).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    assert defaults == dict(reference.parameters)


@pytest.mark.parametrize(("case", "params"), PARAM_CASES)
def test_indicator_on_shipped_data_when_compared_with_talib_then_matches(
    case: Case, params: Mapping[str, Any], shipped_daily_bars: dict[str, DailyBars]
) -> None:
    for symbol, bars in shipped_daily_bars.items():
        ours, reference = case.run(shipped_series(bars), params)
        assert_matches_oracle(ours, reference, f"{case.name}{dict(params)} on {symbol}")
        assert any(np.isfinite(o).any() for o in ours), "a real series must produce values"


# ---------------------------------------------------------------- generated series


@st.composite
def generated_series(draw: st.DrawFn) -> Series:
    """Random walks or constant series at tiny (1e-6), unit and huge (1e9) magnitudes.

    Lengths run from 0 to well past the longest warm-up used in CASES, so short series
    (all NaN) are drawn as well as long ones.
    """
    length = draw(st.integers(min_value=0, max_value=160))
    scale = draw(st.sampled_from([1e-6, 1.0, 1e9]))
    volume_scale = draw(st.sampled_from([1e-6, 1.0, 1e6]))
    shape = draw(st.sampled_from(["walk", "walk", "constant", "flat_runs"]))
    rng = np.random.default_rng(draw(st.integers(min_value=0, max_value=2**32 - 1)))
    if shape == "constant":
        close = np.full(length, scale * draw(st.sampled_from([1.0, 0.1, 3.7])))
        high, low = close.copy(), close.copy()
    else:
        close = scale * np.exp(np.cumsum(rng.normal(0.0, 0.02, length)))
        if shape == "flat_runs":  # repeated prices: ties in every max/min scan
            close = np.repeat(close[: (length + 3) // 4], 4)[:length]
        high = close * (1.0 + np.abs(rng.normal(0.0, 0.01, length)))
        low = close * (1.0 - np.abs(rng.normal(0.0, 0.01, length)))
    volume = volume_scale * rng.integers(0, 1_000_000, length).astype(np.float64)
    return Series(high=high, low=low, close=close, volume=volume)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@settings(max_examples=40)
@given(series=generated_series(), data=st.data())
def test_indicator_on_generated_series_when_compared_with_talib_then_matches(
    case: Case, series: Series, data: st.DataObject
) -> None:
    params = data.draw(st.sampled_from(case.params), label="params")
    ours, reference = case.run(series, params)
    assert_matches_oracle(ours, reference, f"{case.name}{dict(params)}")


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e9], ids=["tiny", "unit", "huge"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_on_constant_series_when_compared_with_talib_then_matches(
    case: Case, scale: float
) -> None:
    """Every magnitude of flat series, every parameter set: not left to what hypothesis
    happens to draw (zero ranges hit each indicator's divide-by-zero guards)."""
    close = np.full(80, 3.7 * scale)
    series = Series(high=close, low=close.copy(), close=close.copy(), volume=np.full(80, 1e3))
    for params in case.params:
        ours, reference = case.run(series, params)
        assert_matches_oracle(ours, reference, f"{case.name}{dict(params)} constant {scale}")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_when_series_shorter_than_warm_up_then_all_nan(case: Case) -> None:
    series = Series(
        high=np.array([10.5, 11.5, 12.5]),
        low=np.array([9.5, 10.5, 11.5]),
        close=np.array([10.0, 11.0, 12.0]),
        volume=np.array([100.0, 200.0, 300.0]),
    )
    params = max(case.params, key=lambda p: sum(v for v in p.values() if isinstance(v, int)))
    ours, reference = case.run(series, {**params, **long_periods(case)})
    assert_matches_oracle(ours, reference, case.name)
    if case.name not in {"obv", "trange"}:  # no warm-up to speak of
        assert all(np.isnan(o).all() for o in ours)


def long_periods(case: Case) -> dict[str, int]:
    """Periods longer than the 3-bar series, for the names this indicator takes."""
    names = {name for params in case.params for name in params}
    names |= {"timeperiod"} if case.name not in {"obv", "trange", "macd", "stoch"} else set()
    return {name: 5 for name in names if "period" in name}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_when_input_empty_then_returns_empty_arrays(case: Case) -> None:
    empty = np.array([], dtype=np.float64)
    ours = as_outputs(case.ours(*[empty] * len(case.inputs)))
    assert all(o.shape == (0,) and o.dtype == np.float64 for o in ours)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_on_long_series_when_compared_with_talib_then_no_drift(case: Case) -> None:
    """200,000 bars with one large print: running sums must not drift past the tolerance."""
    rng = np.random.default_rng(2024)
    length = 200_000
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, length)))
    close[150_000] *= 1000.0  # an outlier entering and leaving every window
    series = Series(
        high=close * (1.0 + np.abs(rng.normal(0.0, 0.01, length))),
        low=close * (1.0 - np.abs(rng.normal(0.0, 0.01, length))),
        close=close,
        volume=rng.integers(1, 1_000_000, length).astype(np.float64),
    )
    for params in case.params:
        ours, reference = case.run(series, params)
        assert_matches_oracle(ours, reference, f"{case.name}{dict(params)} long")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_when_close_outside_bar_range_then_matches_talib(case: Case) -> None:
    """Dirty bars (close above the high or below the low): no clamping TA-Lib lacks."""
    rng = np.random.default_rng(5)
    length = 300
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, length))
    high = close + rng.random(length)
    low = close - rng.random(length)
    close[::7] += 3.0
    close[3::7] -= 3.0
    series = Series(high=high, low=low, close=close, volume=100.0 * rng.random(length))
    for params in case.params:
        ours, reference = case.run(series, params)
        assert_matches_oracle(ours, reference, f"{case.name}{dict(params)} dirty")
