from __future__ import annotations

import pytest

from adapters.marketdata.files import FileMarketData
from adapters.storage.sqlite import SqliteStore
from agents.strategy import (
    bear_researcher,
    bull_researcher,
    ma_crossover,
    mean_reversion,
    momentum,
    research_manager,
    technical_analyst,
)
from core.messages import Assessment, Envelope, Note, SignalPayload, ToolFigures, TradeIdeaPayload
from core.orders import Fill, OrderSide
from core.portfolio import Portfolio, apply_fill
from core.signals import Direction
from tests.unit.agents.conftest import DAY, MakeContext, run_desks
from tools.indicators import rsi
from tools.strategies import signal_for


@pytest.mark.parametrize(
    ("module", "strategy"),
    [(momentum, "momentum"), (mean_reversion, "mean_reversion"), (ma_crossover, "ma_crossover")],
)
def test_signal_agents_when_run_then_direction_is_the_kernels_and_strength_agrees(
    module: object, strategy: str, make_ctx: MakeContext, market: FileMarketData
) -> None:
    out = module.run(make_ctx(), [])  # type: ignore[attr-defined]
    assert out
    for env in out:
        sig = env.payload.signal
        bars = market.bars(sig.symbol, end=DAY)
        raw, _ = signal_for(strategy, bars.open, bars.high, bars.low, bars.close)
        assert {1: Direction.LONG, -1: Direction.SHORT}[int(raw[-1])] is sig.direction
        assert (sig.strength > 0) == (sig.direction is Direction.LONG) and abs(sig.strength) <= 1
        assert sig.as_of.date() == DAY and sig.figures


def test_signal_agents_when_symbol_not_published_then_skipped(make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    from core.messages import BarsPublished

    published = ctx.message(
        "market_data",
        BarsPublished(as_of="2013-01-24T00:00:00Z", symbols=("GOOG",), bars=300, source="primary"),
    )
    out = momentum.run(ctx, [published])
    assert {m.payload.signal.symbol for m in out} == {"GOOG"}
    assert all(m.causation_id == published.id for m in out)


def test_technical_analyst_when_run_then_panel_is_the_tools_and_view_is_bounded(
    make_ctx: MakeContext, market: FileMarketData
) -> None:
    out = technical_analyst.run(make_ctx(), [])
    panels = {
        m.payload.symbol: m.payload.figures for m in out if isinstance(m.payload, ToolFigures)
    }
    views = {m.payload.symbol: m.payload for m in out if isinstance(m.payload, Assessment)}
    assert set(panels) == set(views) == {"AAPL", "MSFT", "IBM", "GOOG"}
    close = market.bars("AAPL", end=DAY).close
    assert panels["AAPL"]["rsi_14"] == pytest.approx(rsi(close, 14)[-1])
    assert views["AAPL"].score < 0 < views["GOOG"].score  # AAPL below its averages in Jan 2013
    assert all(v.topic == "technical" and -1 <= v.score <= 1 for v in views.values())


def test_debate_when_two_rounds_then_rounds_numbered_and_sides_signed(
    make_ctx: MakeContext, analysed: list[Envelope]
) -> None:
    ctx = make_ctx()
    msgs = run_desks(
        ctx, bull_researcher, bear_researcher, bull_researcher, bear_researcher, inbox=analysed
    )
    cases = [
        m.payload
        for m in msgs
        if isinstance(m.payload, Assessment) and m.payload.topic.endswith("_case")
    ]
    assert len(cases) == 12  # 3 shortlisted symbols × 2 sides × 2 rounds
    goog = [c for c in cases if c.symbol == "GOOG"]
    assert [int(c.figures["round"]) for c in goog] == [1, 1, 2, 2]
    bull, bear = goog[-2], goog[-1]
    assert bull.topic == "bull_case" and bull.score > 0 and bear.score <= 0
    assert bull.score > abs(bear.score)


def test_research_manager_when_debate_favours_long_then_idea_without_quantity(
    make_ctx: MakeContext, analysed: list[Envelope]
) -> None:
    ctx = make_ctx()
    msgs = run_desks(ctx, bull_researcher, bear_researcher, research_manager, inbox=analysed)
    ideas = {
        m.payload.idea.symbol: m.payload.idea
        for m in msgs
        if isinstance(m.payload, TradeIdeaPayload)
    }
    assert ideas["GOOG"].direction is Direction.LONG and 0 < ideas["GOOG"].conviction <= 1
    assert ideas["GOOG"].sources  # the debate and signals behind it
    assert set(ideas["GOOG"].model_dump()) == {
        "symbol",
        "direction",
        "conviction",
        "rationale",
        "sources",
        "lessons",  # ids of the reflection lessons it cites, never a size
    }
    flat = [
        m.payload.data
        for m in msgs
        if isinstance(m.payload, Note) and m.payload.topic == "research_decision"
    ]
    assert any(d["symbol"] == "AAPL" and d["no_idea_because"] == "flat decision" for d in flat)


def test_research_manager_when_a_held_position_turns_negative_then_exit_idea(
    make_ctx: MakeContext, analysed: list[Envelope], store: SqliteStore
) -> None:
    fill = Fill(
        fill_id="f1",
        order_id="o1",
        client_ref="r1",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=10,
        price=70.0,
    )
    store.save_snapshot(apply_fill(Portfolio.open(100_000.0), fill), "book")
    ctx = make_ctx()
    msgs = run_desks(ctx, bull_researcher, bear_researcher, research_manager, inbox=analysed)
    ideas = {
        m.payload.idea.symbol: m.payload.idea
        for m in msgs
        if isinstance(m.payload, TradeIdeaPayload)
    }
    assert ideas["AAPL"].direction is Direction.FLAT


def test_research_manager_when_no_shortlist_then_nothing(make_ctx: MakeContext) -> None:
    assert research_manager.run(make_ctx(), []) == []


def test_signals_when_run_then_payload_is_a_signal(make_ctx: MakeContext) -> None:
    assert all(isinstance(m.payload, SignalPayload) for m in ma_crossover.run(make_ctx(), []))
