"""bear_researcher: argues against the long case for each shortlisted symbol, one round at a time
(LLM; offline: the share of negative evidence). See ``agents.strategy._debate``."""

from __future__ import annotations

from collections.abc import Sequence

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.strategy._debate import run_side
from core.messages import Envelope

NAME = "bear_researcher"


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    return run_side(ctx, inbox, NAME, "bear", __file__)


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.STRATEGY,
    consumes=("note", "signal", "assessment", "tool_figures"),
    produces=("assessment", "rejection", "note"),
    reasoning=Reasoning.LLM,
    run=run,
    description="argues against it (LLM)",
)
