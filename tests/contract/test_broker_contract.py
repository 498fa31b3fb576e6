"""What every ``Broker`` must do, run against each harness in ``conftest.HARNESSES``.

Assertions use only the port: no implementation's internals, no exact commission.
"""

from __future__ import annotations

import asyncio

import pytest

from core.errors import OrderError
from core.orders import (
    OPEN,
    Fill,
    Order,
    OrderChange,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from core.ports import Broker, BrokerEventType
from tests.contract.conftest import BrokerHarness

# the ibkr_sim harness talks to a socket: a hang must fail fast, not stall the suite
pytestmark = pytest.mark.timeout(30)

SYMBOL = "AAPL"


def buy(qty: int = 10, **kw: object) -> OrderIntent:
    return OrderIntent(symbol=SYMBOL, side=OrderSide.BUY, quantity=qty, **kw)  # type: ignore[arg-type]


def sell(qty: int = 10, **kw: object) -> OrderIntent:
    return OrderIntent(symbol=SYMBOL, side=OrderSide.SELL, quantity=qty, **kw)  # type: ignore[arg-type]


async def order_state(broker: Broker, order_id: str) -> Order | None:
    """The order if still open, else ``None`` (closed orders are not in ``open_orders``)."""
    return next((o for o in await broker.open_orders() if o.order_id == order_id), None)


async def fills_of(broker: Broker, order_id: str) -> list[Fill]:
    return [f for f in await broker.executions() if f.order_id == order_id]


async def position_qty(broker: Broker, symbol: str = SYMBOL) -> int:
    return sum(p.quantity for p in await broker.positions() if p.symbol == symbol)


# -- placing and idempotency -------------------------------------------------------------
async def test_place_then_order_is_open_with_its_client_ref(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    order = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=90.0), "c-place")
    assert order.status in OPEN
    assert order.client_ref == "c-place"
    assert order.intent.quantity == 10
    assert [o.order_id for o in await broker.open_orders()] == [order.order_id]


async def test_place_when_client_ref_seen_then_returns_existing_order(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    first = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=90.0), "c-idem")
    second = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=90.0), "c-idem")
    assert second.order_id == first.order_id
    assert len(await broker.open_orders()) == 1


async def test_place_when_same_client_ref_concurrently_then_one_order(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    intent = buy(order_type=OrderType.LIMIT, limit_price=90.0)
    orders = await asyncio.gather(*(broker.place(intent, "c-race") for _ in range(5)))
    assert len({o.order_id for o in orders}) == 1
    assert len(await broker.open_orders()) == 1


async def test_place_when_client_ref_seen_before_restart_then_returns_existing_order(
    broker_harness: BrokerHarness,
) -> None:
    intent = buy(order_type=OrderType.LIMIT, limit_price=90.0)
    first = await broker_harness.broker.place(intent, "c-restart")
    broker = await broker_harness.restart()
    again = await broker.place(intent, "c-restart")
    assert again.order_id == first.order_id
    assert len(await broker.open_orders()) == 1


async def test_place_when_filled_order_ref_seen_then_no_second_fill(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    first = await broker.place(buy(), "c-filled")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    again = await broker.place(buy(), "c-filled")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    assert again.order_id == first.order_id
    assert await position_qty(broker) == 10


# -- fills -------------------------------------------------------------------------------
async def test_market_order_fills_at_the_market_price(broker_harness: BrokerHarness) -> None:
    broker = broker_harness.broker
    order = await broker.place(buy(qty=25), "c-mkt")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    fills = await fills_of(broker, order.order_id)
    assert sum(f.quantity for f in fills) == 25
    assert all(f.price == pytest.approx(100.0) and f.client_ref == "c-mkt" for f in fills)
    assert await order_state(broker, order.order_id) is None
    assert await position_qty(broker) == 25


@pytest.mark.parametrize(
    ("intent", "away", "through"),
    [
        (buy(order_type=OrderType.LIMIT, limit_price=99.0), 100.0, 98.0),
        (sell(order_type=OrderType.LIMIT, limit_price=101.0), 100.0, 102.0),
    ],
    ids=["buy", "sell"],
)
async def test_limit_order_fills_only_when_crossed_and_never_worse_than_limit(
    broker_harness: BrokerHarness, intent: OrderIntent, away: float, through: float
) -> None:
    broker = broker_harness.broker
    order = await broker.place(intent, f"c-lmt-{intent.side.value}")
    await broker_harness.market(SYMBOL, away, 1_000)
    assert await fills_of(broker, order.order_id) == []
    still = await order_state(broker, order.order_id)
    assert still is not None and still.status is OrderStatus.SUBMITTED

    await broker_harness.market(SYMBOL, through, 1_000)
    (fill,) = await fills_of(broker, order.order_id)
    limit = intent.limit_price
    assert limit is not None
    assert fill.price <= limit if intent.side is OrderSide.BUY else fill.price >= limit
    assert await order_state(broker, order.order_id) is None


async def test_partial_fill_then_rest_stays_open_until_filled(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    order = await broker.place(buy(qty=100), "c-partial")
    await broker_harness.market(SYMBOL, 100.0, 40)
    partial = await order_state(broker, order.order_id)
    assert partial is not None
    assert (partial.status, partial.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 40)
    assert await position_qty(broker) == 40

    await broker_harness.market(SYMBOL, 101.0, 1_000)
    assert sum(f.quantity for f in await fills_of(broker, order.order_id)) == 100
    assert await order_state(broker, order.order_id) is None
    assert await position_qty(broker) == 100


async def test_events_stream_reports_the_fill(broker_harness: BrokerHarness) -> None:
    broker = broker_harness.broker
    order = await broker.place(buy(), "c-events")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    stream = broker.events()
    while True:
        event = await asyncio.wait_for(anext(stream), timeout=5)
        if event.type is BrokerEventType.FILL and event.fill is not None:
            break
    assert event.fill.order_id == order.order_id
    assert event.fill.quantity == 10


# -- cancel ------------------------------------------------------------------------------
async def test_cancel_open_order_then_cancelled_and_never_fills(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    order = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=90.0), "c-cancel")
    cancelled = await broker.cancel(order.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    await broker_harness.market(SYMBOL, 85.0, 1_000)
    assert await fills_of(broker, order.order_id) == []
    assert await broker.open_orders() == []


async def test_cancel_when_order_filled_then_order_error(broker_harness: BrokerHarness) -> None:
    broker = broker_harness.broker
    order = await broker.place(buy(), "c-cancel-filled")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    with pytest.raises(OrderError):
        await broker.cancel(order.order_id)
    assert await position_qty(broker) == 10


# -- brackets ----------------------------------------------------------------------------
async def test_bracket_take_profit_fills_and_cancels_stop_loss(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    parent = await broker.place(buy(qty=20, take_profit=110.0, stop_loss=95.0), "c-bracket")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    assert sum(f.quantity for f in await fills_of(broker, parent.order_id)) == 20

    children = [o for o in await broker.open_orders() if o.order_id != parent.order_id]
    kinds = {(o.intent.side, o.intent.order_type, o.intent.quantity) for o in children}
    assert kinds == {
        (OrderSide.SELL, OrderType.LIMIT, 20),
        (OrderSide.SELL, OrderType.STOP, 20),
    }
    take = next(o for o in children if o.intent.order_type is OrderType.LIMIT)
    assert take.intent.limit_price == 110.0

    await broker_harness.market(SYMBOL, 111.0, 1_000)
    (exit_fill,) = await fills_of(broker, take.order_id)
    assert exit_fill.price >= 110.0
    assert await broker.open_orders() == []  # the stop-loss went with it (one-cancels-other)
    assert await position_qty(broker) == 0


async def test_bracket_stop_loss_fills_and_cancels_take_profit(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    parent = await broker.place(buy(qty=20, take_profit=110.0, stop_loss=95.0), "c-bracket-sl")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    stop = next(
        o
        for o in await broker.open_orders()
        if o.order_id != parent.order_id and o.intent.order_type is OrderType.STOP
    )
    await broker_harness.market(SYMBOL, 94.0, 1_000)
    assert sum(f.quantity for f in await fills_of(broker, stop.order_id)) == 20
    assert await broker.open_orders() == []
    assert await position_qty(broker) == 0


async def test_bracket_legs_are_gtc_on_the_exit_side(broker_harness: BrokerHarness) -> None:
    broker = broker_harness.broker
    parent = await broker.place(buy(qty=20, take_profit=110.0, stop_loss=95.0), "c-gtc")
    assert parent.intent.tif is TimeInForce.DAY
    children = [o for o in await broker.open_orders() if o.order_id != parent.order_id]
    assert {(o.client_ref, o.intent.side, o.intent.tif) for o in children} == {
        ("c-gtc#sl", OrderSide.SELL, TimeInForce.GTC),
        ("c-gtc#tp", OrderSide.SELL, TimeInForce.GTC),
    }


# -- modify ------------------------------------------------------------------------------
async def test_modify_stop_then_same_order_new_price_and_it_triggers_there(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    await broker.place(buy(qty=10), "c-mod-entry")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    stop = await broker.place(
        sell(qty=10, order_type=OrderType.STOP, stop_price=95.0, tif=TimeInForce.GTC), "c-mod"
    )
    moved = await broker.modify(stop.order_id, OrderChange(stop_price=97.0))
    assert (moved.order_id, moved.client_ref, moved.intent.stop_price) == (
        stop.order_id,
        "c-mod",
        97.0,
    )
    assert moved.status in OPEN
    current = await order_state(broker, stop.order_id)
    assert current is not None and current.intent.stop_price == 97.0
    await broker_harness.market(SYMBOL, 98.0, 1_000)
    assert await fills_of(broker, stop.order_id) == []  # above the new stop: still working
    await broker_harness.market(SYMBOL, 96.5, 1_000)  # above the old 95, through the new 97
    assert sum(f.quantity for f in await fills_of(broker, stop.order_id)) == 10
    assert await position_qty(broker) == 0


async def test_modify_quantity_then_the_order_works_the_new_total(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    order = await broker.place(buy(qty=10, order_type=OrderType.LIMIT, limit_price=90.0), "c-q")
    resized = await broker.modify(order.order_id, OrderChange(quantity=25, limit_price=91.0))
    assert (resized.order_id, resized.intent.quantity, resized.intent.limit_price) == (
        order.order_id,
        25,
        91.0,
    )
    assert await broker.modify(order.order_id, OrderChange(quantity=25)) == resized  # no change
    assert await broker.modify(order.order_id, quantity=25, limit_price=91.0) == resized
    await broker_harness.market(SYMBOL, 90.5, 1_000)
    assert sum(f.quantity for f in await fills_of(broker, order.order_id)) == 25


async def test_modify_when_order_filled_or_unknown_then_order_error(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    order = await broker.place(buy(), "c-mod-filled")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    with pytest.raises(OrderError):
        await broker.modify(order.order_id, OrderChange(quantity=20))
    with pytest.raises(OrderError):
        await broker.modify("no-such-order", OrderChange(quantity=20))
    assert await position_qty(broker) == 10


async def test_modify_survives_a_restart(broker_harness: BrokerHarness) -> None:
    broker = broker_harness.broker
    stop = await broker.place(
        sell(qty=5, order_type=OrderType.STOP, stop_price=80.0, tif=TimeInForce.GTC), "c-mod-rs"
    )
    await broker.modify(stop.order_id, OrderChange(stop_price=82.0))
    broker = await broker_harness.restart()
    restored = await order_state(broker, stop.order_id)
    assert restored is not None and restored.intent.stop_price == 82.0
    await broker_harness.market(SYMBOL, 81.0, 1_000)
    assert sum(f.quantity for f in await fills_of(broker, stop.order_id)) == 5


# -- restart and reconcile ---------------------------------------------------------------
async def test_restart_then_open_orders_positions_and_cash_survive(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    resting = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=80.0), "c-rest")
    partial = await broker.place(buy(qty=100), "c-rest-partial")
    await broker_harness.market(SYMBOL, 100.0, 30)
    before_orders = {(o.order_id, o.status, o.filled_quantity) for o in await broker.open_orders()}
    before_positions = {(p.symbol, p.quantity) for p in await broker.positions()}
    before_cash = (await broker.account()).cash

    broker = await broker_harness.restart()
    after_orders = {(o.order_id, o.status, o.filled_quantity) for o in await broker.open_orders()}
    assert after_orders == before_orders
    assert {o[0] for o in after_orders} == {resting.order_id, partial.order_id}
    assert {(p.symbol, p.quantity) for p in await broker.positions()} == before_positions
    assert (await broker.account()).cash == pytest.approx(before_cash)

    await broker_harness.market(SYMBOL, 100.0, 1_000)  # the restarted broker finishes the order
    assert sum(f.quantity for f in await fills_of(broker, partial.order_id)) == 100
    assert await position_qty(broker) == 100


# -- account -----------------------------------------------------------------------------
async def test_account_and_positions_are_consistent_with_fills(
    broker_harness: BrokerHarness,
) -> None:
    broker = broker_harness.broker
    start = await broker.account()
    await broker.place(buy(qty=30), "c-acct-1")
    await broker_harness.market(SYMBOL, 100.0, 1_000)
    await broker.place(sell(qty=10), "c-acct-2")
    await broker_harness.market(SYMBOL, 105.0, 1_000)

    fills = await broker.executions()
    assert sum(f.quantity for f in fills) == 40
    assert all(f.commission >= 0 for f in fills)
    account = await broker.account()
    spent = sum(f.side.sign * f.quantity * f.price + f.commission for f in fills)
    assert account.cash == pytest.approx(start.cash - spent)
    assert account.currency == start.currency
    assert await position_qty(broker) == 20
    (position,) = [p for p in await broker.positions() if p.symbol == SYMBOL]
    assert account.equity == pytest.approx(account.cash + 20 * position.last_price, rel=1e-6)
