"""Lessons and agent memory, versioned by cycle and scored by what followed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from adapters.marketdata.files import FileMarketData
from adapters.storage.sqlite import SqliteStore
from agents.common import memory_get, memory_put
from agents.reflection import proposal_author, reflection
from agents.reflection.lessons import LESSONS, lesson_id, ranked, score_lessons, visible_lessons
from agents.strategy import research_manager
from core.messages import Note, OrderIntentPayload, StateChange, TradeIdeaPayload
from core.orders import Fill, Order, OrderIntent, OrderSide
from core.risk import TradingState
from core.signals import Direction, TradeIdea
from tests.unit.agents.conftest import MakeContext, run_desks

D0, D1, D2 = date(2013, 1, 2), date(2013, 1, 3), date(2013, 1, 4)


def put_lesson(
    store: SqliteStore, cycle: str, day: date, topic: str, severity: str = "high"
) -> None:
    doc = {"id": lesson_id(topic), "cycle_id": cycle, "as_of": day.isoformat(),
           "topic": topic, "lesson": f"{topic} happened", "severity": severity}  # fmt: skip
    store.put_document(LESSONS, f"{cycle}:0", doc)


def test_visible_lessons_when_drawn_before_on_and_after_the_day_then_only_earlier_ones(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    put_lesson(store, "c0", D0, "kill_switch")
    put_lesson(store, "c0b", D0, "drawdown_pressure")
    put_lesson(store, "c1", D1, "kill_switch")
    put_lesson(store, "c2", D2, "no_ideas")
    seen = visible_lessons(make_ctx(as_of=D1, cycle_id="c1"))
    assert set(seen) == {"lesson:kill_switch", "lesson:drawdown_pressure"}
    assert seen["lesson:kill_switch"].seen == 1  # D1's own occurrence is not memory yet
    later = visible_lessons(make_ctx(as_of=date(2013, 1, 7)))
    assert later["lesson:kill_switch"].seen == 2 and "lesson:no_ideas" in later


def _cited_fill(store: SqliteStore, make_ctx: MakeContext, side: OrderSide, price: float) -> None:
    """c0 on D0: an idea citing lesson:kill_switch → intent → order filled on D1's open."""
    ctx = make_ctx(as_of=D0, cycle_id="c0")
    idea = ctx.message("research_manager", TradeIdeaPayload(idea=TradeIdea(
        symbol="AAPL", direction=Direction.LONG, conviction=0.5, rationale="r",
        lessons=("lesson:kill_switch",))))  # fmt: skip
    intent = OrderIntent(symbol="AAPL", side=side, quantity=10)
    order_msg = idea.reply("portfolio_manager", OrderIntentPayload(intent=intent, client_ref="r1"))
    store.append_message(idea)
    store.append_message(order_msg)
    store.save_order(Order(order_id="o1", client_ref="r1", intent=intent))
    when = datetime(2013, 1, 3, 14, 30, tzinfo=UTC)
    store.save_fill(Fill(fill_id="f1", order_id="o1", client_ref="r1", symbol="AAPL", side=side,
                         quantity=10, price=price, ts=when))  # fmt: skip


@pytest.mark.parametrize("side", [OrderSide.BUY, OrderSide.SELL])
def test_score_when_cited_order_filled_then_signed_return_horizon_sessions_after(
    make_ctx: MakeContext, store: SqliteStore, market: FileMarketData, side: OrderSide
) -> None:
    put_lesson(store, "cm1", date(2012, 12, 31), "kill_switch")
    _cited_fill(store, make_ctx, side, 500.0)
    ctx = make_ctx(as_of=date(2013, 1, 31), settings={"lesson_horizon": 3})
    lesson = score_lessons(ctx, visible_lessons(ctx))["lesson:kill_switch"]
    bars = market.bars("AAPL", end=date(2013, 1, 31))
    days = list(bars.timestamps.astype("datetime64[D]"))
    close = float(bars.close[days.index(np.datetime64("2013-01-03")) + 3])
    expected = (close / 500.0 - 1.0) * (1 if side is OrderSide.BUY else -1)
    assert lesson.outcomes == [pytest.approx(expected)]
    assert lesson.score == pytest.approx(expected)


def test_score_when_horizon_not_elapsed_by_the_day_then_unscored(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    put_lesson(store, "cm1", date(2012, 12, 31), "kill_switch")
    _cited_fill(store, make_ctx, OrderSide.BUY, 500.0)
    ctx = make_ctx(as_of=date(2013, 1, 4), settings={"lesson_horizon": 5})  # 1 session later
    assert score_lessons(ctx, visible_lessons(ctx))["lesson:kill_switch"].score is None


def test_ranked_when_mixed_scores_then_proven_first_unproven_next_losers_last(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    for i, topic in enumerate(["a", "b", "c"]):
        put_lesson(store, f"c{i}", D0, topic)
    lessons = visible_lessons(make_ctx(as_of=D1))
    lessons["lesson:a"].outcomes, lessons["lesson:c"].outcomes = [-0.02], [0.03]
    assert [x.id for x in ranked(list(lessons.values()))] == ["lesson:c", "lesson:b", "lesson:a"]


def test_memory_when_a_later_cycle_wrote_then_an_earlier_day_reads_its_own_version(
    make_ctx: MakeContext,
) -> None:
    memory_put(make_ctx(as_of=D0, cycle_id="c0"), "guard", "equity", {"v": 0})
    memory_put(make_ctx(as_of=D1, cycle_id="c1"), "guard", "equity", {"v": 1})
    memory_put(make_ctx(as_of=D2, cycle_id="c2"), "guard", "equity", {"v": 2})
    replay = make_ctx(as_of=D1, cycle_id="c1.replay")
    assert memory_get(replay, "guard", "equity") == {"v": 0}  # not c1's, not c2's
    memory_put(replay, "guard", "equity", {"v": 10})
    assert memory_get(replay, "guard", "equity") == {"v": 10}  # its own write
    assert memory_get(make_ctx(as_of=D2, cycle_id="c3"), "guard", "equity") == {"v": 10}
    assert memory_get(make_ctx(as_of=D0, cycle_id="c-1"), "guard", "missing") == {}


def test_research_manager_when_caution_lesson_in_memory_then_cites_it_and_lowers_conviction(
    make_ctx: MakeContext, store: SqliteStore, analysed: list
) -> None:
    ctx = make_ctx()
    before = run_desks(ctx, research_manager, inbox=analysed)
    plain = {m.payload.idea.symbol: m.payload.idea for m in before
             if isinstance(m.payload, TradeIdeaPayload)}  # fmt: skip
    assert plain and all(i.lessons == () for i in plain.values())
    put_lesson(store, "c-earlier", date(2013, 1, 23), "drawdown_pressure", "medium")
    after = run_desks(make_ctx(cycle_id="c-again"), research_manager, inbox=analysed)
    ideas = {m.payload.idea.symbol: m.payload.idea for m in after
             if isinstance(m.payload, TradeIdeaPayload)}  # fmt: skip
    for symbol, idea in ideas.items():
        assert idea.lessons == ("lesson:drawdown_pressure",)
        assert idea.conviction == pytest.approx(
            plain[symbol].conviction * research_manager.CAUTION_STEP
        )


def _scores_note(ctx, score: float | None):  # type: ignore[no-untyped-def]
    data = {"lessons": [{"id": "lesson:kill_switch", "score": score}]}
    return ctx.message("reflection", Note(topic="lesson_scores", data=data))


def test_proposal_author_when_lesson_score_clears_threshold_then_keyed_proposal_citing_it(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    ctx = make_ctx(settings={"lesson_score_threshold": 0.0})
    halted = ctx.message("drawdown_guard", StateChange(state=TradingState.HALTED, reason="x"))
    inbox = [*reflection.run(ctx, [halted])]
    inbox = [m for m in inbox if getattr(m.payload, "topic", "") != "lesson_scores"]
    out = proposal_author.run(ctx, [*inbox, _scores_note(ctx, 0.012)])
    proposals = [m.payload.data for m in out if m.payload.topic == "proposal"]
    assert {k for p in proposals for k in p["changes"]} == {
        "risk.max_gross_exposure", "risk.max_position_weight"}  # fmt: skip
    assert all(p["lessons"] == ["lesson:kill_switch"] for p in proposals)
    by_key = {k: v for p in proposals for k, v in p["changes"].items()}
    assert by_key["risk.max_position_weight"] == pytest.approx(0.27)
    assert store.documents("proposals") == []  # no dead "pending" documents any more


@pytest.mark.parametrize("score", [None, -0.01, 0.0])
def test_proposal_author_when_no_lesson_clears_threshold_then_skipped_note_only(
    make_ctx: MakeContext, score: float | None
) -> None:
    ctx = make_ctx(settings={"lesson_score_threshold": 0.0})
    halted = ctx.message("drawdown_guard", StateChange(state=TradingState.HALTED, reason="x"))
    lessons = [m for m in reflection.run(ctx, [halted]) if m.payload.topic == "lesson"]
    out = proposal_author.run(ctx, [*lessons, _scores_note(ctx, score)])
    assert [m.payload.topic for m in out] == ["proposal_skipped"]
    assert out[0].payload.data["scores"]["lesson:kill_switch"] == score
