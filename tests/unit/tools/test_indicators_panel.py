"""The panel API equals the 1-D functions symbol by symbol, and rejects bad specs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tools.indicators as ti
from tests.unit.tools.conftest import DailyBars
from tools.indicators._panel import IndicatorSpec, panel

# One spec per indicator, with non-default parameters where it has any.
SPECS_AND_CALLS: list[tuple[IndicatorSpec, Any]] = [
    (IndicatorSpec("sma", {"timeperiod": 20}), lambda hi, lo, cl, vol: ti.sma(cl, 20)),
    (IndicatorSpec("ema", {"timeperiod": 12}), lambda hi, lo, cl, vol: ti.ema(cl, 12)),
    (IndicatorSpec("wma", {"timeperiod": 9}), lambda hi, lo, cl, vol: ti.wma(cl, 9)),
    (IndicatorSpec("dema", {"timeperiod": 10}), lambda hi, lo, cl, vol: ti.dema(cl, 10)),
    (IndicatorSpec("tema", {"timeperiod": 7}), lambda hi, lo, cl, vol: ti.tema(cl, 7)),
    (IndicatorSpec("kama", {"timeperiod": 10}), lambda hi, lo, cl, vol: ti.kama(cl, 10)),
    (IndicatorSpec("rsi", {"timeperiod": 5}), lambda hi, lo, cl, vol: ti.rsi(cl, 5)),
    (
        IndicatorSpec("macd", {"fastperiod": 5, "slowperiod": 13, "signalperiod": 4}),
        lambda hi, lo, cl, vol: ti.macd(cl, 5, 13, 4),
    ),
    (IndicatorSpec("roc"), lambda hi, lo, cl, vol: ti.roc(cl)),
    (IndicatorSpec("mom", {"timeperiod": 3}), lambda hi, lo, cl, vol: ti.mom(cl, 3)),
    (
        IndicatorSpec("bbands", {"timeperiod": 10, "nbdevup": 1.5, "nbdevdn": 2.5, "matype": 1}),
        lambda hi, lo, cl, vol: ti.bbands(cl, 10, 1.5, 2.5, 1),
    ),
    (IndicatorSpec("atr", {"timeperiod": 5}), lambda hi, lo, cl, vol: ti.atr(hi, lo, cl, 5)),
    (IndicatorSpec("natr"), lambda hi, lo, cl, vol: ti.natr(hi, lo, cl)),
    (IndicatorSpec("trange"), lambda hi, lo, cl, vol: ti.trange(hi, lo, cl)),
    (IndicatorSpec("adx", {"timeperiod": 7}), lambda hi, lo, cl, vol: ti.adx(hi, lo, cl, 7)),
    (IndicatorSpec("plus_di"), lambda hi, lo, cl, vol: ti.plus_di(hi, lo, cl)),
    (
        IndicatorSpec("minus_di", {"timeperiod": 1}),
        lambda hi, lo, cl, vol: ti.minus_di(hi, lo, cl, 1),
    ),
    (IndicatorSpec("cci", {"timeperiod": 20}), lambda hi, lo, cl, vol: ti.cci(hi, lo, cl, 20)),
    (
        IndicatorSpec("stoch", {"fastk_period": 14, "slowk_matype": 1, "slowd_period": 4}),
        lambda hi, lo, cl, vol: ti.stoch(hi, lo, cl, 14, 3, 1, 4, 0),
    ),
    (IndicatorSpec("willr"), lambda hi, lo, cl, vol: ti.willr(hi, lo, cl)),
    (IndicatorSpec("obv"), lambda hi, lo, cl, vol: ti.obv(cl, vol)),
    (IndicatorSpec("mfi", {"timeperiod": 5}), lambda hi, lo, cl, vol: ti.mfi(hi, lo, cl, vol, 5)),
    (
        IndicatorSpec("donchian", {"timeperiod": 55}),
        lambda hi, lo, cl, vol: ti.donchian(hi, lo, 55),
    ),
    (
        IndicatorSpec("keltner", {"timeperiod": 10, "atr_period": 14, "multiplier": 1.5}),
        lambda hi, lo, cl, vol: ti.keltner(hi, lo, cl, 10, 14, 1.5),
    ),
]


def shipped_panel(bars: dict[str, DailyBars]) -> dict[str, np.ndarray]:
    """The shipped symbols as rows (truncated to a common length), one gap per row."""
    length = min(len(b.close) for b in bars.values())
    columns = {
        name: np.vstack([getattr(b, name)[-length:] for b in bars.values()])
        for name in ("high", "low", "close", "volume")
    }
    for row in range(columns["close"].shape[0]):
        columns["close"][row, 100 + 37 * row] = np.nan
    return columns


def test_panel_when_every_indicator_requested_then_each_row_equals_the_1d_function(
    shipped_daily_bars: dict[str, DailyBars],
) -> None:
    columns = shipped_panel(shipped_daily_bars)
    h, lo, c, v = columns["high"], columns["low"], columns["close"], columns["volume"]
    result = panel(None, h, lo, c, v, [spec for spec, _ in SPECS_AND_CALLS])
    assert {spec.indicator for spec, _ in SPECS_AND_CALLS} == set(ti.INDICATOR_NAMES)
    for spec, call in SPECS_AND_CALLS:
        keys = [k for k in result if k == spec.label or k.startswith(f"{spec.label}.")]
        for row in range(c.shape[0]):
            expected = call(h[row], lo[row], c[row], v[row])
            expected = expected if isinstance(expected, tuple) else (expected,)
            assert len(keys) == len(expected), spec.label
            for key, values in zip(keys, expected, strict=True):
                assert result[key].shape == c.shape
                np.testing.assert_array_equal(result[key][row], values, err_msg=f"{key} row {row}")


def test_panel_when_labels_default_then_indicator_and_given_values_name_the_outputs() -> None:
    close = np.linspace(10.0, 20.0, 60).reshape(2, 30)
    result = panel(
        None,
        None,
        None,
        close,
        None,
        [
            IndicatorSpec("sma", {"timeperiod": 5}),
            IndicatorSpec("bbands", {"timeperiod": 10, "nbdevup": 1.5}),
            IndicatorSpec("macd"),
            IndicatorSpec("ema", {"timeperiod": 5}, name="fast"),
        ],
    )
    assert list(result) == [
        "sma_5",
        "bbands_10_1.5.upperband",
        "bbands_10_1.5.middleband",
        "bbands_10_1.5.lowerband",
        "macd.macd",
        "macd.macdsignal",
        "macd.macdhist",
        "fast",
    ]
    np.testing.assert_array_equal(result["fast"][1], ti.ema(close[1], 5))


def test_panel_when_single_symbol_or_short_series_then_same_as_1d() -> None:
    close = np.array([[1.0, 2.0, 3.0]])
    result = panel(None, None, None, close, None, [IndicatorSpec("rsi")])
    assert result["rsi"].shape == (1, 3)
    assert np.isnan(result["rsi"]).all()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (IndicatorSpec("vwap"), "unknown indicator 'vwap'"),
        (IndicatorSpec("sma", {"period": 5}), r"unknown parameter\(s\) \['period'\]"),
        (IndicatorSpec("rsi", {"timeperiod": 1}), "timeperiod must be between 2"),
        (IndicatorSpec("bbands", {"matype": 8}), "T3"),
        (IndicatorSpec("keltner", {"multiplier": float("nan")}), "multiplier must be finite"),
        (IndicatorSpec("mfi"), "needs the 'volume' input"),
    ],
)
def test_panel_when_spec_invalid_then_value_error(spec: IndicatorSpec, message: str) -> None:
    close = np.ones((2, 40))
    with pytest.raises(ValueError, match=message):
        panel(None, close, close, close, None, [spec])


def test_panel_when_two_specs_share_a_key_then_value_error() -> None:
    close = np.ones((2, 40))
    specs = [IndicatorSpec("sma", {"timeperiod": 5}), IndicatorSpec("ema", name="sma_5")]
    with pytest.raises(ValueError, match="same result key"):
        panel(None, None, None, close, None, specs)


def test_panel_when_inputs_differ_in_shape_then_value_error() -> None:
    with pytest.raises(ValueError, match="same shape"):
        panel(
            None, np.ones((2, 40)), np.ones((2, 39)), np.ones((2, 40)), None, [IndicatorSpec("atr")]
        )


def test_panel_when_input_one_dimensional_then_value_error() -> None:
    with pytest.raises(ValueError, match="2-D"):
        panel(None, None, None, np.ones(40), None, [IndicatorSpec("sma")])


def test_panel_when_no_specs_or_no_inputs_then_value_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        panel(None, None, None, np.ones((2, 40)), None, [])
    with pytest.raises(ValueError, match="no high, low, close or volume"):
        panel(np.ones((2, 40)), None, None, None, None, [IndicatorSpec("sma")])


def test_panel_kernel_when_compiled_then_parallel_over_symbols() -> None:
    """The symbol loop is a ``numba.prange`` loop only in a ``parallel=True`` kernel."""
    from tools.indicators._panel import _panel_kernel

    assert _panel_kernel.targetoptions.get("parallel") is True
