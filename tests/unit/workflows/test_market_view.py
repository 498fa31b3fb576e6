"""The point-in-time market view: nothing after the as-of date, ever."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from tests.unit.workflows.scripted import MemoryMarket
from workflows.market_view import LookAheadError, PointInTimeMarket

AS_OF = date(2024, 2, 15)


class LeakyMarket(MemoryMarket):
    """A source that ignores ``end``: the view must still cut at the as-of date."""

    def bars(self, symbol, start=None, end=None, adjusted=True):  # type: ignore[no-untyped-def]
        return super().bars(symbol)


def test_bars_when_no_end_then_last_bar_is_the_as_of_day() -> None:
    view = PointInTimeMarket(MemoryMarket(["AAPL"], "2024-01-02", 60), AS_OF)
    bars = view.bars("AAPL")
    assert bars.timestamps[-1].astype("datetime64[D]").item() == AS_OF


@pytest.mark.parametrize("field", ["start", "end"])
def test_bars_when_asking_after_as_of_then_raises_look_ahead(field: str) -> None:
    view = PointInTimeMarket(MemoryMarket(["AAPL"], "2024-01-02", 60), AS_OF)
    with pytest.raises(LookAheadError, match="after the as-of date"):
        view.bars("AAPL", **{field: date(2024, 2, 16)})


def test_bars_when_source_ignores_end_then_view_still_cuts() -> None:
    view = PointInTimeMarket(LeakyMarket(["AAPL"], "2024-01-02", 60), AS_OF)
    bars = view.bars("AAPL")
    assert bars.timestamps.max() < np.datetime64("2024-02-16")
    assert len(bars) < len(LeakyMarket(["AAPL"], "2024-01-02", 60).bars("AAPL"))


def test_view_when_given_datetime_then_uses_its_date() -> None:
    view = PointInTimeMarket(MemoryMarket(["AAPL"], "2024-01-02", 60), datetime(2024, 2, 15, 23))
    assert view.as_of == AS_OF
    assert view.symbols() == ["AAPL"]
    assert view.instrument("AAPL").symbol == "AAPL"


def test_bars_when_end_before_as_of_then_honoured() -> None:
    view = PointInTimeMarket(MemoryMarket(["AAPL"], "2024-01-02", 60), AS_OF)
    bars = view.bars("AAPL", end=date(2024, 1, 31))
    assert bars.timestamps[-1].astype("datetime64[D]").item() == date(2024, 1, 31)
