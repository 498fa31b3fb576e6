"""TA-Lib parity on the shipped real price files, as shipped and with the gaps real files have.

Every public indicator and every output, on each shipped file raw and split-adjusted, over
the full series; then the same files with the defects real data brings: leading NaNs, a
flat stretch (a halted day, a months-long suspension), zero volume, a one-bar spike or
crash, tick-rounded prices, a tiny quote unit and prices below zero. After TA-Lib's
lookback, |ours − TA-Lib| ≤ 1e-9·|TA-Lib| + 1e-9·min(1, output scale), and NaN exactly
where TA-Lib has NaN. (NaNs *inside* a series are covered by test_indicators_nan.py: there
the package deliberately restarts the indicator where TA-Lib does not.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import talib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tools.indicators as ti
from tests.unit.tools.conftest import DailyBars
from tests.unit.tools.test_indicators import (
    CASE_IDS,
    CASES,
    Case,
    FloatArray,
    Outputs,
    Series,
    as_outputs,
)

RTOL = 1e-9
ATOL = 1e-9
PRICES = ("high", "low", "close")

# Parameters traders use, on top of each case's own sets (defaults, period 1 and 2...).
COMMON_PARAMS: dict[str, tuple[dict[str, Any], ...]] = {
    "sma": ({"timeperiod": 50}, {"timeperiod": 200}),
    "ema": ({"timeperiod": 26}, {"timeperiod": 200}),
    "kama": ({"timeperiod": 14},),
    "rsi": ({"timeperiod": 21},),
    "atr": ({"timeperiod": 20},),
    "natr": ({"timeperiod": 20},),
    "adx": ({"timeperiod": 20},),
    "plus_di": ({"timeperiod": 20},),
    "minus_di": ({"timeperiod": 20},),
    "mfi": ({"timeperiod": 20},),
    "willr": ({"timeperiod": 20},),
    "stoch": ({"fastk_period": 14, "slowk_period": 3, "slowd_period": 3},),
}


def params_of(case: Case) -> tuple[Mapping[str, Any], ...]:
    return (*case.params, *COMMON_PARAMS.get(case.name, ()))


def assert_tight_match(ours: Outputs, reference: Outputs, context: str) -> None:
    """NaN exactly where TA-Lib has NaN; elsewhere within RTOL·|ref| + ATOL·min(1, scale),
    scale being the output's largest |value| (so a series quoted in 1e-16 units is held
    to 1e-9 of its own size, not to an absolute 1e-9 it would pass by being small)."""
    assert len(ours) == len(reference), context
    for index, (mine, ref) in enumerate(zip(ours, reference, strict=True)):
        label = f"{context} output {index}"
        assert mine.dtype == np.float64 and mine.shape == ref.shape, label
        differ = np.flatnonzero(np.isnan(mine) != np.isnan(ref))
        assert differ.size == 0, f"{label}: NaN positions differ at bars {differ[:10]}"
        valid = ~np.isnan(ref)
        if not valid.any():
            continue
        scale = min(1.0, float(np.max(np.abs(ref[valid]))))
        error = np.abs(mine[valid] - ref[valid])
        bound = RTOL * np.abs(ref[valid]) + ATOL * scale
        bad = np.flatnonzero(error > bound)
        if bad.size:
            bar = int(np.flatnonzero(valid)[bad[0]])
            pytest.fail(
                f"{label}: {bad.size} bars differ, first at bar {bar}: "
                f"ours={mine[bar]!r} talib={ref[bar]!r}"
            )


def series_of(bars: DailyBars) -> Series:
    return Series(
        high=bars.high.copy(), low=bars.low.copy(), close=bars.close.copy(), volume=bars.volume
    )


def with_columns(series: Series, **columns: FloatArray) -> Series:
    fields = {"high": series.high, "low": series.low, "close": series.close}
    return Series(**{**fields, "volume": series.volume, **columns})


def flat(start: int, length: int) -> Callable[[Series], Series]:
    """Bars ``start..start+length`` with high = low = close = the close at ``start``."""

    def apply(s: Series) -> Series:
        stop = start + length
        columns = {k: getattr(s, k).copy() for k in PRICES}
        for values in columns.values():
            values[start:stop] = s.close[start]
        return with_columns(s, **columns)

    return apply


def leading_nan(count: int, names: tuple[str, ...]) -> Callable[[Series], Series]:
    def apply(s: Series) -> Series:
        columns = {k: getattr(s, k).copy() for k in names}
        for values in columns.values():
            values[:count] = np.nan
        return with_columns(s, **columns)

    return apply


def zero_volume(start: int, stop: int | None, step: int = 1) -> Callable[[Series], Series]:
    def apply(s: Series) -> Series:
        volume = s.volume.copy()
        volume[start:stop:step] = 0.0
        return with_columns(s, volume=volume)

    return apply


def one_bar(bar: int, factor: float) -> Callable[[Series], Series]:
    """A single-bar spike (factor > 1) or crash (< 1), the bar's range widened to hold it."""

    def apply(s: Series) -> Series:
        high, low, close = s.high.copy(), s.low.copy(), s.close.copy()
        close[bar] *= factor
        high[bar] = max(high[bar], close[bar] * 1.01)
        low[bar] = min(low[bar], close[bar] * 0.99)
        return with_columns(s, high=high, low=low, close=close)

    return apply


def transform(fn: Callable[[FloatArray], FloatArray]) -> Callable[[Series], Series]:
    return lambda s: with_columns(s, **{k: fn(getattr(s, k)) for k in PRICES})


def close_pinned(start: int, length: int) -> Callable[[Series], Series]:
    """The close stuck at one price while the high and low keep their range."""

    def apply(s: Series) -> Series:
        close = s.close.copy()
        close[start : start + length] = close[start]
        high = np.maximum(s.high, close)
        low = np.minimum(s.low, close)
        return with_columns(s, high=high, low=low, close=close)

    return apply


def tick_rounded(start: int, stop: int) -> Callable[[Series], Series]:
    def rounded(values: FloatArray) -> FloatArray:
        out = values.copy()
        out[start:stop] = np.round(out[start:stop])
        return out

    return transform(rounded)


# Every shipped file has ≥ 2,148 bars; positions are chosen inside that.
VARIANTS: dict[str, Callable[[Series], Series]] = {
    "as_shipped": lambda s: s,
    "leading_nan_all_inputs": leading_nan(25, ("high", "low", "close", "volume")),
    "leading_nan_close_only": leading_nan(10, ("close",)),
    "leading_nan_volume_only": leading_nan(10, ("volume",)),
    "flat_halt_5_bars": flat(1000, 5),
    "flat_suspension_600_bars": flat(900, 600),  # Wilder sums decay below 1e-14
    "flat_from_first_bar": flat(0, 60),
    "close_pinned_400_bars": close_pinned(1000, 400),
    "zero_volume_40_bars": zero_volume(1200, 1240),
    "zero_volume_every_third_bar": zero_volume(0, None, 3),
    "zero_volume_everywhere": zero_volume(0, None),
    "spike_one_bar": one_bar(1800, 5.0),
    "crash_one_bar": one_bar(1900, 0.1),
    "tick_rounded": tick_rounded(1500, 1700),
    "tiny_quote_unit": transform(lambda v: v * 1e-16),
    # BRK.A-like: up to ~7e5. (Differences of EMAs, MACD's line and histogram, agree
    # with TA-Lib within a few ulps of the price, so far beyond realistic prices an
    # absolute 1e-9 stops holding; the power-of-two test below covers any scale.)
    "high_priced": transform(lambda v: v * 1e4),
    "below_zero": transform(lambda v: v - 60.0),  # spreads, negative futures
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_on_real_file_when_compared_with_talib_then_matches_tightly(
    case: Case, variant: str, shipped_daily_bars: dict[str, DailyBars]
) -> None:
    for symbol, bars in shipped_daily_bars.items():
        for adjusted in (False, True):
            series = VARIANTS[variant](series_of(bars.adjusted() if adjusted else bars))
            for params in params_of(case):
                ours, reference = case.run(series, params)
                where = f"{case.name}{dict(params)} {symbol} adjusted={adjusted} {variant}"
                assert_tight_match(ours, reference, where)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_when_volume_is_integer_or_prices_float32_then_same_as_float64(
    case: Case, shipped_daily_bars: dict[str, DailyBars]
) -> None:
    """Files load volume as integers and some feeds give float32: converted, not refused."""
    series = series_of(shipped_daily_bars["IBM"])
    converted = {
        "high": series.high.astype(np.float32),
        "low": series.low.astype(np.float32),
        "close": series.close.astype(np.float32),
        "volume": series.volume.astype(np.int64),
    }
    for params in case.params:
        ours = as_outputs(case.ours(*(converted[k] for k in case.inputs), **params))
        widened = [np.asarray(converted[k], dtype=np.float64) for k in case.inputs]
        assert_tight_match(ours, as_outputs(case.oracle(*widened, **params)), case.name)


# ---------------------------------------------------------------- regressions


def test_plus_minus_di_and_adx_when_quoted_in_tiny_units_then_not_zeroed() -> None:
    """TA-Lib #253: a true-range sum is tested exactly, not against a fixed 1e-14."""
    rng = np.random.default_rng(11)
    close = 1e-15 * np.exp(np.cumsum(rng.normal(0.0, 0.02, 200)))
    high, low = close * 1.01, close * 0.99
    for ours, reference in ((ti.plus_di, talib.PLUS_DI), (ti.minus_di, talib.MINUS_DI)):
        values = ours(high, low, close)
        assert np.nanmax(values) > 1.0  # the old fixed band returned 0.0 everywhere
        assert_tight_match((values,), (reference(high, low, close),), ours.__name__)
    assert_tight_match((ti.adx(high, low, close),), (talib.ADX(high, low, close),), "adx")


def test_kama_when_window_holds_one_tiny_move_then_ratio_capped_like_talib() -> None:
    """The running |change| sum's residue left it below the window's 1-ulp move: an
    uncapped efficiency ratio of ~8 made KAMA jump 0.1 away from a flat input."""
    x = np.array([0.9, 2.4, 8.0, 5.8, 0.9, 4.3, 4.8, 1.6, 7.3, 7.3, 7.3] + [7.299999999999986] * 4)
    ours = ti.kama(x, 4)
    np.testing.assert_array_equal(ours, talib.KAMA(x, 4))
    assert np.nanmax(ours) <= x.max()


# ---------------------------------------------------------------- properties


@st.composite
def real_window(draw: st.DrawFn, bars: dict[str, DailyBars]) -> Series:
    """A stretch of a shipped file with real-data defects drawn on top of it."""
    source = bars[draw(st.sampled_from(sorted(bars)))]
    if draw(st.booleans()):
        source = source.adjusted()
    length = draw(st.integers(min_value=30, max_value=700))
    start = draw(st.integers(min_value=0, max_value=len(source.close) - length))
    s = series_of(source)
    s = Series(*(getattr(s, k)[start : start + length].copy() for k in (*PRICES, "volume")))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=length - 1))
        span = draw(st.integers(min_value=1, max_value=length))
        defect = draw(st.sampled_from(["flat", "zero_volume", "spike", "pinned", "rounded"]))
        if defect == "flat":
            s = flat(at, span)(s)
        elif defect == "zero_volume":
            s = zero_volume(at, at + span)(s)
        elif defect == "spike":
            s = one_bar(at, draw(st.sampled_from([0.2, 3.0])))(s)
        elif defect == "pinned":
            s = close_pinned(at, span)(s)
        else:
            s = tick_rounded(at, at + span)(s)
    s = leading_nan(draw(st.integers(min_value=0, max_value=5)), (*PRICES, "volume"))(s)
    scale = draw(st.sampled_from([1.0, 1.0, 2.0**-50, 2.0**40]))
    return transform(lambda v: v * scale)(s)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_indicator_on_real_window_with_defects_when_compared_with_talib_then_matches(
    case: Case, data: st.DataObject, shipped_daily_bars: dict[str, DailyBars]
) -> None:
    series = data.draw(real_window(shipped_daily_bars), label="series")
    params = data.draw(st.sampled_from(params_of(case)), label="params")
    ours, reference = case.run(series, params)
    assert_tight_match(ours, reference, f"{case.name}{dict(params)}")


# Outputs in price units scale with the prices; the others (ratios, oscillators) do not.
PRICE_VALUED = {"sma", "ema", "wma", "dema", "tema", "kama", "macd", "bbands", "atr", "trange"}
PRICE_VALUED |= {"mom", "donchian", "keltner"}


@pytest.mark.parametrize("exponent", [-60, 40])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_when_prices_scaled_by_power_of_two_then_exactly_equivariant(
    case: Case, exponent: int, shipped_daily_bars: dict[str, DailyBars]
) -> None:
    """Scaling by 2**k is exact in floating point, so an indicator without an absolute
    threshold gives bit-identical ratios and exactly 2**k-scaled prices. A fixed band such
    as TA_IS_ZERO's 1e-14 on a price-valued sum breaks this (TA-Lib #253)."""
    series = series_of(shipped_daily_bars["MSFT"].adjusted())
    factor = 2.0**exponent
    scaled = transform(lambda v: v * factor)(series)
    for params in case.params:
        # TA-Lib's NATR(1) quirk: the raw true range, in price units.
        natr_one = case.name == "natr" and params.get("timeperiod") == 1
        price_valued = case.name in PRICE_VALUED or natr_one
        expected_factor = factor if price_valued else 1.0
        base = as_outputs(case.ours(*series.take(case.inputs), **params))
        moved = as_outputs(case.ours(*scaled.take(case.inputs), **params))
        for a, b in zip(base, moved, strict=True):
            np.testing.assert_array_equal(b, a * expected_factor, err_msg=f"{params}")
