"""The IBKR bars adapter's pure parts: durations, windows, validation and merging of
IB's bars, the cache entries in a store, and which session counts as closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from adapters.brokers.ibkr.client import BarView
from adapters.marketdata.cache import COLLECTION, BarCache, CachedBars
from adapters.marketdata.ibkr import duration_for, merged, validated, years_before
from adapters.marketdata.sessions import LoopThread, last_session
from adapters.marketdata.validation import ValidationOptions
from adapters.storage.sqlite import SqliteStore
from core.errors import ConfigurationError, DataValidationError, TemporaryError


def bar(day: str, close: float, low: float | None = None, volume: float = 100.0) -> BarView:
    return BarView(date.fromisoformat(day), close, close + 1, close - 1 if low is None else low,
                   close, volume)  # fmt: skip


@pytest.mark.parametrize(
    ("first", "last", "duration"),
    [
        (date(2013, 3, 1), date(2013, 3, 1), "1 D"),
        (date(2013, 1, 2), date(2013, 3, 1), "59 D"),
        (date(2012, 3, 2), date(2013, 3, 1), "365 D"),
        (date(2012, 3, 1), date(2013, 3, 1), "2 Y"),  # 366 days: too long in days
        (date(2011, 3, 2), date(2013, 3, 1), "2 Y"),
        (date(2011, 3, 1), date(2013, 3, 1), "3 Y"),
        (date(2000, 1, 1), date(2013, 3, 1), "14 Y"),
    ],
)
def test_duration_for_when_span_then_shortest_ib_duration_covering_it(
    first: date, last: date, duration: str
) -> None:
    assert duration_for(first, last) == duration


def test_years_before_when_29_february_then_28th() -> None:
    assert years_before(date(2012, 2, 29), 1) == date(2011, 2, 28)
    assert years_before(date(2013, 3, 1), 2) == date(2011, 3, 1)


def test_validated_when_bars_consistent_then_series_with_daily_stamps() -> None:
    series = validated("AAPL", [bar("2013-02-28", 10.0), bar("2013-03-01", 11.0)],
                       ValidationOptions())  # fmt: skip
    assert list(series.timestamps.astype("datetime64[D]").astype(str)) == [
        "2013-02-28",
        "2013-03-01",
    ]
    assert list(series.close) == [10.0, 11.0] and series.adj_close is None


def test_validated_when_a_bar_breaks_a_rule_then_error_names_provider_row_and_rule() -> None:
    bad = [bar("2013-02-28", 10.0), bar("2013-03-01", 11.0, low=13.0)]  # low above high
    with pytest.raises(DataValidationError) as err:
        validated("AAPL", bad, ValidationOptions())
    assert any(p.startswith("ibkr:AAPL:2 [high] high_below_low") for p in err.value.problems)


def test_validated_when_days_out_of_order_then_unsorted_error() -> None:
    with pytest.raises(DataValidationError) as err:
        validated("X", [bar("2013-03-01", 10.0), bar("2013-02-28", 10.0)], ValidationOptions())
    assert any("unsorted_timestamp" in p for p in err.value.problems)


def test_validated_when_no_bars_then_empty_series() -> None:
    assert len(validated("X", [], ValidationOptions())) == 0


def test_merged_when_days_overlap_then_new_bar_wins_and_order_kept() -> None:
    opts = ValidationOptions()
    old = validated("X", [bar("2013-02-27", 10.0), bar("2013-02-28", 20.0)], opts)
    new = validated("X", [bar("2013-02-28", 50.0), bar("2013-03-01", 60.0)], opts)
    both = merged("X", old, new)
    assert list(both.close) == [10.0, 50.0, 60.0]
    assert merged("X", None, new) is new


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "q.db")
    yield db
    db.close()


def entry(symbol: str = "AAPL") -> CachedBars:
    series = validated(symbol, [bar("2013-02-28", 10.0), bar("2013-03-01", 11.0)],
                       ValidationOptions())  # fmt: skip
    return CachedBars(symbol, "ibkr", date(2013, 1, 1), date(2013, 3, 1), series,
                      datetime(2013, 3, 2, tzinfo=UTC))  # fmt: skip


def test_bar_cache_when_put_then_get_returns_same_bars_and_asked_span(
    store: SqliteStore,
) -> None:
    cache = BarCache(store)
    cache.put(entry())
    got = cache.get("ibkr", "AAPL")
    assert got is not None
    assert (got.asked_from, got.asked_through) == (date(2013, 1, 1), date(2013, 3, 1))
    np.testing.assert_array_equal(got.bars.close, [10.0, 11.0])
    np.testing.assert_array_equal(got.bars.timestamps, entry().bars.timestamps)
    assert got.covers(date(2013, 2, 1), date(2013, 3, 1))
    assert not got.covers(date(2012, 12, 31), date(2013, 3, 1))
    assert cache.symbols("ibkr") == ["AAPL"] and cache.symbols("other") == []


def test_bar_cache_when_entry_is_broken_then_treated_as_missing(store: SqliteStore) -> None:
    cache = BarCache(store)
    cache.put(entry())
    doc = store.get_document(COLLECTION, "ibkr:AAPL")
    assert doc is not None
    store.put_document(COLLECTION, "ibkr:AAPL", {**doc, "close": [10.0]})  # lengths differ
    assert cache.get("ibkr", "AAPL") is None


def test_bar_cache_when_opener_then_store_opened_and_closed_each_time(tmp_path: Path) -> None:
    opened: list[SqliteStore] = []

    def opener() -> SqliteStore:
        opened.append(SqliteStore(tmp_path / "q.db"))
        return opened[-1]

    cache = BarCache(opener=opener)
    cache.put(entry())
    assert cache.get("ibkr", "AAPL") is not None
    assert len(opened) == 2
    with pytest.raises(ValueError, match="not both"):
        BarCache(opened[0], opener)


@pytest.mark.parametrize(
    ("now", "session"),
    [
        (datetime(2013, 3, 1, 20, 59, tzinfo=UTC), date(2013, 2, 28)),  # 15:59 in New York
        (datetime(2013, 3, 1, 21, 0, tzinfo=UTC), date(2013, 3, 1)),  # the close
        (datetime(2013, 3, 3, 12, 0, tzinfo=UTC), date(2013, 3, 1)),  # Sunday
        (datetime(2013, 2, 18, 22, 0, tzinfo=UTC), date(2013, 2, 15)),  # Presidents' Day
        (datetime(2012, 12, 24, 18, 30, tzinfo=UTC), date(2012, 12, 24)),  # 13:00 early close
    ],
)
def test_last_session_when_now_then_last_session_that_had_closed(
    now: datetime, session: date
) -> None:
    assert last_session(now, "XNYS") == session


def test_last_session_when_calendar_unknown_then_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="NOPE"):
        last_session(datetime(2013, 3, 1, tzinfo=UTC), "NOPE")


def test_loop_thread_when_coroutine_then_result_and_timeout_is_temporary() -> None:
    import asyncio

    loop = LoopThread()
    try:
        assert loop.run(asyncio.sleep(0, result=7), 5.0) == 7
        with pytest.raises(TemporaryError, match="no answer"):
            loop.run(asyncio.sleep(5), 0.05)
    finally:
        loop.stop()
