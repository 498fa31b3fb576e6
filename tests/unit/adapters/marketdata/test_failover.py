"""Failover between providers: order, codes, what is logged, what is raised; and the
chain the settings build."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from adapters.marketdata.factory import make_market
from adapters.marketdata.failover import (
    FailoverMarketData,
    FailoverReason,
    MarketDataUnavailableError,
    UnknownSymbolEverywhereError,
)
from adapters.marketdata.files import FileMarketData
from adapters.marketdata.ibkr import IbkrMarketData
from config.settings import load_settings
from core.bars import BarSeries
from core.errors import ConfigurationError, DataValidationError, TemporaryError
from core.instruments import Instrument


class Failing:
    """A provider whose every ``bars`` raises ``error``."""

    def __init__(self, error: Exception, symbols: list[str] | None = None) -> None:
        self.error = error
        self._symbols = symbols or []
        self.calls = 0
        self.closed = False

    def symbols(self) -> list[str]:
        return self._symbols

    def instrument(self, symbol: str) -> Instrument:
        raise KeyError(symbol)

    def bars(
        self, symbol: str, start: date | None = None, end: date | None = None, adjusted: bool = True
    ) -> BarSeries:
        self.calls += 1
        raise self.error

    def close(self) -> None:
        self.closed = True


def folder(tmp_path: Path, name: str, symbol: str, rows: list[tuple[str, float]]) -> Path:
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    body = "".join(f"{d},{p},{p + 1},{p - 1},{p},{p},1000\n" for d, p in rows)
    (out / f"{symbol}.csv").write_text("date,open,high,low,close,adj_close,volume\n" + body)
    return out


@pytest.fixture
def csv_market(tmp_path: Path) -> FileMarketData:
    return FileMarketData(folder(tmp_path, "csv", "AAPL", [("2013-03-01", 430.0)]))


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TemporaryError("cannot connect to TWS at 127.0.0.1:4002"), FailoverReason.PROVIDER_DOWN),
        (TimeoutError("slow"), FailoverReason.PROVIDER_DOWN),
        (KeyError("AAPL"), FailoverReason.UNKNOWN_SYMBOL),
        (DataValidationError("ibkr:AAPL: 1 error"), FailoverReason.INVALID_DATA),
        (ValueError("odd"), FailoverReason.PROVIDER_ERROR),
    ],
)
def test_bars_when_first_provider_fails_then_next_serves_and_failover_has_code(
    csv_market: FileMarketData,
    error: Exception,
    reason: FailoverReason,
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain = FailoverMarketData([("ibkr", Failing(error)), ("csv", csv_market)])
    with caplog.at_level(logging.WARNING, logger="quorum.marketdata"):
        bars = chain.bars("AAPL")
    assert list(bars.close) == [430.0] and chain.served_by == {"AAPL": "csv"}
    [event] = list(chain.failovers)
    assert (event.provider, event.symbol, event.reason, event.next) == (
        "ibkr", "AAPL", reason, "csv",
    )  # fmt: skip
    assert event.render().startswith(f"{reason}: provider=ibkr symbol=AAPL next=csv detail=")
    assert [r.getMessage() for r in caplog.records] == [f"market data failover: {event.render()}"]


def test_bars_when_same_failure_repeats_then_warned_once_and_recorded_each_time(
    csv_market: FileMarketData, caplog: pytest.LogCaptureFixture
) -> None:
    chain = FailoverMarketData([("ibkr", Failing(TemporaryError("down"))), ("csv", csv_market)])
    with caplog.at_level(logging.WARNING, logger="quorum.marketdata"):
        for _ in range(3):
            chain.bars("AAPL")
    assert len(chain.failovers) == 3 and len(caplog.records) == 1


def test_bars_when_a_setting_is_wrong_then_configuration_error_is_not_hidden(
    csv_market: FileMarketData,
) -> None:
    chain = FailoverMarketData([("ibkr", Failing(ConfigurationError("bad calendar"))),
                                ("csv", csv_market)])  # fmt: skip
    with pytest.raises(ConfigurationError, match="bad calendar"):
        chain.bars("AAPL")


def test_bars_when_first_has_no_bar_in_window_then_next_provider_with_bars_serves(
    tmp_path: Path,
) -> None:
    old = FileMarketData(folder(tmp_path, "old", "AAPL", [("2010-01-04", 30.0)]))
    new = FileMarketData(folder(tmp_path, "new", "AAPL", [("2013-03-01", 430.0)]))
    chain = FailoverMarketData([("files", old), ("csv", new)])
    bars = chain.bars("AAPL", start=date(2013, 1, 1))
    assert list(bars.close) == [430.0]
    assert [e.reason for e in chain.failovers] == [FailoverReason.NO_DATA]


def test_bars_when_nobody_has_a_bar_in_window_then_first_empty_answer(tmp_path: Path) -> None:
    a = FileMarketData(folder(tmp_path, "a", "AAPL", [("2010-01-04", 30.0)]))
    b = FileMarketData(folder(tmp_path, "b", "AAPL", [("2011-01-03", 40.0)]))
    chain = FailoverMarketData([("files", a), ("csv", b)])
    assert len(chain.bars("AAPL", start=date(2013, 1, 1))) == 0
    assert chain.served_by == {"AAPL": "files"}


def test_bars_when_no_provider_knows_symbol_then_key_error_naming_each(
    csv_market: FileMarketData,
) -> None:
    chain = FailoverMarketData([("ibkr", Failing(KeyError("ZZZZ"))), ("csv", csv_market)])
    with pytest.raises(UnknownSymbolEverywhereError) as err:
        chain.bars("ZZZZ")
    assert isinstance(err.value, KeyError)
    assert "ibkr: UNKNOWN_SYMBOL" in str(err.value) and "csv: UNKNOWN_SYMBOL" in str(err.value)


def test_bars_when_all_fail_differently_then_temporary_error_with_each_failover() -> None:
    chain = FailoverMarketData([("ibkr", Failing(TemporaryError("down"))),
                                ("csv", Failing(DataValidationError("bad row")))])  # fmt: skip
    with pytest.raises(MarketDataUnavailableError) as err:
        chain.bars("AAPL")
    assert isinstance(err.value, TemporaryError)
    assert [(e.provider, e.reason, e.next) for e in err.value.failovers] == [
        ("ibkr", FailoverReason.PROVIDER_DOWN, "csv"),
        ("csv", FailoverReason.INVALID_DATA, None),
    ]


def test_symbols_and_instrument_when_chained_then_union_and_first_that_knows(
    csv_market: FileMarketData,
) -> None:
    failing = Failing(TemporaryError("down"), symbols=["MSFT"])
    chain = FailoverMarketData([("ibkr", failing), ("csv", csv_market)])
    assert chain.symbols() == ["AAPL", "MSFT"]
    assert chain.instrument("AAPL").symbol == "AAPL"
    with pytest.raises(KeyError):
        chain.instrument("ZZZZ")
    chain.close()
    assert failing.closed


def test_make_market_when_default_providers_then_plain_file_market_data(tmp_path: Path) -> None:
    market = make_market(load_settings(state_dir=tmp_path))
    assert type(market) is FileMarketData
    assert market.instrument("AAPL").primary_exchange == "SMART"  # as it always was


def test_make_market_when_providers_configured_then_chain_in_that_order(tmp_path: Path) -> None:
    csv_dir = folder(tmp_path, "mine", "ACME", [("2013-03-01", 12.0)])
    s = load_settings(state_dir=tmp_path, marketdata={"providers": ["ibkr", "csv", "files", "csv"],
                                                      "csv_dir": csv_dir})  # fmt: skip
    market = make_market(s)
    assert isinstance(market, FailoverMarketData)
    assert market.names() == ["ibkr", "csv", "files"]
    ibkr = market.providers[0][1]
    assert isinstance(ibkr, IbkrMarketData)
    assert (ibkr.config.ibkr.client_id, ibkr.config.ibkr.port) == (18, 7497)
    assert ibkr.config.ibkr.readonly and ibkr.config.history_years == 2
    assert ibkr.instrument("AAPL").primary_exchange == "NASDAQ"  # from the universe file
    assert "ACME" in market.symbols()


@pytest.mark.parametrize(
    ("csv_dir", "message"), [(None, "csv_dir is not set"), ("missing", "no such folder")]
)
def test_make_market_when_csv_folder_unusable_then_configuration_error(
    tmp_path: Path, csv_dir: str | None, message: str
) -> None:
    md: dict[str, object] = {"providers": ["csv"]}
    if csv_dir:
        md["csv_dir"] = tmp_path / csv_dir
    with pytest.raises(ConfigurationError, match=message):
        make_market(load_settings(state_dir=tmp_path, marketdata=md))


def test_make_market_when_marketdata_on_a_live_port_without_live_mode_then_refused(
    tmp_path: Path,
) -> None:
    s = load_settings(state_dir=tmp_path, broker={"ibkr": {"port": 4001}},
                      marketdata={"providers": ["ibkr"]})  # fmt: skip
    with pytest.raises(ConfigurationError, match="LIVE"):
        make_market(s)
