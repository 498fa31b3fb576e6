"""IBKR historical bars: ``IbkrMarketData`` (real ib_async client) against the TWS
simulator on loopback, serving the shipped daily files. The adapter is synchronous (the
``MarketData`` port), so each test drives it from a worker thread while the simulator
runs on the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from ib_async import IB, Stock

from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.brokers.ibkr_sim.historical import HistoryDesk, HistoryRules, quoted
from adapters.marketdata.cache import COLLECTION, BarCache
from adapters.marketdata.files import load_bars
from adapters.marketdata.ibkr import (
    GatewayDownError,
    HistoryLimits,
    IbkrBarsConfig,
    IbkrMarketData,
    UnknownSymbolError,
)
from adapters.storage.sqlite import SqliteStore
from config.settings import DATA_DIR
from core.errors import TemporaryError
from tests.integration.conftest import sim_config

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
SHIPPED = DATA_DIR / "us_daily"
# Monday 2013-03-04, before the open: the last closed session is Friday 2013-03-01,
# the last day of the shipped files.
MONDAY_MORNING = datetime(2013, 3, 4, 12, 0, tzinfo=UTC)
NO_PACING = HistoryLimits(identical_s=0.0, per_contract_window_s=0.0)


def file_rows(symbol: str, first: date, last: date) -> dict[str, np.ndarray]:
    bars = quoted(load_bars(SHIPPED / f"{symbol}.csv.gz"))  # the simulator's (adjusted) scale
    days = bars.timestamps.astype("datetime64[D]")
    keep = (days >= np.datetime64(first)) & (days <= np.datetime64(last))
    return {k: getattr(bars, k)[keep] for k in ("open", "high", "low", "close", "volume")} | {
        "days": days[keep]
    }


@pytest.fixture
async def hist_sim() -> AsyncIterator[TwsSimulator]:
    sim = await TwsSimulator().start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
def cache_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "cache.db")
    yield store
    store.close()


def make_market(
    port: int,
    store: SqliteStore,
    limits: HistoryLimits = NO_PACING,
    now: datetime = MONDAY_MORNING,
    **ibkr: Any,
) -> IbkrMarketData:
    config = IbkrBarsConfig(ibkr=sim_config(port, client_id=18, **ibkr), limits=limits,
                            history_timeout_s=5.0, down_for_s=0.0)  # fmt: skip
    return IbkrMarketData(config, BarCache(store), symbols=["AAPL", "MSFT"], now=lambda: now)


async def off_loop(fn: Callable[[], T]) -> T:
    """Run the synchronous adapter without blocking the simulator's loop."""
    return await asyncio.to_thread(fn)


async def test_bars_when_fetched_from_simulator_then_equal_the_shipped_rows_adjusted(
    hist_sim: TwsSimulator, cache_store: SqliteStore
) -> None:
    market = make_market(hist_sim.port, cache_store)
    try:
        bars = await off_loop(lambda: market.bars("AAPL", date(2012, 6, 1), date(2012, 12, 31)))
    finally:
        market.close()
    want = file_rows("AAPL", date(2012, 6, 1), date(2012, 12, 31))
    assert list(bars.timestamps.astype("datetime64[D]")) == list(want["days"])
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(bars, column), want[column])
    assert bars.adj_close is None  # TRADES bars: as traded, no adjusted close
    assert hist_sim.history.served("AAPL") == 1


async def test_bars_when_second_adapter_on_same_store_then_no_request_reaches_tws(
    hist_sim: TwsSimulator, cache_store: SqliteStore
) -> None:
    first = make_market(hist_sim.port, cache_store)
    try:
        fetched = await off_loop(lambda: first.bars("AAPL"))  # history_years=2 to Friday
    finally:
        first.close()
    assert hist_sim.history.served() == 1
    restarted = make_market(hist_sim.port, cache_store)
    try:
        again = await off_loop(lambda: restarted.bars("AAPL"))
        inside = await off_loop(lambda: restarted.bars("AAPL", date(2012, 1, 1), date(2012, 2, 1)))
    finally:
        restarted.close()
    assert len(hist_sim.history.requests) == 1 and restarted.requests_sent == 0
    np.testing.assert_array_equal(again.close, fetched.close)
    assert str(fetched.timestamps[-1])[:10] == "2013-03-01"
    assert len(inside) == len(file_rows("AAPL", date(2012, 1, 1), date(2012, 2, 1))["days"])


async def test_bars_when_cache_lacks_older_days_then_only_the_missing_head_is_requested(
    hist_sim: TwsSimulator, cache_store: SqliteStore
) -> None:
    market = make_market(hist_sim.port, cache_store)
    try:
        await off_loop(lambda: market.bars("MSFT", date(2012, 1, 1), date(2013, 3, 1)))
        longer = await off_loop(lambda: market.bars("MSFT", date(2010, 1, 1), date(2013, 3, 1)))
    finally:
        market.close()
    served = [r for r in hist_sim.history.requests if r.outcome == "served"]
    assert [(r.end, r.duration) for r in served] == [
        ("20130301 23:59:59 US/Eastern", "2 Y"),  # 2012-01-01 .. 2013-03-01
        ("20111231 23:59:59 US/Eastern", "2 Y"),  # only 2010-01-01 .. 2011-12-31 is new
    ]
    want = file_rows("MSFT", date(2010, 1, 1), date(2013, 3, 1))
    np.testing.assert_array_equal(longer.close, want["close"])
    doc = cache_store.get_document(COLLECTION, "ibkr:MSFT")
    assert doc is not None and (doc["asked_from"], doc["asked_through"]) == (
        "2010-01-01",
        "2013-03-01",
    )


async def test_bars_when_a_later_session_closed_then_only_the_tail_is_asked_again(
    hist_sim: TwsSimulator, cache_store: SqliteStore
) -> None:
    friday = make_market(hist_sim.port, cache_store)
    try:
        await off_loop(lambda: friday.bars("AAPL", date(2013, 1, 2)))
    finally:
        friday.close()
    monday_evening = datetime(2013, 3, 5, 1, tzinfo=UTC)  # 20:00 in New York
    later = make_market(hist_sim.port, cache_store, now=monday_evening)
    try:  # Monday 4 March has closed; the files have no bar for it (they end on the 1st)
        bars = await off_loop(lambda: later.bars("AAPL", date(2013, 1, 2)))
        await off_loop(lambda: later.bars("AAPL", date(2013, 1, 2)))  # same process: asked
    finally:
        later.close()
    assert [(r.end, r.duration, r.outcome) for r in hist_sim.history.requests] == [
        ("20130301 23:59:59 US/Eastern", "59 D", "served"),
        ("20130304 23:59:59 US/Eastern", "3 D", "no_data"),
    ]
    assert str(bars.timestamps[-1])[:10] == "2013-03-01"


async def test_bars_when_symbol_unknown_to_ib_then_unknown_symbol_error_with_code_200(
    hist_sim: TwsSimulator, cache_store: SqliteStore
) -> None:
    market = make_market(hist_sim.port, cache_store)
    try:
        with pytest.raises(UnknownSymbolError) as err:
            await off_loop(lambda: market.bars("ZZZZ"))
    finally:
        market.close()
    assert err.value.broker_code == 200 and isinstance(err.value, KeyError)
    assert "ZZZZ" in str(err.value) and "200" in str(err.value)
    assert [r.outcome for r in hist_sim.history.requests] == ["no_contract"]


async def test_bars_when_pacing_violation_162_then_retried_with_backoff_and_served(
    hist_sim: TwsSimulator, cache_store: SqliteStore
) -> None:
    hist_sim.faults.pacing_violation("history", times=2)
    market = make_market(hist_sim.port, cache_store)
    try:
        bars = await off_loop(lambda: market.bars("AAPL", date(2013, 2, 1), date(2013, 3, 1)))
    finally:
        market.close()
    assert [r.outcome for r in hist_sim.history.requests] == ["pacing", "pacing", "served"]
    assert len(bars) == len(file_rows("AAPL", date(2013, 2, 1), date(2013, 3, 1))["days"])


async def test_bars_when_pacing_violations_persist_then_temporary_error_names_162(
    hist_sim: TwsSimulator, cache_store: SqliteStore
) -> None:
    hist_sim.faults.pacing_violation("history", times=10)
    market = make_market(hist_sim.port, cache_store, pacing_retries=2)
    try:
        with pytest.raises(TemporaryError) as err:
            await off_loop(lambda: market.bars("AAPL", date(2013, 2, 1), date(2013, 3, 1)))
    finally:
        market.close()
    assert err.value.broker_code == 162 and "pacing" in str(err.value)
    assert [r.outcome for r in hist_sim.history.requests] == ["pacing"] * 3
    assert cache_store.get_document(COLLECTION, "ibkr:AAPL") is None  # nothing half-written


async def test_bars_when_requests_exceed_ib_limits_then_adapter_waits_and_tws_sees_no_violation(
    cache_store: SqliteStore,
) -> None:
    # TWS's windows are a little shorter than the adapter's: arrival jitter on loopback
    # must not turn a paced request into a violation.
    rules = HistoryRules(max_requests=3, window_s=0.5, identical_s=0.2, per_contract=2,
                         per_contract_window_s=0.2)  # fmt: skip
    sim = await TwsSimulator(history=HistoryDesk(rules=rules)).start()
    limits = HistoryLimits(max_requests=3, window_s=0.6, identical_s=0.3, per_contract=2,
                           per_contract_window_s=0.3)  # fmt: skip
    market = make_market(sim.port, cache_store, limits=limits)
    try:

        def many() -> None:  # six later windows of one symbol: six tail requests
            for month in range(1, 7):
                market.bars("AAPL", date(2012, 1, 1), date(2012, month, 10))

        await off_loop(many)
    finally:
        market.close()
        await sim.stop()
    outcomes = [r.outcome for r in sim.history.requests]
    assert outcomes == ["served"] * 6, outcomes
    stamps = [r.at for r in sim.history.requests]  # at most 3 in any 0.5 s at TWS
    assert all(b - a >= 0.5 for a, b in zip(stamps, stamps[3:], strict=False))
    assert all(b - a >= 0.2 for a, b in zip(stamps, stamps[2:], strict=False))


async def test_bars_when_gateway_down_then_gateway_down_error_names_host_and_port(
    cache_store: SqliteStore, unused_tcp_port: int
) -> None:
    port = unused_tcp_port
    market = make_market(port, cache_store, connect_timeout_s=1.0, client_id_retries=0)
    try:
        with pytest.raises(GatewayDownError) as err:
            await off_loop(lambda: market.bars("AAPL"))
    finally:
        market.close()
    assert f"127.0.0.1:{port}" in str(err.value) and "connection refused" in str(err.value)


async def test_history_when_client_times_out_then_cancel_reaches_tws_and_late_answer_dropped(
    hist_sim: TwsSimulator,
) -> None:
    hist_sim.faults.delay_history(1.0)
    ib = IB()
    await ib.connectAsync("127.0.0.1", hist_sim.port, clientId=5)
    try:
        bars = await ib.reqHistoricalDataAsync(Stock("AAPL", "SMART", "USD"),
                                               "20130301 23:59:59 US/Eastern", "5 D", "1 day",
                                               "TRADES", True, timeout=0.2)  # fmt: skip
        assert list(bars) == []  # ib_async gave up and sent cancelHistoricalData
        await asyncio.sleep(0.05)
        assert hist_sim.history.cancelled == {(5, bars.reqId)}
        await asyncio.sleep(1.0)
        later = await ib.reqHistoricalDataAsync(Stock("MSFT", "SMART", "USD"),
                                                "20130301 23:59:59 US/Eastern", "5 D", "1 day",
                                                "TRADES", True)  # fmt: skip
    finally:
        ib.disconnect()
    assert [b.date for b in later][-1] == date(2013, 3, 1) and len(later) == 5


@pytest.mark.parametrize(
    ("bar_size", "what", "duration", "end", "needle"),
    [
        ("1 hour", "TRADES", "5 D", "", "bar size"),
        ("1 day", "MIDPOINT", "5 D", "", "whatToShow"),
        ("1 day", "TRADES", "five days", "", "duration"),
        ("1 day", "TRADES", "60 S", "", "seconds"),
        ("1 day", "TRADES", "5 D", "2013-03-01", "end date"),
        ("1 day", "TRADES", "5 D", "20000101 23:59:59 US/Eastern", "no data"),
    ],
)
async def test_history_when_request_is_bad_then_error_162_names_the_field(
    hist_sim: TwsSimulator, bar_size: str, what: str, duration: str, end: str, needle: str
) -> None:
    errors: list[tuple[int, str]] = []
    ib = IB()
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
    await ib.connectAsync("127.0.0.1", hist_sim.port, clientId=6)
    try:
        bars = await ib.reqHistoricalDataAsync(Stock("AAPL", "SMART", "USD"), end, duration,
                                               bar_size, what, True, timeout=5)  # fmt: skip
    finally:
        ib.disconnect()
    assert list(bars) == []
    refusals = [(c, t) for c, t in errors if c == 162]
    assert len(refusals) == 1 and needle in refusals[0][1], errors


async def test_history_when_end_is_given_in_another_zone_then_read_in_the_exchange_zone(
    hist_sim: TwsSimulator,
) -> None:
    ib = IB()
    await ib.connectAsync("127.0.0.1", hist_sim.port, clientId=7)
    try:  # 04:00 UTC on the 2nd is still the 1st in New York
        utc = await ib.reqHistoricalDataAsync(Stock("IBM", "SMART", "USD"),
                                              "20130302-04:00:00", "3 D", "1 day", "TRADES",
                                              True)  # fmt: skip
    finally:
        ib.disconnect()
    assert [b.date for b in utc] == [date(2013, 2, 27), date(2013, 2, 28), date(2013, 3, 1)]


async def test_bars_when_tws_dropped_the_link_between_calls_then_next_fetch_reconnects(
    hist_sim: TwsSimulator, cache_store: SqliteStore
) -> None:
    market = make_market(hist_sim.port, cache_store)
    try:
        await off_loop(lambda: market.bars("AAPL", date(2013, 2, 1), date(2013, 3, 1)))
        hist_sim.drop_connections()  # IB Gateway's nightly restart, in effect
        await asyncio.sleep(0.05)
        msft = await off_loop(lambda: market.bars("MSFT", date(2013, 2, 1), date(2013, 3, 1)))
    finally:
        market.close()
    assert len(msft) == 20 and hist_sim.api_sessions == 2
    assert [r.symbol for r in hist_sim.history.requests] == ["AAPL", "MSFT"]
