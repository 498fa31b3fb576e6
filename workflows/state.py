"""The daily cycle's graph state and the dependencies nodes get at run time.

The state is what the checkpointer saves after every step, so it holds only plain,
serialisable data: the A2A messages produced so far and a few routing facts. Ports
(store, broker, market data, reasoner) are not serialisable and live in ``CycleDeps``,
passed as LangGraph's run-time context; a resumed run gets fresh ports.

Only keys written by several nodes (or by fan-out tasks in one step) get a reducer.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from agents.base import AgentSpec
from core.messages import Envelope
from core.ports import Broker, MarketData, Reasoner, Store
from core.risk import RiskLimits, TradingState


class CycleState(TypedDict, total=False):
    cycle_id: str
    run_id: str  # one per start of a cycle, kept on resume: the seed of stable message ids
    as_of: str  # ISO date of the last bar agents may see
    universe: list[str]
    # Written by every node, and by parallel fan-out tasks in one step: appended.
    messages: Annotated[list[Envelope], operator.add]
    # The order nodes ran in (fan-out tasks as "desk:agent"); for progress and tests.
    steps: Annotated[list[str], operator.add]
    trading_state: str  # TradingState value
    halt_reason: str
    shortlist: list[str]
    debate_round: int
    approved: list[str]  # symbols whose trade idea passed every risk check
    status: str  # running | completed | halted
    report_path: str


class AgentTask(TypedDict):
    """What a fan-out (``Send``) task gets: one agent of a desk and the inbox so far."""

    agent: str
    desk: str
    cycle_id: str
    run_id: str
    as_of: str
    universe: list[str]
    trading_state: str
    messages: list[Envelope]


class CycleConfig(BaseModel):
    """Knobs of the cycle itself (agents' own parameters live with the agents)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    debate_rounds: int = Field(default=2, ge=0, le=10)
    shortlist_size: int = Field(default=5, ge=1, le=100)
    min_shortlist_score: float = Field(default=0.05, ge=0.0, le=1.0)
    fill_timeout_s: float = Field(default=2.0, ge=0.0)
    fill_poll_s: float = Field(default=0.05, gt=0.0)


ReportWriter = Callable[[CycleState, "CycleDeps"], Awaitable[str]]


@dataclass
class CycleDeps:
    """Run-time context of one cycle: ports and configuration, never checkpointed."""

    store: Store
    market: MarketData  # the full history; nodes wrap it in a point-in-time view
    registry: Mapping[str, AgentSpec]
    limits: RiskLimits = field(default_factory=RiskLimits)
    broker: Broker | None = None
    reasoner: Reasoner | None = None
    config: CycleConfig = field(default_factory=CycleConfig)
    restricted: frozenset[str] = frozenset()
    agent_settings: dict[str, Any] = field(default_factory=dict)
    initial_trading_state: TradingState = TradingState.ACTIVE
    # The operator's trading state at the moment of asking (kill switch included): read
    # when the cycle opens and again right before execution, so a kill switch engaged
    # mid-cycle stops the orders not yet sent.
    trading_probe: Callable[[], TradingState] | None = None
    report_writer: ReportWriter | None = None
