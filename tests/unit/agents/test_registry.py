from __future__ import annotations

import inspect

from agents.base import AgentSpec, Desk, Reasoning
from agents.registry import REGISTRY, WORKFLOW_PRODUCES, by_desk, producers
from core.messages import Payload

DESIGN_AGENTS = {
    Desk.DATA: {"market_data", "fundamentals", "news_sentiment", "market_regime"},
    Desk.STRATEGY: {
        "technical_analyst",
        "momentum",
        "mean_reversion",
        "ma_crossover",
        "bull_researcher",
        "bear_researcher",
        "research_manager",
    },
    Desk.RISK: {"risk_manager", "drawdown_guard", "portfolio_risk", "compliance"},
    Desk.PYRAMIDING: {"pyramiding", "stop_manager"},
    Desk.EXECUTION: {"portfolio_manager", "execution", "reconciliation"},
    Desk.REFLECTION: {"reflection", "proposal_author"},
}
PAYLOAD_KINDS = {t.model_fields["kind"].default for t in Payload.__origin__.__args__}  # type: ignore[attr-defined]


def test_registry_when_loaded_then_has_exactly_the_22_design_agents_by_desk() -> None:
    assert len(REGISTRY) == 22
    assert {d: {s.name for s in specs} for d, specs in by_desk().items()} == DESIGN_AGENTS
    assert all(isinstance(s, AgentSpec) and name == s.name for name, s in REGISTRY.items())


def test_registry_when_checked_then_every_kind_is_a_payload_kind() -> None:
    for spec in REGISTRY.values():
        assert set(spec.consumes) <= PAYLOAD_KINDS, spec.name
        assert set(spec.produces) <= PAYLOAD_KINDS, spec.name
        assert spec.produces, spec.name


def test_registry_when_checked_then_every_consumed_kind_has_a_producer() -> None:
    produced = {k for s in REGISTRY.values() for k in s.produces} | WORKFLOW_PRODUCES
    for spec in REGISTRY.values():
        missing = set(spec.consumes) - produced
        assert not missing, f"{spec.name} consumes {missing} that nobody produces"
    assert producers("order_intent") == ["portfolio_manager"]
    assert producers("order_update") == ["execution", "reconciliation"]


def test_registry_when_checked_then_only_execution_desk_agents_await_the_broker() -> None:
    for spec in REGISTRY.values():
        assert spec.is_async == inspect.iscoroutinefunction(spec.run), spec.name
    assert {s.name for s in REGISTRY.values() if s.is_async} == {"execution", "reconciliation"}


def test_registry_when_checked_then_llm_agents_ship_a_versioned_prompt_file() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "agents"
    llm_agents = {s.name for s in REGISTRY.values() if s.reasoning is Reasoning.LLM}
    assert llm_agents == {
        "news_sentiment",
        "technical_analyst",
        "bull_researcher",
        "bear_researcher",
        "research_manager",
        "reflection",
        "proposal_author",
    }
    prompts = {p.name.removesuffix(".v1.md") for p in root.glob("*/prompts/*.v1.md")}
    assert llm_agents | {"market_regime", "portfolio_manager"} <= prompts
