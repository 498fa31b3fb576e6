"""The 22 agents of the six desks, by name. The workflow looks agents up here.

``REGISTRY`` maps each agent's name to its ``AgentSpec`` (desk, the A2A kinds it consumes
and produces, how it reasons, its ``run``). ``WORKFLOW_PRODUCES`` lists the kinds the
workflow itself journals (the ``shortlist``, ``risk_gate`` and ``cycle_*`` notes,
risk-gate rejections), so "every consumed kind has a producer" can be checked.
"""

from __future__ import annotations

from agents.base import AgentSpec, Desk
from agents.data import fundamentals, market_data, market_regime, news_sentiment
from agents.execution import execution, portfolio_manager, reconciliation
from agents.pyramiding import pyramiding, stop_manager
from agents.reflection import proposal_author, reflection
from agents.risk import compliance, drawdown_guard, portfolio_risk, risk_manager
from agents.strategy import (
    bear_researcher,
    bull_researcher,
    ma_crossover,
    mean_reversion,
    momentum,
    research_manager,
    technical_analyst,
)

_SPECS: tuple[AgentSpec, ...] = (
    market_data.SPEC,
    fundamentals.SPEC,
    news_sentiment.SPEC,
    market_regime.SPEC,
    technical_analyst.SPEC,
    momentum.SPEC,
    mean_reversion.SPEC,
    ma_crossover.SPEC,
    bull_researcher.SPEC,
    bear_researcher.SPEC,
    research_manager.SPEC,
    risk_manager.SPEC,
    drawdown_guard.SPEC,
    portfolio_risk.SPEC,
    compliance.SPEC,
    pyramiding.SPEC,
    stop_manager.SPEC,
    portfolio_manager.SPEC,
    execution.SPEC,
    reconciliation.SPEC,
    reflection.SPEC,
    proposal_author.SPEC,
)

REGISTRY: dict[str, AgentSpec] = {spec.name: spec for spec in _SPECS}

WORKFLOW_PRODUCES: frozenset[str] = frozenset({"note", "rejection"})


def by_desk() -> dict[Desk, list[AgentSpec]]:
    """The agents of each desk, in registry order."""
    desks: dict[Desk, list[AgentSpec]] = {desk: [] for desk in Desk}
    for spec in _SPECS:
        desks[spec.desk].append(spec)
    return desks


def producers(kind: str) -> list[str]:
    """Names of the agents that produce messages of ``kind``."""
    return [spec.name for spec in _SPECS if kind in spec.produces]
