"""Running registry agents inside graph nodes: context, inbox, journal.

Every envelope an agent returns is journaled append-only to the Store before the node
returns it into the graph state, so the journal is never behind the checkpoint.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from agents.base import AgentContext, AgentSpec
from core.errors import ConfigurationError
from core.messages import Envelope, Note
from core.risk import TradingState
from workflows.market_view import PointInTimeMarket
from workflows.state import CycleDeps

log = logging.getLogger(__name__)

# Desks whose failure must stop the cycle (a broker call that failed must not be
# mistaken for "nothing to do"); the checkpoint lets a re-run resume at that node.
FAIL_LOUD_DESKS = frozenset({"execution"})


def make_context(
    deps: CycleDeps,
    cycle_id: str,
    as_of: str,
    universe: Sequence[str],
    trading_state: str | None = None,
) -> AgentContext:
    day = date.fromisoformat(as_of)
    return AgentContext(
        cycle_id=cycle_id,
        as_of=day,
        market=PointInTimeMarket(deps.market, day),
        store=deps.store,
        limits=deps.limits,
        universe=tuple(universe),
        broker=deps.broker,
        reasoner=deps.reasoner,
        trading_state=TradingState(trading_state or deps.initial_trading_state),
        restricted=deps.restricted,
        settings={
            "debate_rounds": deps.config.debate_rounds,
            "shortlist_size": deps.config.shortlist_size,
            "fill_timeout_s": deps.config.fill_timeout_s,
            **deps.agent_settings,
        },
    )


def spec_of(deps: CycleDeps, name: str) -> AgentSpec:
    try:
        return deps.registry[name]
    except KeyError:
        raise ConfigurationError(
            f"agent {name!r} is not in the registry; have {', '.join(sorted(deps.registry))}"
        ) from None


async def run_agent(
    deps: CycleDeps, ctx: AgentContext, name: str, inbox: Sequence[Envelope]
) -> list[Envelope]:
    """Run one agent and journal what it produced.

    An agent that raises is recorded as an ``agent_error`` note and produces nothing
    else (the risk gate treats a silent risk agent as a failed check), except on the
    execution desk, where the error propagates so the cycle stops and can be resumed.
    """
    spec = spec_of(deps, name)
    try:
        result: Any = spec.run(ctx, inbox)
        if spec.is_async or inspect.isawaitable(result):
            result = await result
        produced = list(result)
    except Exception as exc:
        if spec.desk.value in FAIL_LOUD_DESKS:
            raise
        log.exception("agent %s failed", name)
        produced = [
            ctx.message(
                sender=name,
                payload=Note(
                    topic="agent_error",
                    data={"agent": name, "error": f"{type(exc).__name__}: {exc}"[:500]},
                ),
            )
        ]
    for message in produced:
        if message.cycle_id != ctx.cycle_id:
            raise ConfigurationError(
                f"agent {name} produced a message for cycle {message.cycle_id!r}"
                f" during cycle {ctx.cycle_id!r}"
            )
        deps.store.append_message(message)
    return produced


def journal(deps: CycleDeps, messages: Sequence[Envelope]) -> list[Envelope]:
    """Journal messages the workflow itself produces (shortlist, gate decisions)."""
    for message in messages:
        deps.store.append_message(message)
    return list(messages)


def agent_errors(messages: Sequence[Envelope], agents: Sequence[str]) -> list[str]:
    """Names among ``agents`` that recorded an ``agent_error`` note."""
    failed = {
        str(m.payload.data.get("agent"))
        for m in messages
        if isinstance(m.payload, Note) and m.payload.topic == "agent_error"
    }
    return [a for a in agents if a in failed]
