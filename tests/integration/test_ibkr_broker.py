"""IBKRBroker over the real ib_async client against the TWS simulator: the happy paths."""

from __future__ import annotations

import pytest

from adapters.brokers.ibkr import IBKRBroker
from adapters.brokers.ibkr_sim import TwsSimulator
from core.instruments import Instrument
from core.orders import OrderIntent, OrderSide, OrderStatus, OrderType
from tests.integration.conftest import wait_until

# every test here talks to a socket: a hang must fail fast, not stall the suite
pytestmark = pytest.mark.timeout(30)


def buy(symbol: str = "AAPL", qty: int = 10, **kw: object) -> OrderIntent:
    return OrderIntent(symbol=symbol, side=OrderSide.BUY, quantity=qty, **kw)  # type: ignore[arg-type]


async def test_qualify_us_stock_then_smart_routed_with_primary_exchange(
    broker: IBKRBroker,
) -> None:
    got = await broker.qualify(Instrument(symbol="AAPL", primary_exchange="NASDAQ"))
    assert (got.exchange, got.primary_exchange, got.currency) == ("SMART", "NASDAQ", "USD")
    assert got.isin == "US0378331005"


async def test_market_order_fills_at_sim_price_with_commission(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    order = await broker.place(buy(), "q-c1-mkt")
    await broker.sync()
    done = broker.store.order(order.order_id)
    assert done is not None and done.status is OrderStatus.FILLED
    (fill,) = await broker.executions()
    assert (fill.quantity, fill.price, fill.client_ref) == (10, 190.0, "q-c1-mkt")
    assert fill.commission == pytest.approx(1.0)
    assert sim.orders_placed("q-c1-mkt") == 1
    assert [(p.symbol, p.quantity) for p in await broker.positions()] == [("AAPL", 10)]


async def test_limit_order_rests_then_cancel(broker: IBKRBroker, sim: TwsSimulator) -> None:
    order = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=150.0), "q-c1-lmt")
    assert order.status is OrderStatus.SUBMITTED
    cancelled = await broker.cancel(order.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    await wait_until(lambda: not sim.book.open_orders())


async def test_shared_store_when_paper_orders_present_then_ibkr_never_touches_them(
    sim: TwsSimulator, store: object
) -> None:
    from core.orders import Order, OrderEvent
    from tests.integration.conftest import sim_config

    paper = Order(order_id="paper-1", client_ref="q-shared", intent=buy())
    paper = paper.transition(OrderEvent.SUBMIT)
    store.save_order(paper)  # type: ignore[attr-defined]
    broker = IBKRBroker(sim_config(sim.port), store)  # type: ignore[arg-type]
    await broker.connect()
    try:
        assert await broker.open_orders() == []
        assert store.order("paper-1") == paper  # type: ignore[attr-defined]
        assert broker.last_reconcile == []
    finally:
        await broker.disconnect()


async def test_stop_order_rests_until_price_reaches_it(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    stop = OrderIntent(symbol="AAPL", side=OrderSide.SELL, quantity=5, order_type=OrderType.STOP,
                       stop_price=185.0)  # fmt: skip
    order = await broker.place(stop, "q-stop")
    sim.set_price("AAPL", 186.0)
    await broker.sync()
    assert broker.store.order(order.order_id).status is OrderStatus.SUBMITTED  # type: ignore[union-attr]
    sim.set_price("AAPL", 184.0)
    await broker.sync()
    (fill,) = await broker.executions()
    assert (fill.side, fill.price, fill.quantity) == (OrderSide.SELL, 184.0, 5)
    assert [(p.symbol, p.quantity) for p in await broker.positions()] == [("AAPL", -5)]


async def test_account_summary_reads_base_currency_values(broker: IBKRBroker) -> None:
    account = await broker.account()
    assert (account.currency, account.cash, account.equity) == ("USD", 1_000_000.0, 1_000_000.0)


def add_other_account(broker: IBKRBroker, account: str = "DU7654321") -> None:
    """What a login with linked accounts also receives: another account's values and
    position (here a bigger AAPL holding and an EUR base currency)."""
    from ib_async import AccountValue, Position, Stock

    wrapper = broker.client.ib.wrapper
    for tag, value in [("NetLiquidation", "5.0"), ("TotalCashValue", "5.0")]:
        wrapper.accountValues[(account, tag, "EUR", "")] = AccountValue(
            account, tag, value, "EUR", ""
        )
    aapl = Stock("AAPL", "SMART", "USD", conId=265598)
    wrapper.positions[account][aapl.conId] = Position(account, aapl, 99.0, 1.0)
    wrapper.accounts = [*wrapper.accounts, account]


async def test_views_when_other_accounts_reported_then_only_the_configured_one(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    await broker.place(buy(), "q-acct")
    await broker.sync()
    add_other_account(broker)
    assert [(p.symbol, p.quantity) for p in await broker.positions()] == [("AAPL", 10)]
    account = await broker.account()
    assert account.currency == "USD" and account.cash < 1_000_000.0


async def test_views_when_several_accounts_and_none_configured_then_configuration_error(
    sim: TwsSimulator, store: object
) -> None:
    from core.errors import ConfigurationError
    from tests.integration.conftest import sim_config

    broker = IBKRBroker(sim_config(sim.port, account=""), store)  # type: ignore[arg-type]
    await broker.connect()
    try:
        assert (await broker.account()).currency == "USD"  # one managed account: that one
        add_other_account(broker)
        with pytest.raises(ConfigurationError, match=r"DU1234567, DU7654321.*ibkr\.account"):
            await broker.positions()
        with pytest.raises(ConfigurationError, match="several accounts"):
            await broker.account()
    finally:
        await broker.disconnect()
