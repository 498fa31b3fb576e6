"""Protective orders at the paper broker: GTC one-cancels-other bracket legs, modify in place
(same order id, new stop), and the crash cases around a bracket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
from adapters.storage.sqlite import SqliteStore
from core.errors import OrderError
from core.orders import (
    Order,
    OrderChange,
    OrderEvent,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from core.ports import BrokerEventType
from tools.costs import CommissionModel, SlippageModel

EXACT = PaperBrokerConfig(
    slippage=SlippageModel(bps=0.0),
    max_volume_share=1.0,
    commissions={"USD": CommissionModel(kind="none")},
)


def buy(qty: int = 10, **kw: object) -> OrderIntent:
    return OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=qty, **kw)  # type: ignore[arg-type]


def sell_stop(qty: int, stop: float) -> OrderIntent:
    return OrderIntent(
        symbol="AAPL", side=OrderSide.SELL, quantity=qty, order_type=OrderType.STOP,
        stop_price=stop, tif=TimeInForce.GTC,
    )  # fmt: skip


async def connected(path: Path, config: PaperBrokerConfig = EXACT) -> PaperBroker:
    broker = PaperBroker(SqliteStore(path), config)
    await broker.connect()
    return broker


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[PaperBroker]:
    b = await connected(tmp_path / "paper.db")
    yield b
    await b.disconnect()


async def bar(b: PaperBroker, o: float, h: float, low: float, c: float, v: float = 1e6) -> list:  # type: ignore[type-arg]
    return await b.on_bar("AAPL", o, h, low, c, v)


async def legs(b: PaperBroker, ref: str) -> dict[str, Order]:
    return {
        o.client_ref.rsplit("#", 1)[1]: o
        for o in await b.open_orders()
        if o.client_ref.startswith(ref + "#")
    }


async def test_bracket_legs_are_gtc_and_survive_the_day_once_the_entry_filled(
    broker: PaperBroker,
) -> None:
    await broker.place(buy(stop_loss=95.0, take_profit=120.0), "b1")
    await bar(broker, 100, 101, 99, 100)
    children = await legs(broker, "b1")
    assert {k: o.intent.tif for k, o in children.items()} == {
        "sl": TimeInForce.GTC,
        "tp": TimeInForce.GTC,
    }
    assert await broker.expire_day_orders() == []
    assert set(await legs(broker, "b1")) == {"sl", "tp"}  # still protecting overnight


async def test_modify_when_stop_moves_then_same_order_triggers_at_the_new_price(
    broker: PaperBroker,
) -> None:
    await broker.place(buy(stop_loss=95.0, take_profit=120.0), "b1")
    await bar(broker, 100, 101, 99, 100)
    stop = (await legs(broker, "b1"))["sl"]
    moved = await broker.modify(stop.order_id, OrderChange(stop_price=98.0))
    assert (moved.order_id, moved.intent.stop_price, moved.status) == (
        stop.order_id,
        98.0,
        OrderStatus.SUBMITTED,
    )
    assert (await legs(broker, "b1"))["sl"].intent.stop_price == 98.0
    assert broker._store.order(stop.order_id).intent.stop_price == 98.0  # persisted
    fills = await bar(broker, 99, 99.5, 97.5, 98.5)  # reaches 98, never the old 95
    assert [(f.order_id, f.price) for f in fills] == [(stop.order_id, 98.0)]
    assert await broker.positions() == []
    assert await broker.open_orders() == []  # the take-profit went with it


async def test_modify_then_order_status_event_with_the_change(broker: PaperBroker) -> None:
    order = await broker.place(sell_stop(10, 90.0), "s1")
    while not broker._events.empty():
        broker._events.get_nowait()
    await broker.modify(order.order_id, OrderChange(stop_price=91.0, quantity=12))
    event = broker._events.get_nowait()
    assert event.type is BrokerEventType.ORDER_STATUS
    assert event.order is not None and event.order.intent.quantity == 12
    assert event.order.intent.stop_price == 91.0


async def test_modify_when_nothing_differs_then_no_event_and_same_order(
    broker: PaperBroker,
) -> None:
    order = await broker.place(sell_stop(10, 90.0), "s1")
    while not broker._events.empty():
        broker._events.get_nowait()
    same = await broker.modify(order.order_id, OrderChange(stop_price=90.0))
    assert same == order and broker._events.empty()


async def test_modify_when_order_closed_or_unknown_or_wrong_price_then_order_error(
    broker: PaperBroker,
) -> None:
    order = await broker.place(sell_stop(10, 90.0), "s1")
    with pytest.raises(OrderError, match="has no limit price"):
        await broker.modify(order.order_id, OrderChange(limit_price=95.0))
    await broker.cancel(order.order_id)
    with pytest.raises(OrderError, match="it is cancelled"):
        await broker.modify(order.order_id, OrderChange(stop_price=91.0))
    with pytest.raises(OrderError, match="unknown order"):
        await broker.modify("paper-999999", OrderChange(stop_price=91.0))


async def test_modify_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    first = await connected(db)
    order = await first.place(sell_stop(10, 90.0), "s1")
    await first.modify(order.order_id, OrderChange(stop_price=92.5))
    again = await connected(db)
    (restored,) = await again.open_orders()
    assert (restored.order_id, restored.intent.stop_price) == (order.order_id, 92.5)


async def test_bracket_when_stop_partly_fills_then_take_profit_trades_only_the_rest(
    tmp_path: Path,
) -> None:
    broker = await connected(tmp_path / "q.db", EXACT.model_copy(update={"max_volume_share": 0.5}))
    await broker.place(buy(20, stop_loss=95.0, take_profit=110.0), "b1")
    await bar(broker, 100, 100, 100, 100, v=40)
    fills = await bar(broker, 94, 94, 94, 94, v=12)  # the stop takes 6 of the 20
    assert sum(f.quantity for f in fills) == 6
    fills = await bar(broker, 111, 111, 111, 111, v=1_000)  # one-cancels-other reduces
    assert [(f.quantity, f.price) for f in fills] == [(14, 111.0)]  # gapped above 110
    assert await broker.positions() == []
    assert await broker.open_orders() == []


async def test_protective_buy_stop_on_a_short_is_never_refused_for_buying_power(
    tmp_path: Path,
) -> None:
    broker = await connected(tmp_path / "q.db", EXACT.model_copy(update={"starting_cash": 1_000.0}))
    await broker.place(OrderIntent(symbol="AAPL", side=OrderSide.SELL, quantity=50), "short")
    await bar(broker, 100, 100, 100, 100)
    cover = OrderIntent(
        symbol="AAPL", side=OrderSide.BUY, quantity=50, order_type=OrderType.STOP,
        stop_price=150.0, tif=TimeInForce.GTC,
    )  # fmt: skip
    placed = await broker.place(cover, "cover")
    assert placed.status is OrderStatus.SUBMITTED  # 50 x 150 is far above the buying power
    grow = await broker.place(cover.model_copy(update={"quantity": 60}), "grow")
    assert grow.status is OrderStatus.REJECTED  # beyond the short it is a new exposure


async def test_crash_after_entry_before_children_then_restart_and_rerun_give_one_stop(
    tmp_path: Path,
) -> None:
    db = tmp_path / "q.db"
    store = SqliteStore(db)
    intent = buy(stop_loss=95.0, take_profit=120.0)
    parent = Order(order_id="paper-000001", client_ref="q-c-1", intent=intent)
    store.save_order(parent.transition(OrderEvent.SUBMIT, broker_order_id="paper-000001"))
    store.close()  # the process died after writing the parent, before its children

    broker = await connected(db)
    again = await broker.place(intent, "q-c-1")  # the cycle re-runs its execution node
    assert again.order_id == "paper-000001"
    await bar(broker, 100, 101, 99, 100)
    stops = [o for o in await broker.open_orders() if o.intent.order_type is OrderType.STOP]
    assert [(o.client_ref, o.intent.quantity) for o in stops] == [("q-c-1#sl", 10)]
    restarted = await connected(db)
    assert len(await restarted.open_orders()) == 2  # stop + target, restored once
