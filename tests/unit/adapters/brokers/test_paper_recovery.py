"""A new PaperBroker on the same store continues where the old one stopped, also after a
crash between two of its writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
from adapters.storage.sqlite import SqliteStore
from core.orders import Fill, Order, OrderEvent, OrderIntent, OrderSide, OrderStatus, OrderType
from core.ports import BrokerEventType
from tools.costs import CommissionModel, SlippageModel

CONFIG = PaperBrokerConfig(
    slippage=SlippageModel(bps=0.0),
    max_volume_share=0.5,
    commissions={"USD": CommissionModel.ibkr_us_fixed()},
)


def buy(qty: int = 10, **kw: object) -> OrderIntent:
    return OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=qty, **kw)  # type: ignore[arg-type]


async def _connected(path: Path) -> PaperBroker:
    broker = PaperBroker(SqliteStore(path), CONFIG)
    await broker.connect()
    return broker


async def test_restart_then_open_orders_positions_and_cash_survive(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    first = await _connected(db)
    await first.place(buy(qty=100), "partial")
    await first.place(buy(order_type=OrderType.LIMIT, limit_price=50.0), "resting")
    await first.on_bar("AAPL", 100.0, 100.0, 100.0, 100.0, 120)  # 60 of 100 fill
    before = (await first.open_orders(), await first.positions(), await first.account())
    await first.disconnect()

    second = await _connected(db)
    assert (await second.open_orders(), await second.positions(), await second.account()) == before
    (fill,) = await second.on_bar("AAPL", 101.0, 101.0, 101.0, 101.0, 1_000)
    assert fill.fill_id == "paper-000001.61"  # continues the first broker's order
    assert fill.commission == pytest.approx(0.0)  # the order's minimum was paid before


async def test_restart_then_new_order_ids_continue_the_sequence(tmp_path: Path) -> None:
    first = await _connected(tmp_path / "q.db")
    a = await first.place(buy(), "a")
    second = await _connected(tmp_path / "q.db")  # no clean disconnect: a crash
    b = await second.place(buy(), "b")
    assert (a.order_id, b.order_id) == ("paper-000001", "paper-000002")
    assert await second.place(buy(), "a") == a


async def test_restart_when_crash_after_fill_before_order_then_order_and_cash_rebuilt(
    tmp_path: Path,
) -> None:
    db = tmp_path / "q.db"
    first = await _connected(db)
    order = await first.place(buy(qty=10), "r1")
    # The crash: the fill reached the store, the updated order and the snapshot did not.
    fill = Fill(
        fill_id=f"{order.order_id}.1",
        order_id=order.order_id,
        client_ref="r1",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=10,
        price=100.0,
        commission=1.0,
    )
    assert first._store.save_fill(fill)

    second = await _connected(db)
    assert await second.open_orders() == []
    stored = second._store.order(order.order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED
    assert (await second.account()).cash == pytest.approx(100_000 - 1_000 - 1.0)
    (position,) = await second.positions()
    assert position.quantity == 10
    event = second._events.get_nowait()
    assert event.type is BrokerEventType.ORDER_STATUS and event.order == stored


async def test_restart_when_stored_fill_contradicts_order_then_discrepancy_reported(
    tmp_path: Path,
) -> None:
    db = tmp_path / "q.db"
    first = await _connected(db)
    order = await first.place(buy(qty=10), "r1")
    await first.cancel(order.order_id)
    first._store.save_fill(
        Fill(
            fill_id=f"{order.order_id}.1",
            order_id=order.order_id,
            client_ref="r1",
            symbol="AAPL",
            side=OrderSide.BUY,
            quantity=10,
            price=100.0,
        )
    )
    second = await _connected(db)
    event = second._events.get_nowait()
    assert event.type is BrokerEventType.DISCREPANCY
    assert event.message.startswith("FILL_NOT_IN_ORDER")


async def test_restart_when_bracket_children_never_written_then_restored(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    store = SqliteStore(db)
    parent = Order(
        order_id="paper-000001", client_ref="b1", intent=buy(stop_loss=90.0, take_profit=120.0)
    ).transition(OrderEvent.SUBMIT)
    store.save_order(parent)  # the crash came before the children were saved
    broker = await _connected(db)
    refs = sorted(o.client_ref for o in await broker.open_orders())
    assert refs == ["b1", "b1#sl", "b1#tp"]
    again = await _connected(db)
    assert len(await again.open_orders()) == 3  # restored once, not on every start


async def test_disconnect_then_calls_need_connect_again(tmp_path: Path) -> None:
    broker = await _connected(tmp_path / "q.db")
    await broker.disconnect()
    from core.errors import TemporaryError

    with pytest.raises(TemporaryError):
        await broker.account()
    await broker.connect()
    assert (await broker.account()).cash == 100_000
