"""The daily cycle: one LangGraph ``StateGraph``, from data to report.

    open_cycle (reconcile first) ─▶ data desk (fan-out) ─▶ data_checked
      ─▶ signals + technical view (fan-out) ─▶ shortlist
      ─▶ bull ⇄ bear × debate_rounds ─▶ research_manager
      ─▶ risk desk (fan-out) ─▶ risk_gate ─▶ pyramiding desk (fan-out) ─▶ portfolio_manager
      ─▶ execution ─▶ reconciliation ─▶ reflection ─▶ proposal_author ─▶ report

Conditional edges: a halted trading state (kill switch before the cycle, or the
drawdown guard during it) goes straight to ``report``; an empty shortlist skips the
debate; no order intent skips ``execution``. Every node runs the registry agents of its
step (``workflows.agent_runner``), journals what they produce and returns it as a partial
state update. Ports come from the run-time context (``CycleDeps``), never from state.

``build_daily_cycle()`` returns the UNCOMPILED graph; ``adapters.runtime`` compiles it
with the SQLite checkpointer.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from agents.common import book_label
from core.messages import (
    Assessment,
    Envelope,
    Note,
    OrderIntentPayload,
    Rejection,
    RiskVerdict,
    SignalPayload,
    StateChange,
    TradeIdeaPayload,
)
from core.risk import Denial, DenialCode, TradingState
from workflows.agent_runner import agent_errors, journal, make_context, run_agent
from workflows.control import most_restrictive
from workflows.state import AgentTask, CycleDeps, CycleState

WORKFLOW = "daily_cycle"  # sender of the messages the workflow itself journals

DATA_DESK = ("market_data", "fundamentals", "news_sentiment", "market_regime")
SIGNAL_AGENTS = ("momentum", "mean_reversion", "ma_crossover", "technical_analyst")
BULL, BEAR, RESEARCH_MANAGER = "bull_researcher", "bear_researcher", "research_manager"
RISK_DESK = ("risk_manager", "drawdown_guard", "portfolio_risk", "compliance")
PYRAMIDING_DESK = ("pyramiding", "stop_manager")
PORTFOLIO_MANAGER, EXECUTION, RECONCILIATION = "portfolio_manager", "execution", "reconciliation"
REFLECTION, PROPOSAL_AUTHOR = "reflection", "proposal_author"
ALL_AGENTS = (
    *DATA_DESK,
    *SIGNAL_AGENTS,
    BULL,
    BEAR,
    RESEARCH_MANAGER,
    *RISK_DESK,
    *PYRAMIDING_DESK,
    PORTFOLIO_MANAGER,
    EXECUTION,
    RECONCILIATION,
    REFLECTION,
    PROPOSAL_AUTHOR,
)

Rt = Runtime[CycleDeps]
P = TypeVar("P")


# -- helpers ---------------------------------------------------------------------------
def _ctx(state: CycleState | AgentTask, runtime: Rt) -> Any:
    return make_context(
        runtime.context,
        state["cycle_id"],
        state["as_of"],
        state["universe"],
        state.get("trading_state"),
    )


def _scope(state: CycleState | AgentTask, step: str) -> str | None:
    """Seed of the stable ids of what ``step`` journals in this run (``None`` for a
    checkpoint written before run ids existed: fresh ids then)."""
    run_id = state.get("run_id")
    return f"{run_id}|{state['cycle_id']}|{step}" if run_id else None


async def _step(
    state: CycleState, runtime: Rt, step: str, agents: Sequence[str], inbox: list[Envelope]
) -> dict[str, Any]:
    """Run ``agents`` one after another (each sees what the previous produced)."""
    ctx = _ctx(state, runtime)
    scope = _scope(state, f"{step}#{state.get('debate_round', 0)}")
    produced: list[Envelope] = []
    for name in agents:
        produced += await run_agent(runtime.context, ctx, name, [*inbox, *produced], scope)
    return {"messages": produced, "steps": [step]}


def _fan_out(state: CycleState, target: str, desk: str, agents: Sequence[str]) -> list[Send]:
    task_base = {
        "desk": desk,
        "cycle_id": state["cycle_id"],
        "run_id": state.get("run_id", ""),
        "as_of": state["as_of"],
        "universe": state["universe"],
        "trading_state": state.get("trading_state", TradingState.ACTIVE.value),
        "messages": state.get("messages", []),
    }
    return [Send(target, {**task_base, "agent": name}) for name in agents]


def _of(messages: Sequence[Envelope], payload_type: type[P]) -> list[tuple[Envelope, P]]:
    """(message, payload) pairs whose payload is a ``payload_type``, in order."""
    return [(m, m.payload) for m in messages if isinstance(m.payload, payload_type)]


def _note(
    state: CycleState, topic: str, data: dict[str, Any], cause: str | None = None
) -> Envelope:
    return Envelope(
        cycle_id=state["cycle_id"],
        sender=WORKFLOW,
        payload=Note(topic=topic, data=data),
        causation_id=cause,
    )


def _note_state(state: CycleState, trading: TradingState, reason: str) -> Envelope:
    return Envelope(
        cycle_id=state["cycle_id"],
        sender=WORKFLOW,
        payload=StateChange(state=trading, reason=reason),
    )


def _halted(state: CycleState) -> bool:
    return state.get("trading_state") == TradingState.HALTED.value


# -- nodes -----------------------------------------------------------------------------
async def open_cycle(state: CycleState, runtime: Rt) -> dict[str, Any]:
    """Start the cycle and reconcile first: fills that arrived since the last cycle (the
    paper broker's next-open fills, or a live broker's overnight ones) reach the agents'
    book before anyone sizes a trade on it."""
    deps = runtime.context
    trading = TradingState(state.get("trading_state") or deps.initial_trading_state)
    if deps.trading_probe is not None:
        trading = most_restrictive(trading, deps.trading_probe())
    started = _note(
        state,
        "cycle_started",
        {"as_of": state["as_of"], "universe": list(state["universe"]), "trading": trading.value},
    )
    (started,) = journal(deps, [started], _scope(state, "open_cycle"))
    ctx = _ctx(state, runtime)
    label = book_label(ctx)
    before = deps.store.latest_snapshot(label)
    reconciled = await run_agent(
        deps, ctx, RECONCILIATION, [started], _scope(state, "open_cycle:reconcile")
    )
    after = deps.store.latest_snapshot(label)
    if before is not None and after is not None and after != before:
        # The reconciliation agent resets the daily-loss reference as it closes a day;
        # at the open the reference must stay yesterday's close, or today's loss reads 0.
        kept = after.model_copy(update={"day_start_equity": before.day_start_equity})
        deps.store.save_snapshot(kept, label)
    update: dict[str, Any] = {
        "messages": [started, *reconciled],
        "steps": ["open_cycle"],
        "trading_state": trading.value,
        "status": "running",
        "debate_round": 0,
    }
    if trading is TradingState.HALTED:
        update["halt_reason"] = "trading halted before the cycle started"
    return update


async def desk_agent(task: AgentTask, runtime: Rt) -> dict[str, Any]:
    """One agent of a fan-out step; its output joins the others through the reducer."""
    ctx = _ctx(task, runtime)
    step = f"{task['desk']}:{task['agent']}"
    produced = await run_agent(
        runtime.context, ctx, task["agent"], task["messages"], _scope(task, step)
    )
    return {"messages": produced, "steps": [step]}


async def data_checked(state: CycleState, runtime: Rt) -> dict[str, Any]:
    failed = agent_errors(state.get("messages", []), DATA_DESK)
    notes = [_note(state, "data_desk_failed", {"agents": failed})] if failed else []
    notes = journal(runtime.context, notes, _scope(state, "data_checked"))
    return {"messages": notes, "steps": ["data_checked"]}


async def shortlist(state: CycleState, runtime: Rt) -> dict[str, Any]:
    """Rank symbols by the strength of agreeing signals and the technical view; keep the
    strongest few. Only the shortlist reaches the (LLM) debate, which bounds LLM calls by
    the shortlist size, not by the universe."""
    cfg = runtime.context.config
    messages = state.get("messages", [])
    universe = set(state["universe"])
    scores: dict[str, float] = defaultdict(float)
    causes: dict[str, tuple[float, str]] = {}
    for m in messages:
        symbol, score = None, 0.0
        if isinstance(m.payload, SignalPayload):
            symbol, score = m.payload.signal.symbol, m.payload.signal.strength
        elif isinstance(m.payload, Assessment) and m.payload.topic == "technical":
            symbol, score = m.payload.symbol, m.payload.score
        if symbol is None or symbol not in universe:
            continue
        scores[symbol] += score
        if abs(score) > causes.get(symbol, (-1.0, ""))[0]:
            causes[symbol] = (abs(score), m.id)
    ranked = sorted(
        (s for s, v in scores.items() if abs(v) >= cfg.min_shortlist_score),
        key=lambda s: (-abs(scores[s]), s),
    )[: cfg.shortlist_size]
    note = _note(
        state,
        "shortlist",
        {"symbols": ranked, "scores": {s: round(scores[s], 6) for s in ranked}},
        cause=causes[ranked[0]][1] if ranked else None,
    )
    return {
        "messages": journal(runtime.context, [note], _scope(state, "shortlist")),
        "steps": ["shortlist"],
        "shortlist": ranked,
    }


async def bull(state: CycleState, runtime: Rt) -> dict[str, Any]:
    return await _step(state, runtime, "bull", [BULL], state.get("messages", []))


async def bear(state: CycleState, runtime: Rt) -> dict[str, Any]:
    update = await _step(state, runtime, "bear", [BEAR], state.get("messages", []))
    return {**update, "debate_round": state.get("debate_round", 0) + 1}


async def research_manager(state: CycleState, runtime: Rt) -> dict[str, Any]:
    return await _step(state, runtime, "research_manager", [RESEARCH_MANAGER], state["messages"])


async def risk_gate(state: CycleState, runtime: Rt) -> dict[str, Any]:
    """All risk checks must pass: an idea goes on only with at least one approving verdict,
    no denying verdict, and no risk agent failed. The drawdown guard can halt."""
    messages = state.get("messages", [])
    trading = TradingState(state.get("trading_state", TradingState.ACTIVE.value))
    halt_reason = state.get("halt_reason", "")
    for _, change in _of(messages, StateChange):
        trading, halt_reason = change.state, change.reason  # the latest change wins
    failed = agent_errors(messages, RISK_DESK)
    verdicts: dict[str, list[RiskVerdict]] = defaultdict(list)
    for _, verdict in _of(messages, RiskVerdict):
        verdicts[verdict.symbol].append(verdict)
    approved: list[str] = []
    produced: list[Envelope] = []
    for m, idea in _of(messages, TradeIdeaPayload):
        symbol = idea.idea.symbol
        checks = verdicts.get(symbol, [])
        if checks and all(v.approved for v in checks) and not failed:
            approved.append(symbol)
        elif not any(not v.approved for v in checks):  # refused without a denial: say why
            reason = "risk agent failed: " + ",".join(failed) if failed else "no risk verdict"
            denial = Denial(code=DenialCode.AGENT_VETO, context={"symbol": symbol})
            produced.append(
                m.reply(WORKFLOW, Rejection(source="risk_gate", denial=denial, detail=reason))
            )
    gate = _note(
        state,
        "risk_gate",
        {"approved": sorted(set(approved)), "trading": trading.value, "failed": failed},
    )
    update: dict[str, Any] = {
        "messages": journal(runtime.context, [*produced, gate], _scope(state, "risk_gate")),
        "steps": ["risk_gate"],
        "approved": sorted(set(approved)),
        "trading_state": trading.value,
    }
    if trading is TradingState.HALTED:
        update["halt_reason"] = halt_reason or "halted by the risk desk"
    return update


def _gated_inbox(state: CycleState) -> list[Envelope]:
    """The portfolio manager's inbox: trade ideas that did not pass the gate are removed."""
    approved = set(state.get("approved", []))
    return [
        m
        for m in state.get("messages", [])
        if not isinstance(m.payload, TradeIdeaPayload) or m.payload.idea.symbol in approved
    ]


async def portfolio_manager(state: CycleState, runtime: Rt) -> dict[str, Any]:
    return await _step(
        state, runtime, "portfolio_manager", [PORTFOLIO_MANAGER], _gated_inbox(state)
    )


async def execution(state: CycleState, runtime: Rt) -> dict[str, Any]:
    """Place the intents through the Broker port. Intents carry ``client_ref`` = cycle id +
    intent hash, and the broker returns the existing order for a ref it has seen, so a
    re-run of this node after a crash never sends an order twice. The operator's state is
    read once more here: a kill switch engaged since the cycle opened halts the desk, and
    the execution agent then refuses every intent with ``TRADING_HALTED``."""
    probe = runtime.context.trading_probe
    live = probe() if probe is not None else None
    if live is TradingState.HALTED and not _halted(state):
        reason = "kill switch or halt engaged during the cycle"
        (change,) = journal(
            runtime.context, [_note_state(state, live, reason)], _scope(state, "execution:halt")
        )
        halted: CycleState = {**state, "trading_state": live.value}
        update = await _step(halted, runtime, "execution", [EXECUTION], state["messages"])
        return {
            **update,
            "messages": [change, *update["messages"]],
            "trading_state": live.value,
            "halt_reason": reason,
        }
    return await _step(state, runtime, "execution", [EXECUTION], state["messages"])


async def reconciliation(state: CycleState, runtime: Rt) -> dict[str, Any]:
    """Wait (bounded) for this cycle's orders to fill, then reconcile with the broker."""
    deps = runtime.context
    refs = {p.client_ref for _, p in _of(state.get("messages", []), OrderIntentPayload)}
    if deps.broker is not None and refs:
        deadline = time.monotonic() + deps.config.fill_timeout_s
        while time.monotonic() < deadline:
            open_refs = {o.client_ref for o in await deps.broker.open_orders()}
            if not refs & open_refs:
                break
            await asyncio.sleep(deps.config.fill_poll_s)
    return await _step(state, runtime, "reconciliation", [RECONCILIATION], state["messages"])


async def reflection(state: CycleState, runtime: Rt) -> dict[str, Any]:
    return await _step(state, runtime, "reflection", [REFLECTION], state["messages"])


async def proposal_author(state: CycleState, runtime: Rt) -> dict[str, Any]:
    return await _step(state, runtime, "proposal_author", [PROPOSAL_AUTHOR], state["messages"])


async def report(state: CycleState, runtime: Rt) -> dict[str, Any]:
    deps = runtime.context
    status = "halted" if _halted(state) else "completed"
    path = await deps.report_writer({**state, "status": status}, deps) if deps.report_writer else ""
    data: dict[str, Any] = {"status": status, "path": path}
    if state.get("halt_reason"):
        data["halt_reason"] = state["halt_reason"]
    note = _note(state, "cycle_report", data)
    return {
        "messages": journal(deps, [note], _scope(state, "report")),
        "steps": ["report"],
        "status": status,
        "report_path": path,
    }


# -- routing ---------------------------------------------------------------------------
def route_open(state: CycleState) -> list[Send] | str:
    return "report" if _halted(state) else _fan_out(state, "data_agent", "data", DATA_DESK)


def route_signals(state: CycleState) -> list[Send]:
    return _fan_out(state, "strategy_agent", "strategy", SIGNAL_AGENTS)


def route_shortlist(state: CycleState, runtime: Rt) -> list[Send] | str:
    if not state.get("shortlist"):
        return _fan_out(state, "risk_agent", "risk", RISK_DESK)
    return "bull" if runtime.context.config.debate_rounds > 0 else "research_manager"


def route_debate(state: CycleState, runtime: Rt) -> str:
    more = state.get("debate_round", 0) < runtime.context.config.debate_rounds
    return "bull" if more else "research_manager"


def route_risk(state: CycleState) -> list[Send]:
    return _fan_out(state, "risk_agent", "risk", RISK_DESK)


def route_gate(state: CycleState) -> list[Send] | str:
    if _halted(state):
        return "report"
    return _fan_out(state, "pyramiding_agent", "pyramiding", PYRAMIDING_DESK)


def route_intents(state: CycleState) -> str:
    has_intents = any(isinstance(m.payload, OrderIntentPayload) for m in state.get("messages", []))
    return "execution" if has_intents else "reconciliation"


def build_daily_cycle() -> StateGraph[CycleState, CycleDeps, CycleState, CycleState]:
    """The daily cycle graph, uncompiled."""
    g: StateGraph[CycleState, CycleDeps, CycleState, CycleState] = StateGraph(
        CycleState, context_schema=CycleDeps
    )
    g.add_node("open_cycle", open_cycle)
    g.add_node("data_agent", desk_agent)  # type: ignore[call-overload]  # Send input
    g.add_node("data_checked", data_checked)
    g.add_node("strategy_agent", desk_agent)  # type: ignore[call-overload]  # Send input
    g.add_node("shortlist", shortlist)
    g.add_node("bull", bull)
    g.add_node("bear", bear)
    g.add_node("research_manager", research_manager)
    g.add_node("risk_agent", desk_agent)  # type: ignore[call-overload]  # Send input
    g.add_node("risk_gate", risk_gate)
    g.add_node("pyramiding_agent", desk_agent)  # type: ignore[call-overload]  # Send input
    g.add_node("portfolio_manager", portfolio_manager)
    g.add_node("execution", execution)
    g.add_node("reconciliation", reconciliation)
    g.add_node("reflection", reflection)
    g.add_node("proposal_author", proposal_author)
    g.add_node("report", report)

    g.add_edge(START, "open_cycle")
    g.add_conditional_edges("open_cycle", route_open, ["data_agent", "report"])
    g.add_edge("data_agent", "data_checked")
    g.add_conditional_edges("data_checked", route_signals, ["strategy_agent"])
    g.add_edge("strategy_agent", "shortlist")
    g.add_conditional_edges(
        "shortlist", route_shortlist, ["bull", "research_manager", "risk_agent"]
    )
    g.add_edge("bull", "bear")
    g.add_conditional_edges("bear", route_debate, ["bull", "research_manager"])
    g.add_conditional_edges("research_manager", route_risk, ["risk_agent"])
    g.add_edge("risk_agent", "risk_gate")
    g.add_conditional_edges("risk_gate", route_gate, ["pyramiding_agent", "report"])
    g.add_edge("pyramiding_agent", "portfolio_manager")
    g.add_conditional_edges("portfolio_manager", route_intents, ["execution", "reconciliation"])
    g.add_edge("execution", "reconciliation")
    g.add_edge("reconciliation", "reflection")
    g.add_edge("reflection", "proposal_author")
    g.add_edge("proposal_author", "report")
    g.add_edge("report", END)
    return g
