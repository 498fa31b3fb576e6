"""Failover as configured: ``load_market(settings)`` builds the chain of
``marketdata.providers``; IBKR (the simulator, real ib_async client) first, then a CSV
folder, then the shipped files. And the path the daemon takes: bars fetched from the
simulator through IBKR historical bars, the cycle's date check, one cycle on them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.brokers.ibkr_sim.historical import quoted
from adapters.marketdata.failover import (
    FailoverMarketData,
    FailoverReason,
    MarketDataUnavailableError,
)
from adapters.marketdata.files import load_bars
from adapters.runtime import check_cycle_date, cycle_service, data_span, load_market
from adapters.storage.sqlite import SqliteStore
from config.settings import DATA_DIR, Settings, load_settings
from core.errors import ConfigurationError

pytestmark = pytest.mark.timeout(120)

FRIDAY_EVENING = datetime(2013, 3, 1, 23, 0, tzinfo=UTC)  # the 1 March session has closed
CSV = "date,open,high,low,close,volume\n{rows}"


def write_csv(folder: Path, symbol: str, rows: list[tuple[str, float]]) -> None:
    body = "".join(f"{d},{p},{p + 1},{p - 1},{p},1000\n" for d, p in rows)
    (folder / f"{symbol}.csv").write_text(CSV.format(rows=body))


@pytest.fixture
async def sim() -> AsyncIterator[TwsSimulator]:
    simulator = await TwsSimulator().start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def chain_settings(tmp_path: Path, port: int, providers: list[str], **extra: Any) -> Settings:
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir(exist_ok=True)
    return load_settings(
        state_dir=tmp_path / "var",
        broker={"ibkr": {"port": port}},
        marketdata={"providers": providers, "csv_dir": csv_dir, "ibkr_client_id": 31},
        **extra,
    )


async def test_load_market_when_default_settings_then_the_plain_shipped_files(
    tmp_path: Path,
) -> None:
    from adapters.marketdata.files import FileMarketData

    market = load_market(load_settings(state_dir=tmp_path))
    assert type(market) is FileMarketData
    assert market.symbols() == ["AAPL", "GOOG", "IBM", "MSFT"]


async def test_bars_when_gateway_down_then_csv_serves_and_failover_names_host_port(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    s = chain_settings(tmp_path, unused_tcp_port, ["ibkr", "csv", "files"])
    write_csv(s.marketdata.csv_dir, "AAPL", [("2013-02-28", 440.0), ("2013-03-01", 430.0)])  # type: ignore[arg-type]
    market = load_market(s, now=lambda: FRIDAY_EVENING)
    assert isinstance(market, FailoverMarketData) and market.names() == ["ibkr", "csv", "files"]
    try:
        bars = await asyncio.to_thread(market.bars, "AAPL", date(2013, 2, 1), date(2013, 3, 1))
    finally:
        market.close()
    assert list(bars.close) == [440.0, 430.0] and market.served_by["AAPL"] == "csv"
    [event] = list(market.failovers)
    assert (event.provider, event.reason, event.next) == ("ibkr", FailoverReason.PROVIDER_DOWN,
                                                          "csv")  # fmt: skip
    assert f"127.0.0.1:{unused_tcp_port}" in event.detail


async def test_bars_when_ib_does_not_know_the_symbol_then_next_provider_serves_it(
    sim: TwsSimulator, tmp_path: Path
) -> None:
    s = chain_settings(tmp_path, sim.port, ["ibkr", "csv"])
    write_csv(s.marketdata.csv_dir, "ACME", [("2013-03-01", 12.0)])  # type: ignore[arg-type]
    store = SqliteStore(tmp_path / "cache.db")
    market = load_market(s, store=store, now=lambda: FRIDAY_EVENING)
    try:
        acme = await asyncio.to_thread(market.bars, "ACME", date(2013, 2, 1))
        aapl = await asyncio.to_thread(market.bars, "AAPL", date(2013, 2, 1))
    finally:
        market.close()
        store.close()
    assert isinstance(market, FailoverMarketData)
    assert list(acme.close) == [12.0] and market.served_by == {"ACME": "csv", "AAPL": "ibkr"}
    assert [(e.symbol, e.reason) for e in market.failovers] == [
        ("ACME", FailoverReason.UNKNOWN_SYMBOL)
    ]
    assert len(aapl) == 20


async def test_bars_when_ib_has_no_bar_in_the_window_then_next_provider_serves_it(
    sim: TwsSimulator, tmp_path: Path
) -> None:
    s = chain_settings(tmp_path, sim.port, ["ibkr", "csv"])
    write_csv(s.marketdata.csv_dir, "AAPL", [("2020-01-02", 75.0), ("2020-01-03", 74.0)])  # type: ignore[arg-type]
    store = SqliteStore(tmp_path / "cache.db")
    later = datetime(2020, 1, 6, 23, tzinfo=UTC)
    market = load_market(s, store=store, now=lambda: later)
    try:
        bars = await asyncio.to_thread(market.bars, "AAPL", date(2020, 1, 1), date(2020, 1, 3))
    finally:
        market.close()
        store.close()
    assert isinstance(market, FailoverMarketData)
    assert list(bars.close) == [75.0, 74.0]
    assert [e.reason for e in market.failovers] == [FailoverReason.NO_DATA]
    assert [r.outcome for r in sim.history.requests] == ["no_data"]


async def test_bars_when_every_provider_fails_then_error_names_each_reason(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    s = chain_settings(tmp_path, unused_tcp_port, ["ibkr", "csv"])
    market = load_market(s, now=lambda: FRIDAY_EVENING)
    try:
        with pytest.raises(MarketDataUnavailableError) as err:
            await asyncio.to_thread(market.bars, "AAPL")
    finally:
        market.close()
    assert [(e.provider, e.reason) for e in err.value.failovers] == [
        ("ibkr", FailoverReason.PROVIDER_DOWN),
        ("csv", FailoverReason.UNKNOWN_SYMBOL),
    ]
    assert "ibkr: PROVIDER_DOWN" in str(err.value) and "csv: UNKNOWN_SYMBOL" in str(err.value)


def test_load_market_when_csv_named_without_folder_then_configuration_error(
    tmp_path: Path,
) -> None:
    s = load_settings(state_dir=tmp_path, marketdata={"providers": ["csv", "files"]})
    with pytest.raises(ConfigurationError, match="csv_dir is not set"):
        load_market(s)


async def test_daemon_path_when_bars_come_from_ibkr_then_date_check_uses_their_span_and_cycle_runs(
    sim: TwsSimulator, tmp_path: Path
) -> None:
    s = chain_settings(tmp_path, sim.port, ["ibkr", "files"])
    store = SqliteStore(s.sqlite_file)
    market = load_market(s, store=store, now=lambda: FRIDAY_EVENING)
    symbols = list(s.universe.symbols)

    def prefetch() -> None:  # `quorum data fetch --from 2011-01-01`, in effect
        for symbol in symbols:
            market.bars(symbol, start=date(2011, 1, 1))

    try:
        await asyncio.to_thread(prefetch)
        assert sim.history.served() == len(symbols)
        span = await asyncio.to_thread(data_span, market, symbols)
        assert span == (date(2011, 1, 3), date(2013, 3, 1))  # everything cached, to Friday
        await asyncio.to_thread(check_cycle_date, market, symbols, date(2013, 3, 1))
        with pytest.raises(ConfigurationError, match=r"outside the market data"):
            await asyncio.to_thread(check_cycle_date, market, symbols, date(2013, 3, 4))
        async with cycle_service(s, store=store, market=market) as service:
            summary = await service.run(date(2013, 3, 1))
    finally:
        market.close()
        store.close()
    assert summary["status"] == "completed"
    assert sim.history.served() == len(symbols)  # the cycle itself read only the cache
    assert isinstance(market, FailoverMarketData)
    assert set(market.served_by.values()) == {"ibkr"} and list(market.failovers) == []
    served = quoted(load_bars(DATA_DIR / "us_daily" / "AAPL.csv.gz"))  # the simulator's scale
    aapl = await asyncio.to_thread(market.bars, "AAPL", date(2013, 3, 1), date(2013, 3, 1))
    np.testing.assert_array_equal(aapl.close, served.close[-1:])
