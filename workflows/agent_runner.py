"""Running registry agents inside graph nodes: context, inbox, journal.

Every envelope an agent returns is journaled append-only to the Store before the node
returns it into the graph state, so the journal is never behind the checkpoint.

Message ids are made stable per run: a node that runs again after a crash (its update
was journaled but not checkpointed) produces the same ids as the first time, and the
journal (append-once by id) keeps one copy — ``quorum explain`` shows no duplicates.
"""

from __future__ import annotations

import hashlib
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


def stable_ids(messages: Sequence[Envelope], scope: str | None) -> list[Envelope]:
    """``messages`` with ids derived from ``scope`` (run id, cycle id, step, agent) and
    their position, causation links inside the batch rewritten to match; unchanged when
    there is no scope. The same step of the same run therefore always yields the same
    ids, so journaling a re-run step again is a no-op."""
    if scope is None:
        return list(messages)
    renamed = {
        m.id: hashlib.sha256(f"{scope}|{i}".encode()).hexdigest()[:32]
        for i, m in enumerate(messages)
    }
    return [
        m.model_copy(
            update={
                "id": renamed[m.id],
                "causation_id": renamed.get(m.causation_id or "", m.causation_id),
            }
        )
        for m in messages
    ]


async def run_agent(
    deps: CycleDeps,
    ctx: AgentContext,
    name: str,
    inbox: Sequence[Envelope],
    scope: str | None = None,
) -> list[Envelope]:
    """Run one agent and journal what it produced (ids made stable under ``scope``).

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
    produced = stable_ids(produced, None if scope is None else f"{scope}|{name}")
    for message in produced:
        deps.store.append_message(message)
    return produced


def journal(
    deps: CycleDeps, messages: Sequence[Envelope], scope: str | None = None
) -> list[Envelope]:
    """Journal messages the workflow itself produces (shortlist, gate decisions)."""
    stable = stable_ids(messages, scope)
    for message in stable:
        deps.store.append_message(message)
    return stable


def agent_errors(messages: Sequence[Envelope], agents: Sequence[str]) -> list[str]:
    """Names among ``agents`` that recorded an ``agent_error`` note."""
    failed = {
        str(m.payload.data.get("agent"))
        for m in messages
        if isinstance(m.payload, Note) and m.payload.topic == "agent_error"
    }
    return [a for a in agents if a in failed]
