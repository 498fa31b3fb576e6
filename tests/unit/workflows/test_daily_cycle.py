"""The daily-cycle graph with scripted agents: exact node sequences, routing, gating."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from adapters.brokers.paper.broker import PaperBroker
from adapters.storage.sqlite import SqliteStore
from core.errors import ConfigurationError
from core.messages import Envelope, Note, Rejection
from core.risk import DenialCode, TradingState
from tests.unit.workflows import scripted
from workflows.checkpointer import sqlite_checkpointer
from workflows.daily_cycle import build_daily_cycle
from workflows.runner import run_cycle
from workflows.state import CycleConfig, CycleDeps

AS_OF = date(2024, 3, 28)
UNIVERSE = ["AAPL", "MSFT"]
DATA = [f"data:{a}" for a in ("market_data", "fundamentals", "news_sentiment", "market_regime")]
SIGNALS = [
    f"strategy:{a}" for a in ("momentum", "mean_reversion", "ma_crossover", "technical_analyst")
]
RISK = [f"risk:{a}" for a in ("risk_manager", "drawdown_guard", "portfolio_risk", "compliance")]
PYRAMIDING = ["pyramiding:pyramiding", "pyramiding:stop_manager"]
HEAD = ["open_cycle", *DATA, "data_checked", *SIGNALS, "shortlist"]
TAIL = ["reconciliation", "reflection", "proposal_author", "report"]


async def _run(
    tmp_path: Path,
    registry: dict,
    config: CycleConfig | None = None,
    trading: TradingState = TradingState.ACTIVE,
    cycle_id: str = "c1",
) -> tuple[dict, SqliteStore, PaperBroker, list[str]]:
    store = SqliteStore(tmp_path / "q.db")
    broker = PaperBroker(store)
    await broker.connect()
    deps = CycleDeps(
        store=store,
        market=scripted.MemoryMarket(UNIVERSE, "2024-01-02", 70),
        registry=registry,
        broker=broker,
        config=config or CycleConfig(debate_rounds=2, fill_timeout_s=0.0),
        initial_trading_state=trading,
    )
    nodes: list[str] = []
    async with sqlite_checkpointer(tmp_path) as saver:
        app = build_daily_cycle().compile(checkpointer=saver)
        state = await run_cycle(
            app, deps, cycle_id, AS_OF, UNIVERSE, on_update=lambda n, _: nodes.append(n)
        )
    return dict(state), store, broker, nodes


async def test_cycle_when_idea_approved_then_runs_every_step_in_order_and_places_one_order(
    tmp_path: Path,
) -> None:
    state, store, broker, _ = await _run(tmp_path, scripted.scripted_registry())
    debate = ["bull", "bear", "bull", "bear", "research_manager"]
    assert state["steps"] == [
        *HEAD,
        *debate,
        *RISK,
        "risk_gate",
        *PYRAMIDING,
        "portfolio_manager",
        "execution",
        *TAIL,
    ]
    assert state["shortlist"] == ["AAPL"]  # MSFT's 0.01 is under the 0.05 threshold
    assert state["approved"] == ["AAPL"]
    assert state["status"] == "completed"
    orders = await broker.open_orders()
    assert [(o.symbol, o.intent.quantity) for o in orders] == [("AAPL", 10)]
    assert store.order_by_client_ref(orders[0].client_ref) is not None
    journaled = {m.id for m in store.messages_by_cycle("c1")}
    assert {m.id for m in state["messages"]} <= journaled


async def test_cycle_streams_node_updates_in_graph_order(tmp_path: Path) -> None:
    _, _, _, nodes = await _run(
        tmp_path, scripted.scripted_registry(), CycleConfig(debate_rounds=1, fill_timeout_s=0)
    )
    assert nodes == [
        "open_cycle",
        *["data_agent"] * 4,
        "data_checked",
        *["strategy_agent"] * 4,
        "shortlist",
        "bull",
        "bear",
        "research_manager",
        *["risk_agent"] * 4,
        "risk_gate",
        *["pyramiding_agent"] * 2,
        "portfolio_manager",
        "execution",
        *TAIL,
    ]


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_cycle_when_agents_are_sync_or_async_then_same_decisions(
    tmp_path: Path, flavour: str
) -> None:
    run = scripted.research_manager
    if flavour == "async":

        async def run(ctx, inbox):  # type: ignore[no-untyped-def]
            return scripted.research_manager(ctx, inbox)

    registry = scripted.scripted_registry(research_manager=run)
    state, store, _, _ = await _run(tmp_path, registry)
    ideas = [m.payload.idea.symbol for m in state["messages"] if m.kind == "trade_idea"]
    assert ideas == ["AAPL"]
    assert [o.symbol for o in store.orders()] == ["AAPL"]


async def test_cycle_when_drawdown_guard_halts_then_goes_to_report_without_orders(
    tmp_path: Path,
) -> None:
    state, store, broker, _ = await _run(
        tmp_path, scripted.scripted_registry(drawdown_guard=scripted.halt)
    )
    assert state["steps"][-2:] == ["risk_gate", "report"]
    assert state["status"] == "halted"
    assert "MAX_DRAWDOWN_BREACHED" in state["halt_reason"]
    assert await broker.open_orders() == []
    assert store.orders() == []


async def test_cycle_when_halted_before_start_then_only_opens_and_reports(tmp_path: Path) -> None:
    state, store, _, _ = await _run(
        tmp_path, scripted.scripted_registry(), trading=TradingState.HALTED
    )
    assert state["steps"] == ["open_cycle", "report"]
    assert state["status"] == "halted"
    assert store.orders() == []


async def test_cycle_when_no_intents_then_skips_execution(tmp_path: Path) -> None:
    state, store, _, _ = await _run(
        tmp_path, scripted.scripted_registry(portfolio_manager=scripted.nothing)
    )
    assert "execution" not in state["steps"]
    assert state["steps"][-5:] == ["portfolio_manager", *TAIL]
    assert store.orders() == []


async def test_cycle_when_shortlist_empty_then_skips_debate_but_runs_risk_desk(
    tmp_path: Path,
) -> None:
    state, _, _, _ = await _run(
        tmp_path,
        scripted.scripted_registry(momentum=scripted.nothing, technical_analyst=scripted.nothing),
    )
    assert state["shortlist"] == []
    assert state["steps"][len(HEAD) : len(HEAD) + 5] == [*RISK, "risk_gate"]
    assert "bull" not in state["steps"]
    assert "research_manager" not in state["steps"]


async def test_cycle_when_debate_rounds_zero_then_goes_straight_to_research_manager(
    tmp_path: Path,
) -> None:
    state, _, _, _ = await _run(
        tmp_path,
        scripted.scripted_registry(research_manager=scripted.research_manager),
        CycleConfig(debate_rounds=0, fill_timeout_s=0),
    )
    assert state["steps"][len(HEAD)] == "research_manager"
    assert "bull" not in state["steps"]


async def test_cycle_when_one_risk_agent_denies_then_no_order(tmp_path: Path) -> None:
    state, store, _, _ = await _run(
        tmp_path, scripted.scripted_registry(compliance=scripted.deny_all("compliance"))
    )
    assert state["approved"] == []
    assert store.orders() == []


async def test_cycle_when_risk_agent_raises_then_fails_closed_with_journaled_veto(
    tmp_path: Path,
) -> None:
    state, store, _, _ = await _run(
        tmp_path, scripted.scripted_registry(portfolio_risk=scripted.raising)
    )
    assert state["approved"] == []
    assert store.orders() == []
    vetoes = [m for m in store.messages_by_kind("rejection", "c1")]
    assert [m.payload.denial.code for m in vetoes] == [DenialCode.AGENT_VETO]
    assert isinstance(vetoes[0].payload, Rejection)
    errors = [m for m in store.messages_by_kind("note", "c1") if m.payload.topic == "agent_error"]
    assert errors[0].payload.data["agent"] == "portfolio_risk"


async def test_cycle_when_agent_writes_another_cycle_id_then_raises(tmp_path: Path) -> None:
    def forger(ctx, inbox):  # type: ignore[no-untyped-def]
        return [Envelope(cycle_id="other", sender="x", payload=Note(topic="x"))]

    with pytest.raises(ConfigurationError, match="cycle"):
        await _run(tmp_path, scripted.scripted_registry(fundamentals=forger))


async def test_cycle_when_agent_missing_from_registry_then_configuration_error(
    tmp_path: Path,
) -> None:
    registry = scripted.scripted_registry()
    del registry["compliance"]
    with pytest.raises(ConfigurationError, match="compliance"):
        await _run(tmp_path, registry)


async def test_cycle_when_run_again_after_finishing_then_returns_result_without_rerunning(
    tmp_path: Path,
) -> None:
    registry = scripted.scripted_registry()
    first, store, _, _ = await _run(tmp_path, registry)
    journal_size = len(store.messages_by_cycle("c1"))
    store.close()
    second, store2, _, nodes = await _run(tmp_path, registry)
    assert nodes == []
    assert second["steps"] == first["steps"]
    assert len(store2.messages_by_cycle("c1")) == journal_size
    assert len(store2.orders()) == 1


async def test_cycle_when_agent_reads_past_as_of_then_view_refuses_and_error_is_journaled(
    tmp_path: Path,
) -> None:
    """The graph hands agents the point-in-time view, not the full history."""
    from datetime import timedelta

    import numpy as np

    seen: list[object] = []

    def peeker(ctx, inbox):  # type: ignore[no-untyped-def]
        seen.append(ctx.market.bars("AAPL").timestamps[-1])
        ctx.market.bars("AAPL", end=ctx.as_of + timedelta(days=1))  # tomorrow: refused
        return []

    state, store, _, _ = await _run(tmp_path, scripted.scripted_registry(momentum=peeker))
    assert seen == [np.datetime64(AS_OF, "ns")]  # the full market has bars after AS_OF
    errors = [m.payload.data for m in store.messages_by_kind("note", "c1")]
    errors = [e for e in errors if e.get("agent") == "momentum"]
    assert len(errors) == 1 and errors[0]["error"].startswith("LookAheadError")
    assert state["status"] == "completed"
