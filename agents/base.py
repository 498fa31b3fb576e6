"""What every agent is: a named function from an inbox of A2A messages to new messages.

An agent never talks to another agent directly and never touches an adapter: it reads
the messages addressed to it (by kind), uses ports and tools from its ``AgentContext``,
and returns the messages it produces. The workflow journals them and routes them on.

    def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]

Async agents (those that await the broker) declare ``is_async=True`` and return a
coroutine. Nothing is built at import time: ports arrive through the context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from core.messages import BROADCAST, Envelope, LlmUsage
from core.ports import Broker, MarketData, Reasoner, Store
from core.risk import RiskLimits, TradingState


class Desk(StrEnum):
    DATA = "data"
    STRATEGY = "strategy"
    RISK = "risk"
    PYRAMIDING = "pyramiding"
    EXECUTION = "execution"
    REFLECTION = "reflection"


class Reasoning(StrEnum):
    DETERMINISTIC = "deterministic"
    KERNELS = "kernels"
    LLM = "llm"  # LLM with a deterministic offline judgement of the same output type


@dataclass
class AgentContext:
    """Everything an agent may use during one cycle. Built by the workflow, per cycle."""

    cycle_id: str
    as_of: date
    market: MarketData  # a point-in-time view: bars up to ``as_of`` only
    store: Store
    limits: RiskLimits
    universe: tuple[str, ...]
    broker: Broker | None = None
    reasoner: Reasoner | None = None  # None → offline judgement everywhere
    trading_state: TradingState = TradingState.ACTIVE
    restricted: frozenset[str] = frozenset()
    settings: dict[str, Any] = field(default_factory=dict)

    def message(
        self,
        sender: str,
        payload: Any,
        causation_id: str | None = None,
        recipient: str = BROADCAST,
        llm: LlmUsage | None = None,
    ) -> Envelope:
        return Envelope(
            cycle_id=self.cycle_id,
            sender=sender,
            recipient=recipient,
            payload=payload,
            causation_id=causation_id,
            llm=llm,
        )


AgentFn = Callable[[AgentContext, Sequence[Envelope]], list[Envelope]]
AsyncAgentFn = Callable[[AgentContext, Sequence[Envelope]], Awaitable[list[Envelope]]]


@dataclass(frozen=True)
class AgentSpec:
    """An agent's registry entry: who it is, what it reads and writes, how it reasons."""

    name: str
    desk: Desk
    consumes: tuple[str, ...]
    produces: tuple[str, ...]
    reasoning: Reasoning
    run: AgentFn | AsyncAgentFn
    is_async: bool = False
    description: str = ""


def inbox_of(
    messages: Sequence[Envelope], *kinds: str, recipient: str | None = None
) -> list[Envelope]:
    """Messages of the given kinds (addressed to ``recipient`` or broadcast)."""
    return [
        m
        for m in messages
        if m.kind in kinds and (recipient is None or m.recipient in (recipient, BROADCAST))
    ]
