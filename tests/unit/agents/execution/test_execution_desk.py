from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.brokers.paper.broker import PaperBroker
from adapters.storage.sqlite import SqliteStore
from agents.base import AgentContext
from agents.execution import execution, portfolio_manager, reconciliation
from core.messages import (
    Envelope,
    Note,
    OrderIntentPayload,
    OrderUpdate,
    Rejection,
    ToolFigures,
    TradeIdeaPayload,
)
from core.orders import Fill, OrderIntent, OrderSide, OrderStatus, make_client_ref
from core.portfolio import Portfolio, Position, apply_fill
from core.risk import DenialCode, TradingState
from core.signals import Direction, TradeIdea
from tests.unit.agents.conftest import MakeContext


def approved_idea(
    ctx: AgentContext, symbol: str, qty: int, price: float, conviction: float = 0.6
) -> list[Envelope]:
    idea = ctx.message(
        "research_manager",
        TradeIdeaPayload(
            idea=TradeIdea(
                symbol=symbol, direction=Direction.LONG, conviction=conviction, rationale="t"
            )
        ),
    )
    sizing = ToolFigures(
        tool="sizing",
        symbol=symbol,
        figures={
            "quantity": float(qty),
            "reference_price": price,
            "atr_14": price * 0.02,
            "risk_fraction": 0.01,
            "atr_multiple": 2.0,
            "exit": 0.0,
        },
    )
    return [idea, idea.reply("risk_manager", sizing)]


def intents(out: list[Envelope]) -> list[OrderIntentPayload]:
    return [m.payload for m in out if isinstance(m.payload, OrderIntentPayload)]


def hold(store: SqliteStore, symbol: str, qty: int, price: float) -> None:
    fill = Fill(
        fill_id=f"f-{symbol}",
        order_id="o",
        client_ref="r",
        symbol=symbol,
        side=OrderSide.BUY,
        quantity=qty,
        price=price,
    )
    store.save_snapshot(apply_fill(Portfolio.open(100_000.0), fill), "book")


# -- portfolio manager ---------------------------------------------------------------------
def test_pm_when_idea_approved_then_intent_with_the_cycles_client_ref(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx()
    out = portfolio_manager.run(ctx, approved_idea(ctx, "MSFT", 500, 27.0))
    [p] = intents(out)
    assert (p.intent.symbol, p.intent.side, p.intent.quantity) == ("MSFT", OrderSide.BUY, 500)
    assert p.client_ref == make_client_ref(ctx.cycle_id, p.intent)
    note = next(
        m.payload for m in out if isinstance(m.payload, Note) and m.payload.topic == "pm_note"
    )
    assert note.data["source"] == "offline" and "MSFT" in note.data["text"]


def test_pm_when_ideas_exceed_cash_then_best_first_and_the_rest_resized(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    fill = Fill(
        fill_id="f",
        order_id="o",
        client_ref="r",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=200,
        price=58.4,
    )
    store.save_snapshot(apply_fill(Portfolio.open(30_000.0), fill), "book")  # cash 18,320
    ctx = make_ctx()
    inbox = [
        *approved_idea(ctx, "MSFT", 300, 24.2, 0.9),
        *approved_idea(ctx, "IBM", 100, 175.8, 0.5),
    ]
    out = portfolio_manager.run(ctx, inbox)
    by_symbol = {p.intent.symbol: p.intent for p in intents(out)}
    assert by_symbol["MSFT"].quantity == 300  # the higher conviction is funded first, in full
    ibm = by_symbol["IBM"]
    assert 0 < ibm.quantity < 100
    spent = sum(i.quantity * (i.reference_price or 0) * 1.005 for i in by_symbol.values())
    assert spent <= 18_320.0


def test_pm_when_stop_says_exit_then_sell_the_whole_position(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    hold(store, "GOOG", 40, 350.0)
    ctx = make_ctx()
    stop = ctx.message(
        "stop_manager",
        ToolFigures(tool="stops", symbol="GOOG", figures={"exit": 1.0, "close": 340.0}),
    )
    [p] = intents(portfolio_manager.run(ctx, [stop]))
    assert (p.intent.side, p.intent.quantity) == (OrderSide.SELL, 40)


def test_pm_when_pyramid_add_breaks_the_cap_then_skipped_as_a_note(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    hold(store, "GOOG", 80, 350.0)  # already ~29 % of equity
    ctx = make_ctx()
    add = ctx.message(
        "pyramiding",
        ToolFigures(
            tool="pyramid_add",
            symbol="GOOG",
            figures={"tranche_quantity": 40.0, "close": 378.0, "direction": 1.0},
        ),
    )
    out = portfolio_manager.run(ctx, [add])
    assert intents(out) == [] and not any(isinstance(m.payload, Rejection) for m in out)
    assert any(
        isinstance(m.payload, Note) and m.payload.topic == "pyramid_add_skipped" for m in out
    )


def test_pm_when_halted_then_no_intent(make_ctx: MakeContext) -> None:
    ctx = make_ctx(trading_state=TradingState.HALTED)
    assert intents(portfolio_manager.run(ctx, approved_idea(ctx, "MSFT", 10, 27.0))) == []


def test_pm_when_final_check_denies_then_rejection_with_code(make_ctx: MakeContext) -> None:
    ctx = make_ctx(trading_state=TradingState.REDUCING)
    out = portfolio_manager.run(ctx, approved_idea(ctx, "MSFT", 10, 27.0))
    [rejection] = [m.payload for m in out if isinstance(m.payload, Rejection)]
    assert rejection.denial.code is DenialCode.REDUCING_ONLY and intents(out) == []


# -- execution ---------------------------------------------------------------------------------
@pytest.fixture
async def broker(store: SqliteStore) -> PaperBroker:
    b = PaperBroker(store)
    await b.connect()
    yield b
    await b.disconnect()


def intent_message(
    ctx: AgentContext, symbol: str = "MSFT", qty: int = 10, ref: str | None = None
) -> Envelope:
    intent = OrderIntent(symbol=symbol, side=OrderSide.BUY, quantity=qty, reference_price=27.0)
    return ctx.message(
        "portfolio_manager",
        OrderIntentPayload(intent=intent, client_ref=ref or make_client_ref(ctx.cycle_id, intent)),
    )


async def test_execution_when_intent_then_placed_once_even_if_run_again(
    make_ctx: MakeContext, broker: PaperBroker, store: SqliteStore
) -> None:
    ctx = make_ctx(broker=broker)
    inbox = [intent_message(ctx)]
    [first] = await execution.run(ctx, inbox)
    [again] = await execution.run(ctx, inbox)  # a re-run after a crash
    assert (
        isinstance(first.payload, OrderUpdate)
        and first.payload.order.status is OrderStatus.SUBMITTED
    )
    assert again.payload.order.order_id == first.payload.order.order_id
    assert len(await broker.open_orders()) == 1 and len(store.orders()) == 1


async def test_execution_when_halted_then_nothing_reaches_the_broker(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker, trading_state=TradingState.HALTED)
    [env] = await execution.run(ctx, [intent_message(ctx)])
    assert env.payload.denial.code is DenialCode.TRADING_HALTED and await broker.open_orders() == []


async def test_execution_when_client_ref_is_not_the_cycles_then_refused(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker)
    [env] = await execution.run(ctx, [intent_message(ctx, ref="q-other-cycle-0000")])
    assert env.payload.denial.code is DenialCode.AGENT_VETO and await broker.open_orders() == []


class Exhausted:
    def try_acquire(self, tokens: int = 1) -> float:
        return 60.0


async def test_execution_when_no_rate_token_in_time_then_order_rate_exceeded(
    make_ctx: MakeContext, broker: PaperBroker
) -> None:
    ctx = make_ctx(broker=broker, settings={"rate_limiter": Exhausted(), "max_rate_wait_s": 0.01})
    [env] = await execution.run(ctx, [intent_message(ctx)])
    assert env.payload.denial.code is DenialCode.ORDER_RATE_EXCEEDED


async def test_execution_when_no_intents_then_nothing_and_no_broker_needed(
    make_ctx: MakeContext,
) -> None:
    assert await execution.run(make_ctx(), []) == []


def test_token_bucket_when_burst_spent_then_wait_is_reported() -> None:
    bucket = execution.TokenBucket(per_minute=2)
    assert bucket.try_acquire() == 0.0 and bucket.try_acquire() == 0.0
    assert bucket.try_acquire() > 0.0


# -- reconciliation -------------------------------------------------------------------------------
async def test_reconciliation_when_order_filled_then_fill_update_and_book_saved(
    make_ctx: MakeContext, broker: PaperBroker, store: SqliteStore
) -> None:
    ctx = make_ctx(broker=broker)
    inbox = [intent_message(ctx, qty=10)]
    inbox += await execution.run(ctx, inbox)
    await broker.on_bar(
        "MSFT", 27.0, 27.5, 26.5, 27.2, 1_000_000.0, datetime(2013, 1, 25, tzinfo=UTC)
    )
    out = await reconciliation.run(ctx, inbox)
    kinds = [m.kind for m in out]
    assert kinds.count("fill") == 1 and "order_update" in kinds
    report = out[-1].payload.data
    assert report["discrepancies"] == [] and report["positions_book"] == {"MSFT": 10}
    book = store.latest_snapshot("book")
    assert book is not None and book.quantity("MSFT") == 10
    again = await reconciliation.run(ctx, [*inbox, *out])
    assert [m.kind for m in again] == ["note"]  # nothing new the second time


async def test_reconciliation_when_book_disagrees_then_discrepancy_and_broker_adopted(
    make_ctx: MakeContext, broker: PaperBroker, store: SqliteStore
) -> None:
    phantom = Portfolio.open(100_000.0).model_copy(
        update={
            "positions": {
                "IBM": Position(symbol="IBM", quantity=5, avg_price=200.0, last_price=200.0)
            }
        }
    )
    store.save_snapshot(phantom, "book")
    out = await reconciliation.run(make_ctx(broker=broker), [])
    report = out[-1].payload.data
    assert "IBM: book 5 broker 0" in report["discrepancies"] and report["adopted_broker_state"]
    assert store.latest_snapshot("book").quantity("IBM") == 0


async def test_reconciliation_when_no_broker_then_says_skipped(make_ctx: MakeContext) -> None:
    [env] = await reconciliation.run(make_ctx(), [])
    assert env.payload.data == {"skipped": "no broker"}
