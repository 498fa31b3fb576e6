from __future__ import annotations

import numpy as np
import pytest

from core.bars import BarSeries
from core.errors import DataValidationError


def _bars(**over: object) -> BarSeries:
    base: dict[str, object] = {
        "symbol": "X",
        "timestamps": np.array(["2020-01-01", "2020-01-02", "2020-01-03"], dtype="datetime64[ns]"),
        "open": [10.0, 11.0, 12.0],
        "high": [11.0, 12.0, 13.0],
        "low": [9.0, 10.0, 11.0],
        "close": [10.5, 11.5, 12.5],
        "volume": [100, 100, 100],
        "adj_close": [5.25, 5.75, 6.25],
    }
    base.update(over)
    return BarSeries(**base)  # type: ignore[arg-type]


def test_adjusted_view_scales_ohlc_by_adj_close_over_close() -> None:
    adj = _bars().adjusted_view()
    assert adj.adjusted
    np.testing.assert_allclose(adj.close, [5.25, 5.75, 6.25])
    np.testing.assert_allclose(adj.open, np.array([10.0, 11.0, 12.0]) * 0.5)
    assert adj.adjusted_view() is adj


@pytest.mark.parametrize(
    "over",
    [
        {"close": [10.5, float("nan"), 12.5]},
        {"low": [9.0, 13.0, 11.0]},
        {"open": [0.0, 11.0, 12.0]},
        {"volume": [1, 2]},
        {
            "timestamps": np.array(
                ["2020-01-01", "2020-01-01", "2020-01-03"], dtype="datetime64[ns]"
            )
        },
    ],
)
def test_invalid_bars_are_refused(over: dict[str, object]) -> None:
    with pytest.raises(DataValidationError):
        _bars(**over)


def test_until_returns_only_bars_up_to_the_date() -> None:
    b = _bars()
    assert len(b.until(np.datetime64("2020-01-02"))) == 2
    assert len(b.until(np.datetime64("2019-12-31"))) == 0
