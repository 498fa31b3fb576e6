"""PaperBroker behaviour on one process: placing, fills, partial fills, brackets, events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
from adapters.storage.sqlite import SqliteStore
from core.errors import ConfigurationError, DataValidationError, OrderError, TemporaryError
from core.instruments import Instrument
from core.orders import OrderIntent, OrderSide, OrderStatus, OrderType, TimeInForce
from core.ports import Broker, BrokerEvent, BrokerEventType
from tools.costs import CommissionModel, SlippageModel

EXACT = PaperBrokerConfig(
    slippage=SlippageModel(bps=0.0),
    max_volume_share=1.0,
    commissions={"USD": CommissionModel(kind="none"), "EUR": CommissionModel(kind="none")},
)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "paper.db")


async def _broker(store: SqliteStore, config: PaperBrokerConfig = EXACT) -> PaperBroker:
    broker = PaperBroker(store, config)
    await broker.connect()
    return broker


@pytest.fixture
async def broker(store: SqliteStore) -> AsyncIterator[PaperBroker]:
    b = await _broker(store)
    yield b
    await b.disconnect()


def buy(qty: int = 10, **kw: object) -> OrderIntent:
    return OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=qty, **kw)  # type: ignore[arg-type]


def sell(qty: int = 10, **kw: object) -> OrderIntent:
    return OrderIntent(symbol="AAPL", side=OrderSide.SELL, quantity=qty, **kw)  # type: ignore[arg-type]


async def flat_bar(b: PaperBroker, price: float, volume: float = 1e6) -> list:  # type: ignore[type-arg]
    return await b.on_bar("AAPL", price, price, price, price, volume)


def drain(b: PaperBroker) -> list[BrokerEvent]:
    events: list[BrokerEvent] = []
    while not b._events.empty():
        events.append(b._events.get_nowait())
    return events


def test_paper_broker_satisfies_the_port(store: SqliteStore) -> None:
    broker = PaperBroker(store)
    assert isinstance(broker, Broker)
    assert broker.is_live is False


async def test_place_when_not_connected_then_temporary_error(store: SqliteStore) -> None:
    with pytest.raises(TemporaryError, match="connect"):
        await PaperBroker(store).place(buy(), "r1")


async def test_place_then_order_is_submitted_and_persisted(
    broker: PaperBroker, store: SqliteStore
) -> None:
    order = await broker.place(buy(), "r1")
    assert order.status is OrderStatus.SUBMITTED
    assert order.broker_order_id == order.order_id
    assert store.order_by_client_ref("r1") == order
    assert await broker.open_orders() == [order]


async def test_place_when_client_ref_seen_then_returns_existing_order(broker: PaperBroker) -> None:
    first = await broker.place(buy(), "r1")
    again = await broker.place(buy(qty=99), "r1")
    assert again == first
    assert len(await broker.open_orders()) == 1


@pytest.mark.parametrize("ref", ["", "a#tp"])
async def test_place_when_client_ref_empty_or_reserved_then_order_error(
    broker: PaperBroker, ref: str
) -> None:
    with pytest.raises(OrderError):
        await broker.place(buy(), ref)


async def test_place_when_ref_belongs_to_another_account_then_order_error(
    store: SqliteStore,
) -> None:
    other = await _broker(store, EXACT.model_copy(update={"label": "other"}))
    await other.place(buy(), "shared-ref")
    mine = await _broker(store)
    with pytest.raises(OrderError, match="belongs to"):
        await mine.place(buy(), "shared-ref")


async def test_place_when_buy_exceeds_buying_power_then_rejected_with_reason(
    broker: PaperBroker,
) -> None:
    order = await broker.place(buy(qty=2_000, order_type=OrderType.LIMIT, limit_price=100.0), "big")
    assert order.status is OrderStatus.REJECTED
    assert order.reason is not None and order.reason.startswith("INSUFFICIENT_BUYING_POWER")
    assert await broker.open_orders() == []
    assert await broker.place(buy(qty=1), "big") == order  # still idempotent


async def test_place_when_currency_has_no_commission_model_then_configuration_error(
    store: SqliteStore,
) -> None:
    broker = await _broker(store, EXACT.model_copy(update={"symbol_currency": {"VOD": "GBP"}}))
    with pytest.raises(ConfigurationError, match="GBP"):
        await broker.place(OrderIntent(symbol="VOD", side=OrderSide.BUY, quantity=1), "r")
    assert await broker.open_orders() == []


async def test_market_order_fills_on_next_bar_open_with_slippage_and_commission(
    store: SqliteStore,
) -> None:
    broker = await _broker(store, PaperBrokerConfig(slippage=SlippageModel(bps=10.0)))
    await broker.place(buy(qty=100), "r1")
    (fill,) = await broker.on_bar("AAPL", 100.0, 102.0, 99.0, 101.0, 10_000)
    assert fill.price == pytest.approx(100.10)
    assert fill.commission == pytest.approx(1.0)  # 100 * 0.005 = 0.50 -> minimum 1.00
    account = await broker.account()
    assert account.cash == pytest.approx(100_000 - 100 * 100.10 - 1.0)
    assert account.equity == pytest.approx(account.cash + 100 * 101.0)  # marked at close
    (position,) = await broker.positions()
    assert (position.quantity, position.last_price) == (100, 101.0)


async def test_limit_order_when_not_crossed_then_stays_open(broker: PaperBroker) -> None:
    order = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=99.0), "r1")
    assert await flat_bar(broker, 100.0) == []
    assert await broker.open_orders() == [order]
    (fill,) = await flat_bar(broker, 98.5)
    assert fill.price == 98.5
    assert await broker.open_orders() == []


async def test_stop_order_triggers_when_touched(broker: PaperBroker) -> None:
    await broker.place(buy(order_type=OrderType.STOP, stop_price=105.0), "r1")
    assert await flat_bar(broker, 104.0) == []
    (fill,) = await broker.on_bar("AAPL", 104.0, 106.0, 103.0, 105.5, 1e6)
    assert fill.price == 105.0


async def test_partial_fill_when_order_exceeds_volume_share_then_rest_stays_open(
    store: SqliteStore,
) -> None:
    broker = await _broker(store, EXACT.model_copy(update={"max_volume_share": 0.1}))
    await broker.place(buy(qty=250), "r1")
    (first,) = await flat_bar(broker, 100.0, volume=1_000)
    assert first.quantity == 100
    (open_order,) = await broker.open_orders()
    assert (open_order.status, open_order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 100)
    fills = [*await flat_bar(broker, 101.0, 1_000), *await flat_bar(broker, 102.0, 1_000)]
    assert [f.quantity for f in fills] == [100, 50]
    assert await broker.open_orders() == []
    (position,) = await broker.positions()
    assert position.quantity == 250
    assert position.avg_price == pytest.approx((100 * 100 + 100 * 101 + 50 * 102) / 250)


async def test_volume_share_is_shared_by_orders_oldest_first(store: SqliteStore) -> None:
    broker = await _broker(store, EXACT.model_copy(update={"max_volume_share": 0.5}))
    old = await broker.place(buy(qty=30), "old")
    new = await broker.place(buy(qty=30), "new")
    fills = await flat_bar(broker, 100.0, volume=80)  # 40 shares available
    assert [(f.order_id, f.quantity) for f in fills] == [(old.order_id, 30), (new.order_id, 10)]


async def test_bar_when_zero_volume_then_nothing_fills(broker: PaperBroker) -> None:
    await broker.place(buy(), "r1")
    assert await flat_bar(broker, 100.0, volume=0) == []


async def test_partial_fills_pay_the_order_minimum_commission_once(store: SqliteStore) -> None:
    config = PaperBrokerConfig(slippage=SlippageModel(bps=0.0), max_volume_share=0.1)
    broker = await _broker(store, config)
    await broker.place(buy(qty=100), "r1")
    fills = [f for _ in range(4) for f in await flat_bar(broker, 10.0, volume=250)]
    assert [f.quantity for f in fills] == [25, 25, 25, 25]
    assert sum(f.commission for f in fills) == pytest.approx(1.0)


async def test_cancel_open_order_then_cancelled_and_never_fills(broker: PaperBroker) -> None:
    order = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=90.0), "r1")
    cancelled = await broker.cancel(order.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert await flat_bar(broker, 80.0) == []


async def test_cancel_when_filled_or_unknown_then_order_error(broker: PaperBroker) -> None:
    order = await broker.place(buy(), "r1")
    await flat_bar(broker, 100.0)
    with pytest.raises(OrderError, match="filled"):
        await broker.cancel(order.order_id)
    with pytest.raises(OrderError, match="unknown"):
        await broker.cancel("paper-999999")


async def test_bracket_places_stop_loss_and_take_profit_children(broker: PaperBroker) -> None:
    parent = await broker.place(buy(qty=20, take_profit=110.0, stop_loss=95.0), "b1")
    orders = {o.client_ref: o for o in await broker.open_orders()}
    assert set(orders) == {"b1", "b1#sl", "b1#tp"}
    assert orders["b1"] == parent
    stop, take = orders["b1#sl"].intent, orders["b1#tp"].intent
    assert (stop.side, stop.order_type, stop.stop_price) == (OrderSide.SELL, OrderType.STOP, 95.0)
    assert (take.side, take.order_type, take.limit_price) == (
        OrderSide.SELL,
        OrderType.LIMIT,
        110.0,
    )


async def test_bracket_children_do_not_trade_before_the_parent_fills(broker: PaperBroker) -> None:
    await broker.place(
        buy(
            qty=20, order_type=OrderType.LIMIT, limit_price=90.0, take_profit=110.0, stop_loss=85.0
        ),
        "b1",
    )
    fills = await broker.on_bar("AAPL", 100.0, 111.0, 99.0, 100.0, 1e6)  # tp level, no entry
    assert fills == []
    assert await broker.positions() == []


async def test_bracket_when_take_profit_fills_then_stop_loss_cancelled(broker: PaperBroker) -> None:
    await broker.place(buy(qty=20, take_profit=110.0, stop_loss=95.0), "b1")
    (entry,) = await flat_bar(broker, 100.0)
    (exit_fill,) = await broker.on_bar("AAPL", 105.0, 111.0, 104.0, 109.0, 1e6)
    assert (exit_fill.client_ref, exit_fill.price) == ("b1#tp", 110.0)
    assert await broker.open_orders() == []
    assert await broker.positions() == []
    stop = broker._store.order_by_client_ref("b1#sl")
    assert stop is not None and stop.status is OrderStatus.CANCELLED
    assert stop.reason == "one-cancels-other"
    account = await broker.account()
    assert account.cash == pytest.approx(100_000 + 20 * (110.0 - entry.price))


async def test_bracket_when_one_bar_reaches_both_legs_then_stop_loss_wins(
    broker: PaperBroker,
) -> None:
    await broker.place(buy(qty=20, take_profit=110.0, stop_loss=95.0), "b1")
    await flat_bar(broker, 100.0)
    (exit_fill,) = await broker.on_bar("AAPL", 100.0, 112.0, 90.0, 100.0, 1e6)
    assert exit_fill.client_ref == "b1#sl"
    assert await broker.open_orders() == []


async def test_bracket_when_parent_cancelled_unfilled_then_children_cancelled(
    broker: PaperBroker,
) -> None:
    parent = await broker.place(
        buy(qty=20, order_type=OrderType.LIMIT, limit_price=90.0, stop_loss=85.0), "b1"
    )
    await broker.cancel(parent.order_id)
    assert await broker.open_orders() == []


async def test_bracket_when_parent_cancelled_after_partial_then_children_protect_filled_part(
    store: SqliteStore,
) -> None:
    broker = await _broker(store, EXACT.model_copy(update={"max_volume_share": 0.5}))
    parent = await broker.place(buy(qty=100, stop_loss=90.0), "b1")
    await flat_bar(broker, 100.0, volume=60)  # 30 of 100 filled
    await broker.cancel(parent.order_id)
    (stop,) = await broker.open_orders()
    assert stop.client_ref == "b1#sl"
    (exit_fill,) = await flat_bar(broker, 89.0, volume=1_000)
    assert exit_fill.quantity == 30  # only what the parent bought, not its full size
    assert await broker.open_orders() == []
    assert await broker.positions() == []


async def test_quote_fills_market_at_ask_and_marks_at_mid(broker: PaperBroker) -> None:
    await broker.place(buy(qty=5), "r1")
    (fill,) = await broker.on_quote("AAPL", 99.0, 101.0)
    assert fill.price == 101.0
    (position,) = await broker.positions()
    assert position.last_price == 100.0


async def test_qualify_remembers_currency_for_commissions(store: SqliteStore) -> None:
    config = PaperBrokerConfig(slippage=SlippageModel(bps=0.0))
    broker = await _broker(store, config)
    mc = Instrument(symbol="MC", exchange="SBF", primary_exchange="SBF", currency="EUR")
    assert await broker.qualify(mc) == mc
    await broker.place(OrderIntent(symbol="MC", side=OrderSide.BUY, quantity=10), "r1")
    (fill,) = await broker.on_bar("MC", 600.0, 600.0, 600.0, 600.0, 1e6)
    assert (fill.currency, fill.commission) == ("EUR", pytest.approx(3.0))  # 0.05 % of 6000


@pytest.mark.parametrize(
    "bar",
    [
        (100, 99, 98, 100, 10),
        (100, 101, 99, 100, -1),
        (0, 101, 0, 100, 10),
        (100, 101, 100.5, 100, 1),
        (100, float("nan"), 99, 100, 1),
        (100, 101, 99, 100, float("nan")),
    ],
)
async def test_on_bar_when_bar_inconsistent_then_data_validation_error(
    broker: PaperBroker, bar: tuple[float, float, float, float, float]
) -> None:
    with pytest.raises(DataValidationError):
        await broker.on_bar("AAPL", *bar)


async def test_on_quote_when_crossed_then_data_validation_error(broker: PaperBroker) -> None:
    with pytest.raises(DataValidationError):
        await broker.on_quote("AAPL", 101.0, 100.0)


async def test_events_stream_status_changes_and_fills_in_order(broker: PaperBroker) -> None:
    order = await broker.place(buy(), "r1")
    await flat_bar(broker, 100.0)
    stream = broker.events()
    got = [await asyncio.wait_for(anext(stream), 1) for _ in range(3)]
    assert [e.type for e in got] == [
        BrokerEventType.ORDER_STATUS,
        BrokerEventType.FILL,
        BrokerEventType.ORDER_STATUS,
    ]
    assert got[0].order is not None and got[0].order.status is OrderStatus.SUBMITTED
    assert got[1].fill is not None and got[1].fill.order_id == order.order_id
    assert got[2].order is not None and got[2].order.status is OrderStatus.FILLED


async def test_events_when_buffer_full_then_oldest_dropped(store: SqliteStore) -> None:
    broker = await _broker(store, EXACT.model_copy(update={"event_buffer": 2}))
    for i in range(3):
        await broker.place(buy(), f"r{i}")
    events = drain(broker)
    assert [e.order.client_ref for e in events if e.order] == ["r1", "r2"]
    assert broker.dropped_events == 1


async def test_executions_since_filters_by_fill_time(broker: PaperBroker) -> None:
    await broker.place(buy(), "r1")
    await broker.place(sell(), "r2")
    t1, t2 = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
    await broker.on_bar("AAPL", 100, 100, 100, 100, 1e6, ts=t1)
    await broker.place(buy(), "r3")
    await broker.on_bar("AAPL", 101, 101, 101, 101, 1e6, ts=t2)
    assert [f.client_ref for f in await broker.executions()] == ["r1", "r2", "r3"]
    assert [f.client_ref for f in await broker.executions(since=t2)] == ["r3"]


async def test_expire_day_orders_cancels_day_orders_and_keeps_gtc(broker: PaperBroker) -> None:
    day = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=90.0), "day")
    gtc = await broker.place(
        buy(order_type=OrderType.LIMIT, limit_price=90.0, tif=TimeInForce.GTC), "gtc"
    )
    expired = await broker.expire_day_orders()
    assert [(o.order_id, o.status, o.reason) for o in expired] == [
        (day.order_id, OrderStatus.CANCELLED, "DAY order expired")
    ]
    assert [o.order_id for o in await broker.open_orders()] == [gtc.order_id]


async def test_expire_day_orders_when_bracket_parent_partly_filled_then_children_stay(
    store: SqliteStore,
) -> None:
    broker = await _broker(store, EXACT.model_copy(update={"max_volume_share": 0.5}))
    await broker.place(buy(qty=100, stop_loss=90.0, take_profit=120.0), "b1")
    await flat_bar(broker, 100.0, volume=50)  # 25 filled
    await broker.expire_day_orders()
    assert sorted(o.client_ref for o in await broker.open_orders()) == ["b1#sl", "b1#tp"]
    (exit_fill,) = await flat_bar(broker, 121.0)
    assert (exit_fill.client_ref, exit_fill.quantity) == ("b1#tp", 25)
    assert await broker.open_orders() == []
