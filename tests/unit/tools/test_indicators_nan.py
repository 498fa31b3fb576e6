"""NaN inside the input: each NaN-free run is computed as TA-Lib computes that run alone.

Leading NaNs are skipped exactly as TA-Lib's Python wrapper skips them; a bar where any
input is NaN is NaN in every output and the indicator restarts after it with a fresh
warm-up. The oracle is TA-Lib applied to each run separately.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import talib

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
    assert_matches_oracle,
)


def run_oracle_per_run(case: Case, series: Series, params: Mapping[str, Any]) -> Outputs:
    """TA-Lib on every maximal run of bars where no input of ``case`` is NaN."""
    inputs = series.take(case.inputs)
    gap = np.zeros(len(inputs[0]), dtype=bool)
    for values in inputs:
        gap |= np.isnan(values)
    outputs: list[FloatArray] | None = None
    start = 0
    n = len(gap)
    while start < n:
        while start < n and gap[start]:
            start += 1
        stop = start
        while stop < n and not gap[stop]:
            stop += 1
        if stop > start:
            chunk = as_outputs(case.oracle(*[v[start:stop] for v in inputs], **params))
            if outputs is None:
                outputs = [np.full(n, np.nan) for _ in chunk]
            for out, values in zip(outputs, chunk, strict=True):
                out[start:stop] = values
        start = stop
    if outputs is None:  # every bar has a NaN: shape the all-NaN answer from one call
        width = len(as_outputs(case.oracle(*[np.ones(1)] * len(inputs), **params)))
        outputs = [np.full(n, np.nan) for _ in range(width)]
    return tuple(outputs)


def with_nans(bars: DailyBars, length: int, holes: Mapping[str, list[int]]) -> Series:
    columns = {
        "high": bars.high[:length].copy(),
        "low": bars.low[:length].copy(),
        "close": bars.close[:length].copy(),
        "volume": bars.volume[:length].copy(),
    }
    for name, positions in holes.items():
        columns[name][positions] = np.nan
    return Series(**columns)


HOLE_PATTERNS: dict[str, dict[str, list[int]]] = {
    "leading": {"close": [0, 1, 2], "high": [0, 1, 2], "low": [0, 1, 2], "volume": [0, 1, 2]},
    "isolated": {"close": [60, 200, 201, 330]},
    "every_input": {"high": [75], "low": [150], "close": [260], "volume": [300]},
    "short_runs": {"close": [10, 14, 18, 22, 26, 30]},
}


@pytest.mark.parametrize("pattern", sorted(HOLE_PATTERNS))
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_when_nan_inside_then_each_run_matches_talib_on_that_run(
    case: Case, pattern: str, shipped_daily_bars: dict[str, DailyBars]
) -> None:
    series = with_nans(shipped_daily_bars["AAPL"], 400, HOLE_PATTERNS[pattern])
    for params in case.params:
        ours = as_outputs(case.ours(*series.take(case.inputs), **params))
        expected = run_oracle_per_run(case, series, params)
        assert_matches_oracle(ours, expected, f"{case.name}{dict(params)} {pattern}")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_when_only_leading_nans_then_identical_to_talib(
    case: Case, shipped_daily_bars: dict[str, DailyBars]
) -> None:
    holes = {name: list(range(7)) for name in case.inputs}
    series = with_nans(shipped_daily_bars["MSFT"], 300, holes)
    for params in case.params:
        ours, reference = case.run(series, params)
        assert_matches_oracle(ours, reference, f"{case.name}{dict(params)}")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_indicator_when_input_all_nan_then_output_all_nan(case: Case) -> None:
    nan_input = np.full(50, np.nan)
    for output in as_outputs(case.ours(*[nan_input] * len(case.inputs))):
        assert np.isnan(output).all()


def test_rsi_when_gap_inside_then_restarts_where_talib_reports_zero_forever() -> None:
    close = 100.0 + np.sin(np.arange(80) / 3.0)
    close[40] = np.nan
    ours = ti.rsi(close, 5)
    assert np.isnan(ours[40:46]).all()  # the gap, then a fresh 5-bar warm-up
    assert np.isfinite(ours[46:]).all()
    np.testing.assert_allclose(ours[46:], talib.RSI(close[41:], 5)[5:], rtol=1e-12)
    assert (talib.RSI(close, 5)[41:] == 0.0).all()  # why TA-Lib's own rule is not kept


def test_sma_when_gap_inside_then_recovers_where_talib_stays_nan() -> None:
    close = np.arange(1.0, 61.0)
    close[30] = np.nan
    ours = ti.sma(close, 4)
    assert np.isnan(ours[30:34]).all()
    np.testing.assert_allclose(
        ours[34:], (close[31:-3] + close[32:-2] + close[33:-1] + close[34:]) / 4
    )
    assert np.isnan(talib.SMA(close, 4)[30:]).all()


def test_macd_when_gap_inside_then_all_three_outputs_restart_together() -> None:
    close = 50.0 + np.cumsum(np.random.default_rng(7).normal(0, 1, 200))
    close[100] = np.nan
    macd_line, signal, hist = ti.macd(close, 3, 6, 2)
    restart = 101 + (6 - 1) + (2 - 1)
    for output in (macd_line, signal, hist):
        assert np.isnan(output[100:restart]).all()
        assert np.isfinite(output[restart:]).all()
