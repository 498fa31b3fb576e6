"""Scripted agents and a tiny in-memory market for graph tests.

``scripted_registry(**overrides)`` gives all 22 registry names; an agent not overridden
produces nothing. The default script below walks one idea (AAPL long) from a signal to an
order at the broker, so every step of the graph has something to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

import numpy as np

from agents.base import AgentContext, AgentSpec, Desk, Reasoning, inbox_of
from core.bars import BarSeries
from core.instruments import Instrument
from core.messages import (
    Assessment,
    BarsPublished,
    Envelope,
    Note,
    OrderIntentPayload,
    OrderUpdate,
    RiskVerdict,
    SignalPayload,
    StateChange,
    TradeIdeaPayload,
)
from core.orders import OrderIntent, OrderSide, make_client_ref
from core.risk import Denial, DenialCode, TradingState
from core.signals import Direction, Signal, TradeIdea
from workflows.daily_cycle import (
    DATA_DESK,
    PYRAMIDING_DESK,
    RISK_DESK,
    SIGNAL_AGENTS,
)

Run = Callable[[AgentContext, Sequence[Envelope]], list[Envelope]]

DESKS: dict[str, Desk] = {
    **dict.fromkeys(DATA_DESK, Desk.DATA),
    **dict.fromkeys(
        (*SIGNAL_AGENTS, "bull_researcher", "bear_researcher", "research_manager"), Desk.STRATEGY
    ),
    **dict.fromkeys(RISK_DESK, Desk.RISK),
    **dict.fromkeys(PYRAMIDING_DESK, Desk.PYRAMIDING),
    **dict.fromkeys(("portfolio_manager", "execution", "reconciliation"), Desk.EXECUTION),
    **dict.fromkeys(("reflection", "proposal_author"), Desk.REFLECTION),
}


class MemoryMarket:
    """Seeded random-walk daily bars for a few symbols (business days)."""

    def __init__(self, symbols: Sequence[str], start: str, days: int, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        stamps = np.arange(np.datetime64(start), np.datetime64(start) + days * 2, dtype="M8[D]")
        stamps = stamps[np.is_busday(stamps)][:days].astype("datetime64[ns]")
        self._bars: dict[str, BarSeries] = {}
        for symbol in symbols:
            close = 100.0 * np.exp(np.cumsum(rng.normal(0.0005, 0.01, len(stamps))))
            open_ = close * (1 + rng.normal(0, 0.002, len(stamps)))
            self._bars[symbol] = BarSeries(
                symbol=symbol,
                timestamps=stamps,
                open=open_,
                high=np.maximum(open_, close) * 1.005,
                low=np.minimum(open_, close) * 0.995,
                close=close,
                volume=np.full(len(stamps), 1e6),
            )

    def symbols(self) -> list[str]:
        return sorted(self._bars)

    def instrument(self, symbol: str) -> Instrument:
        return Instrument(symbol=symbol, primary_exchange="SMART")

    def bars(
        self, symbol: str, start: date | None = None, end: date | None = None, adjusted: bool = True
    ) -> BarSeries:
        series = self._bars[symbol]
        if end is not None:
            series = series.until(np.datetime64(end, "ns") + np.timedelta64(1, "D") - 1)
        if start is not None:
            first = int(np.searchsorted(series.timestamps, np.datetime64(start, "ns")))
            series = series.slice(first, len(series))
        return series

    def dates(self) -> list[date]:
        first = next(iter(self._bars.values()))
        return [d.astype("M8[D]").item() for d in first.timestamps]


def _ts(ctx: AgentContext) -> datetime:
    return datetime(ctx.as_of.year, ctx.as_of.month, ctx.as_of.day, tzinfo=UTC)


def market_data(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    last = {s: ctx.market.bars(s).last_close for s in ctx.universe}
    payload = BarsPublished(
        as_of=_ts(ctx), symbols=ctx.universe, bars=len(last), source="memory", last_close=last
    )
    return [ctx.message("market_data", payload)]


def momentum(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    bars = inbox_of(inbox, "bars_published")
    cause = bars[0].id if bars else None
    out = []
    for symbol, strength in (("AAPL", 0.8), ("MSFT", 0.01)):
        sig = Signal(
            symbol=symbol,
            strategy="momentum",
            direction=Direction.LONG,
            strength=strength,
            as_of=_ts(ctx),
        )
        out.append(ctx.message("momentum", SignalPayload(signal=sig), causation_id=cause))
    return out


def technical_analyst(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    view = Assessment(topic="technical", symbol="AAPL", score=0.3, text="uptrend")
    return [ctx.message("technical_analyst", view)]


def _debater(name: str, score: float) -> Run:
    def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
        shortlist = [m for m in inbox if m.kind == "note" and m.payload.topic == "shortlist"]
        if not shortlist:
            return []
        return [
            shortlist[-1].reply(name, Assessment(topic="debate", symbol=s, score=score, text=name))
            for s in shortlist[-1].payload.data["symbols"]
        ]

    return run


def research_manager(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    debate = [m for m in inbox if m.kind == "assessment" and m.payload.topic == "debate"]
    symbols = sorted({m.payload.symbol for m in debate if m.payload.symbol})
    return [
        ctx.message(
            "research_manager",
            TradeIdeaPayload(
                idea=TradeIdea(symbol=s, direction=Direction.LONG, conviction=0.7, rationale="up")
            ),
            causation_id=debate[-1].id,
        )
        for s in symbols
    ]


def approve_all(name: str) -> Run:
    def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
        return [
            m.reply(name, RiskVerdict(symbol=m.payload.idea.symbol, approved=True, checked_by=name))
            for m in inbox_of(inbox, "trade_idea")
        ]

    return run


def deny_all(name: str) -> Run:
    def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
        return [
            m.reply(
                name,
                RiskVerdict(
                    symbol=m.payload.idea.symbol,
                    approved=False,
                    denial=Denial(code=DenialCode.RESTRICTED_SYMBOL, context={"symbol": "AAPL"}),
                    checked_by=name,
                ),
            )
            for m in inbox_of(inbox, "trade_idea")
        ]

    return run


def halt(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    change = StateChange(state=TradingState.HALTED, reason="MAX_DRAWDOWN_BREACHED: dd=0.06")
    return [ctx.message("drawdown_guard", change)]


def portfolio_manager(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    out = []
    for m in inbox_of(inbox, "trade_idea"):
        intent = OrderIntent(symbol=m.payload.idea.symbol, side=OrderSide.BUY, quantity=10)
        payload = OrderIntentPayload(
            intent=intent, client_ref=make_client_ref(ctx.cycle_id, intent)
        )
        out.append(m.reply("portfolio_manager", payload))
    return out


async def execution(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    assert ctx.broker is not None
    out = []
    for m in inbox_of(inbox, "order_intent"):
        order = await ctx.broker.place(m.payload.intent, m.payload.client_ref)
        out.append(m.reply("execution", OrderUpdate(order=order)))
    return out


def noting(name: str) -> Run:
    def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
        return [ctx.message(name, Note(topic=name, data={"seen": len(inbox)}))]

    return run


def raising(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    raise RuntimeError("scripted failure")


def nothing(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    return []


def default_script() -> dict[str, Run]:
    return {
        "market_data": market_data,
        "momentum": momentum,
        "technical_analyst": technical_analyst,
        "bull_researcher": _debater("bull_researcher", 0.6),
        "bear_researcher": _debater("bear_researcher", -0.2),
        "research_manager": research_manager,
        "risk_manager": approve_all("risk_manager"),
        "compliance": approve_all("compliance"),
        "portfolio_manager": portfolio_manager,
        "execution": execution,  # type: ignore[dict-item]
        "reconciliation": noting("reconciliation"),
        "reflection": noting("reflection"),
        "proposal_author": noting("proposal_author"),
    }


def scripted_registry(**overrides: Run) -> dict[str, AgentSpec]:
    script = {**default_script(), **overrides}
    registry = {}
    for name, desk in DESKS.items():
        run = script.get(name, nothing)
        registry[name] = AgentSpec(
            name=name,
            desk=desk,
            consumes=(),
            produces=(),
            reasoning=Reasoning.DETERMINISTIC,
            run=run,
            is_async=name == "execution" and run is execution,
        )
    return registry
