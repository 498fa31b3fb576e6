"""A stock ib_async client, written the way its users write it, against
`quorum ibkr simulate` started as they start it: no --price, default options.

It used to wait forever: with no price fed, a market order rested as Submitted. The
simulator now fills it at the symbol's last close in the shipped daily files."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from ib_async import IB, MarketOrder, Stock

from adapters.brokers.ibkr_sim.historical import quoted
from adapters.marketdata.files import load_bars
from config.settings import DATA_DIR
from tests.fixtures.simulate_process import simulate_process

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
# the simulator's market is the shipped data's adjusted scale (56.14 on 2013-03-01)
AAPL_LAST_CLOSE = float(quoted(load_bars(DATA_DIR / "us_daily" / "AAPL.csv.gz")).close[-1])


@pytest.fixture
def simulate_port() -> Iterator[int]:
    """`quorum ibkr simulate --port 0 --json`, as a process; yields its port."""
    with simulate_process() as (_, info):
        assert info["market_prices"]["AAPL"] == AAPL_LAST_CLOSE
        yield int(info["port"])


def buy_ten_aapl_like_a_stock_user(port: int, qualify: bool) -> tuple[str, int, list[float]]:
    ib = IB()
    ib.connect("127.0.0.1", port, clientId=1)
    try:
        contract = Stock("AAPL", "SMART", "USD")
        if qualify:
            ib.qualifyContracts(contract)
            assert contract.conId  # qualified in place
        trade = ib.placeOrder(contract, MarketOrder("BUY", 10))
        for _ in range(100):  # up to 10 s
            if trade.orderStatus.status == "Filled" and trade.fills:
                break
            ib.sleep(0.1)
        ib.sleep(0.2)  # let the position update arrive too, as a user's script would
        prices = [f.execution.price for f in trade.fills]
        held = [p.position for p in ib.positions() if p.contract.symbol == "AAPL"]
        return trade.orderStatus.status, int(sum(held)), prices
    finally:
        ib.disconnect()


@pytest.mark.parametrize("qualify", [False, True], ids=["plain", "qualified"])
def test_stock_client_when_market_order_on_simulate_then_filled_with_fills_and_position(
    simulate_port: int, qualify: bool
) -> None:
    status, position, prices = buy_ten_aapl_like_a_stock_user(simulate_port, qualify)
    assert status == "Filled"
    assert prices == [AAPL_LAST_CLOSE]
    assert position == 10


async def test_stock_async_client_when_market_order_on_simulate_then_filled_and_positioned(
    simulate_port: int,
) -> None:
    ib = IB()
    await ib.connectAsync("127.0.0.1", simulate_port, clientId=3)
    try:
        trade = ib.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 10))
        deadline = asyncio.get_running_loop().time() + 10
        while not (trade.isDone() and trade.fills and ib.positions()):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert trade.orderStatus.status == "Filled"
        assert trade.orderStatus.filled == 10
        assert trade.orderStatus.avgFillPrice == pytest.approx(AAPL_LAST_CLOSE)
        assert [f.execution.shares for f in trade.fills] == [10.0]
        assert trade.fills[0].commissionReport.commission == 1.0  # IBKR fixed minimum
        assert [(p.contract.symbol, p.position) for p in ib.positions()] == [("AAPL", 10.0)]
    finally:
        ib.disconnect()


def test_stock_client_when_symbol_has_no_shipped_price_then_order_rests_until_priced(
    simulate_port: int,
) -> None:
    ib = IB()
    ib.connect("127.0.0.1", simulate_port, clientId=2)
    try:  # TotalEnergies (Euronext) has no shipped file: no price, nothing to fill at
        trade = ib.placeOrder(Stock("TTE", "SBF", "EUR"), MarketOrder("BUY", 5))
        ib.sleep(0.5)
        assert trade.orderStatus.status == "Submitted" and trade.fills == []
    finally:
        ib.disconnect()
