"""Protective orders through the execution desk on the paper broker: entries and adds as
brackets with kernel prices, exits release the stops, and reconciliation keeps every open
position covered (moves, missing, excess, orphans), idempotently across re-runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.brokers.paper.broker import PaperBroker
from adapters.storage.sqlite import SqliteStore
from agents.base import AgentContext
from agents.execution import execution, portfolio_manager, reconciliation
from agents.execution.protection import ProtectionCode, protective_ref
from core.messages import Envelope, Note, OrderIntentPayload, OrderUpdate, ToolFigures
from core.orders import (
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    make_client_ref,
)
from core.risk import TradingState
from core.signals import Direction
from tests.unit.agents.conftest import MakeContext
from tests.unit.agents.execution.test_execution_desk import approved_idea, intents
from tools.stops import bracket_levels, round_to_tick

BAR_TS = datetime(2013, 1, 25, tzinfo=UTC)


@pytest.fixture
async def broker(store: SqliteStore) -> AsyncIterator[PaperBroker]:
    b = PaperBroker(store)
    await b.connect()
    yield b
    await b.disconnect()


async def bar(b: PaperBroker, symbol: str, price: float) -> None:
    await b.on_bar(symbol, price, price * 1.002, price * 0.998, price, 1e7, BAR_TS)


def order_message(ctx: AgentContext, intent: OrderIntent) -> Envelope:
    ref = make_client_ref(ctx.cycle_id, intent)
    return ctx.message("portfolio_manager", OrderIntentPayload(intent=intent, client_ref=ref))


def stops_figure(ctx: AgentContext, symbol: str, stop: float, close: float) -> Envelope:
    figures = {"stop_price": stop, "take_profit": close * 1.2, "close": close, "exit": 0.0}
    return ctx.message("stop_manager", ToolFigures(tool="stops", symbol=symbol, figures=figures))


def protection_notes(out: list[Envelope]) -> list[Note]:
    notes = [m.payload for m in out if isinstance(m.payload, Note)]
    return [n for n in notes if n.topic == "protection"]


def report(out: list[Envelope]) -> dict:  # type: ignore[type-arg]
    return next(
        m.payload.data
        for m in out
        if isinstance(m.payload, Note) and m.payload.topic == "reconciliation"
    )


async def stops(b: PaperBroker, symbol: str = "MSFT") -> list[Order]:
    return [
        o for o in await b.open_orders()
        if o.symbol == symbol and o.intent.order_type is OrderType.STOP
    ]  # fmt: skip


async def hold_plain(ctx: AgentContext, b: PaperBroker, qty: int = 100) -> None:
    """A position whose entry went out without protection (an older Quorum, a crash)."""
    plain = OrderIntent(symbol="MSFT", side=OrderSide.BUY, quantity=qty, reference_price=27.0)
    await execution.run(ctx, [order_message(ctx, plain)])
    await bar(b, "MSFT", 27.0)


# -- the portfolio manager attaches the kernels' levels ------------------------------------
def test_pm_entry_when_approved_then_bracket_with_the_kernels_stop_and_target(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx()
    [p] = intents(portfolio_manager.run(ctx, approved_idea(ctx, "MSFT", 500, 27.0)))
    price = p.intent.reference_price  # the day's close; atr_14 = 0.54 in the sizing figures
    assert price is not None
    levels = bracket_levels(price, 27.0 * 0.02, Direction.LONG)
    assert (p.intent.stop_loss, p.intent.take_profit) == (levels.stop_loss, levels.take_profit)
    assert p.intent.stop_loss == pytest.approx(price - 1.08, abs=0.01)  # 2 ATR, on the tick
    assert p.intent.take_profit == pytest.approx(price + 3.24, abs=0.01)  # 6 ATR
    assert p.client_ref == make_client_ref(ctx.cycle_id, p.intent)


def test_pm_entry_when_brackets_off_then_plain_market_order(make_ctx: MakeContext) -> None:
    ctx = make_ctx(settings={"agents": {"portfolio_manager": {"brackets": False}}})
    [p] = intents(portfolio_manager.run(ctx, approved_idea(ctx, "MSFT", 500, 27.0)))
    assert p.intent.stop_loss is None and p.intent.take_profit is None


def test_pm_pyramid_add_then_its_own_stop_at_the_tighter_of_plan_and_trailing(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    from agents.common import last_closes
    from tests.unit.agents.execution.test_execution_desk import hold

    ctx = make_ctx()
    close = last_closes(ctx, [], ["MSFT"])["MSFT"]
    hold(store, "MSFT", 100, close - 2.0)
    add = ctx.message(
        "pyramiding",
        ToolFigures(
            tool="pyramid_add",
            symbol="MSFT",
            figures={"tranche_quantity": 50.0, "close": close, "direction": 1.0,
                     "stop_after_fill": close - 1.333},
        ),
    )  # fmt: skip
    [p] = intents(portfolio_manager.run(ctx, [add]))
    plan_stop = round_to_tick(close - 1.333, 0.01, up=False)
    assert (p.intent.quantity, p.intent.stop_loss, p.intent.take_profit) == (50, plan_stop, None)
    trailing = stops_figure(ctx, "MSFT", close - 0.5, close)  # tighter than the plan's
    [p] = intents(portfolio_manager.run(ctx, [add, trailing]))
    assert p.intent.stop_loss == round_to_tick(close - 0.5, 0.01, up=False)
    assert p.intent.take_profit == round_to_tick(close * 1.2, 0.01, up=True)
    loose = stops_figure(ctx, "MSFT", close - 3.0, close)  # looser: the plan's stop stays
    [p] = intents(portfolio_manager.run(ctx, [add, loose]))
    assert p.intent.stop_loss == plan_stop


# -- exits release the protective orders ---------------------------------------------------
async def test_execution_exit_then_protective_legs_cancelled_first_and_never_oversold(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker)
    entry = OrderIntent(
        symbol="MSFT", side=OrderSide.BUY, quantity=100, reference_price=27.0,
        stop_loss=26.0, take_profit=30.0,
    )  # fmt: skip
    await execution.run(ctx, [order_message(ctx, entry)])
    await bar(broker, "MSFT", 27.0)
    exit_intent = OrderIntent(symbol="MSFT", side=OrderSide.SELL, quantity=100)
    out = await execution.run(ctx, [order_message(ctx, exit_intent)])
    updates = [m.payload.order for m in out if isinstance(m.payload, OrderUpdate)]
    assert [(o.client_ref[-3:], o.status) for o in updates[:2]] == [
        ("#sl", OrderStatus.CANCELLED),
        ("#tp", OrderStatus.CANCELLED),
    ]
    assert updates[2].intent == exit_intent
    await broker.on_bar("MSFT", 25.0, 25.0, 25.0, 25.0, 1e7, BAR_TS)  # gapped below the stop
    assert await broker.positions() == []  # sold once, not short


# -- reconciliation keeps every position covered -----------------------------------------
async def test_reconciliation_when_stop_missing_then_recreated_once_with_code(
    make_ctx: MakeContext, broker: PaperBroker, store: SqliteStore
) -> None:
    ctx = make_ctx(broker=broker)
    await hold_plain(ctx, broker)
    out = await reconciliation.run(ctx, [])
    [note] = protection_notes(out)
    assert note.data["code"] == ProtectionCode.PROTECTIVE_STOP_MISSING
    assert note.data["text"].startswith("PROTECTIVE_STOP_MISSING: symbol=MSFT qty=100")
    [stop] = await stops(broker)
    assert (stop.intent.side, stop.intent.quantity, stop.intent.tif) == (
        OrderSide.SELL, 100, TimeInForce.GTC,
    )  # fmt: skip
    assert 0 < (stop.intent.stop_price or 0) < 27.0
    assert stop.client_ref == protective_ref(ctx.cycle_id, stop.intent)
    assert report(out)["protection"]["positions"] == {
        "MSFT": {"held": 100, "covered": 100, "stops": [stop.intent.stop_price]}
    }
    again = await reconciliation.run(ctx, [])  # a re-run of the node: nothing new
    assert protection_notes(again) == [] and len(await stops(broker)) == 1


async def test_reconciliation_rerun_when_the_placed_stop_is_not_seen_then_same_ref_no_second(
    make_ctx: MakeContext, broker: PaperBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = make_ctx(broker=broker)
    await hold_plain(ctx, broker)
    await reconciliation.run(ctx, [])  # placed the stop, then the node "crashed"
    real, calls = broker.open_orders, []

    async def lagging() -> list[Order]:  # the re-run does not see the stop yet
        calls.append(1)
        return [] if len(calls) <= 2 else await real()

    monkeypatch.setattr(broker, "open_orders", lagging)
    out = await reconciliation.run(ctx, [])
    assert [n.data["code"] for n in protection_notes(out)] == ["PROTECTIVE_STOP_MISSING"]
    monkeypatch.setattr(broker, "open_orders", real)
    assert len(await stops(broker)) == 1  # the same reference: the broker returned it


async def test_reconciliation_after_restart_then_the_protective_stop_is_not_duplicated(
    make_ctx: MakeContext, broker: PaperBroker, store: SqliteStore
) -> None:
    ctx = make_ctx(broker=broker)
    await hold_plain(ctx, broker)
    await reconciliation.run(ctx, [])
    restarted = PaperBroker(store)
    await restarted.connect()
    out = await reconciliation.run(make_ctx(broker=restarted, cycle_id="c-next"), [])
    assert protection_notes(out) == []
    assert len(await stops(restarted)) == 1


async def test_reconciliation_when_bracket_leg_lost_after_fill_then_stop_recreated(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker)
    entry = OrderIntent(
        symbol="MSFT", side=OrderSide.BUY, quantity=100, reference_price=27.0, stop_loss=26.0,
    )  # fmt: skip
    await execution.run(ctx, [order_message(ctx, entry)])
    await bar(broker, "MSFT", 27.0)
    [leg] = await stops(broker)
    await broker.cancel(leg.order_id)  # the entry filled; its stop is gone
    out = await reconciliation.run(ctx, [])
    assert [n.data["code"] for n in protection_notes(out)] == ["PROTECTIVE_STOP_MISSING"]
    assert sum(o.remaining for o in await stops(broker)) == 100


async def test_reconciliation_when_stop_manager_raises_the_stop_then_order_modified(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker)
    entry = OrderIntent(
        symbol="MSFT", side=OrderSide.BUY, quantity=100, reference_price=27.0, stop_loss=26.0,
    )  # fmt: skip
    await execution.run(ctx, [order_message(ctx, entry)])
    await bar(broker, "MSFT", 27.0)
    [before] = await stops(broker)
    raise_it = stops_figure(ctx, "MSFT", 26.4567, 27.3)
    out = await reconciliation.run(ctx, [raise_it])
    [after] = await stops(broker)
    assert (after.order_id, after.intent.stop_price) == (before.order_id, 26.45)  # on the tick
    [update] = [m for m in out if isinstance(m.payload, OrderUpdate)]
    assert update.causation_id == raise_it.id and update.payload.order.intent.stop_price == 26.45
    assert report(out)["protection"]["positions"]["MSFT"]["covered"] == 100
    assert report(out)["protection"]["moved"] == ["MSFT " + before.client_ref + " 26 -> 26.45"]
    lower = stops_figure(ctx, "MSFT", 25.0, 27.3)
    await reconciliation.run(ctx, [lower])  # a stop never loosens
    through = stops_figure(ctx, "MSFT", 27.5, 27.3)
    await reconciliation.run(ctx, [through])  # through the market: an exit, not a move
    assert [o.intent.stop_price for o in await stops(broker)] == [26.45]
    await bar(broker, "MSFT", 26.4)
    assert await broker.positions() == []  # the moved stop acted


async def test_reconciliation_when_exit_is_working_then_no_stop_added(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker)
    await hold_plain(ctx, broker)
    for stop in await stops(broker):
        await broker.cancel(stop.order_id)
    exit_intent = OrderIntent(symbol="MSFT", side=OrderSide.SELL, quantity=100)
    await execution.run(ctx, [order_message(ctx, exit_intent)])
    out = await reconciliation.run(ctx, [])
    assert protection_notes(out) == [] and await stops(broker) == []


async def test_reconciliation_when_add_bracket_unfilled_then_its_leg_is_not_cover(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker)
    await hold_plain(ctx, broker)  # 100 held, no stop
    add = OrderIntent(
        symbol="MSFT", side=OrderSide.BUY, quantity=50, order_type=OrderType.LIMIT,
        limit_price=20.0, stop_loss=19.0,
    )  # fmt: skip
    await execution.run(ctx, [order_message(ctx, add)])
    out = await reconciliation.run(ctx, [])
    [note] = protection_notes(out)
    assert (note.data["qty"], note.data["covered"]) == (100, 0)


async def test_reconciliation_when_stops_exceed_the_position_then_newest_reduced(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker)
    await hold_plain(ctx, broker)
    extra = OrderIntent(
        symbol="MSFT", side=OrderSide.SELL, quantity=30, order_type=OrderType.STOP,
        stop_price=25.0, tif=TimeInForce.GTC,
    )  # fmt: skip
    first = await broker.place(extra.model_copy(update={"quantity": 100}), "manual-1")
    second = await broker.place(extra, "manual-2")
    out = await reconciliation.run(ctx, [])
    assert [n.data["code"] for n in protection_notes(out)] == ["PROTECTIVE_STOP_EXCESS"]
    remaining = {o.order_id: o.remaining for o in await stops(broker)}
    assert remaining == {first.order_id: 100}  # the newest one was cancelled
    assert second.order_id not in remaining


async def test_reconciliation_when_position_gone_then_orphaned_stop_cancelled(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker)
    await hold_plain(ctx, broker)
    await reconciliation.run(ctx, [])  # recreates a stop
    sell = OrderIntent(symbol="MSFT", side=OrderSide.SELL, quantity=100)
    await broker.place(sell, "manual-exit")  # closed outside Quorum, stop left behind
    await bar(broker, "MSFT", 27.5)
    out = await reconciliation.run(make_ctx(broker=broker, cycle_id="c-2"), [])
    assert [n.data["code"] for n in protection_notes(out)] == ["PROTECTIVE_ORDER_ORPHANED"]
    assert await stops(broker) == []


async def test_reconciliation_when_halted_then_missing_stop_reported_and_nothing_sent(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    await hold_plain(make_ctx(broker=broker), broker)
    halted = make_ctx(broker=broker, trading_state=TradingState.HALTED)
    out = await reconciliation.run(halted, [stops_figure(halted, "MSFT", 26.5, 27.0)])
    [note] = protection_notes(out)
    assert note.data["code"] == "PROTECTIVE_STOP_MISSING"
    assert note.data["action"] == "none_trading_halted"
    assert await stops(broker) == [] and not any(isinstance(m.payload, OrderUpdate) for m in out)


async def test_reconciliation_when_stop_leg_lost_then_lone_take_profit_cancelled_never_oversold(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker)
    entry = OrderIntent(
        symbol="MSFT", side=OrderSide.BUY, quantity=100, reference_price=27.0,
        stop_loss=26.0, take_profit=29.0,
    )  # fmt: skip
    await execution.run(ctx, [order_message(ctx, entry)])
    await bar(broker, "MSFT", 27.0)
    [leg] = await stops(broker)
    await broker.cancel(leg.order_id)  # the stop-loss leg is gone, its take-profit works on
    out = await reconciliation.run(ctx, [])
    codes = [(n.data["code"], n.data.get("reason")) for n in protection_notes(out)]
    assert codes == [
        ("PROTECTIVE_ORDER_ORPHANED", "take_profit_without_stop"),
        ("PROTECTIVE_STOP_MISSING", None),
    ]
    [stop] = await stops(broker)
    assert [o.client_ref for o in await broker.open_orders()] == [stop.client_ref]
    await bar(broker, "MSFT", 25.0)  # the recreated stop sells the 100, once
    assert await broker.positions() == []
