from __future__ import annotations

import io

import numpy as np
import pytest

from adapters.state.arrays import bars_from_arrays, bars_to_arrays, decode_arrays, encode_arrays
from core.bars import BarSeries
from core.errors import DataValidationError


def _bars() -> BarSeries:
    close = np.array([10.0, 10.5, 10.2, 10.8])
    return BarSeries(
        symbol="AAPL",
        timestamps=np.array(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], "M8[ns]"),
        open=close - 0.1,
        high=close + 0.2,
        low=close - 0.3,
        close=close,
        volume=np.full(4, 1e6),
        adjusted=True,
    )


def test_encode_when_object_array_then_refused_before_any_pickle() -> None:
    with pytest.raises(DataValidationError, match="dtype object"):
        encode_arrays({"x": np.array([{"a": 1}], dtype=object)})


def test_decode_when_not_npz_then_data_validation_error() -> None:
    with pytest.raises(DataValidationError):
        decode_arrays(b"definitely not a zip archive")


def test_decode_when_npz_holds_pickled_object_array_then_refused() -> None:
    buf = io.BytesIO()
    np.savez(buf, x=np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(DataValidationError):
        decode_arrays(buf.getvalue())


def test_bars_when_round_tripped_through_bytes_then_equal() -> None:
    bars = _bars()
    back = bars_from_arrays(decode_arrays(encode_arrays(bars_to_arrays(bars))))
    assert back.symbol == "AAPL" and back.adjusted is True and back.adj_close is None
    for name in ("timestamps", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(back, name), getattr(bars, name))


def test_bars_when_cached_arrays_corrupted_then_validation_rejects_them() -> None:
    arrays = bars_to_arrays(_bars())
    arrays["high"] = arrays["low"] - 1.0
    with pytest.raises(DataValidationError):
        bars_from_arrays(arrays)
    del arrays["close"]
    with pytest.raises(DataValidationError, match="lack"):
        bars_from_arrays(arrays)
