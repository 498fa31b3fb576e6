"""proposal_author: turns the cycle's lessons into parameter change proposals.

The author (LLM, or fixed rules offline) names a parameter and a direction only. The new
value is computed here by one fixed step (``STEP`` = 10 %) and bounded: a risk limit may
never be loosened past ``core.risk.HARD_CAPS``. Proposals are journaled as ``proposal``
notes and stored, status ``pending``, in the ``proposals`` collection; the proposal review
workflow backtests them and a human approves or rejects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import notes, setting
from agents.llm_judgement import (
    LlmOutput,
    constant,
    judge,
    load_prompt,
    prompt_file,
    untrusted_block,
)
from core.messages import Envelope, Note
from core.risk import HARD_CAPS

NAME = "proposal_author"
STEP = 0.10

# parameter → (where it lives, whether "tighten" lowers it)
Parameter = Literal[
    "max_position_weight",
    "max_gross_exposure",
    "max_open_positions",
    "daily_loss_limit",
    "max_order_notional",
    "research_manager.min_conviction",
]
TIGHTEN_LOWERS: dict[str, bool] = {
    "max_position_weight": True,
    "max_gross_exposure": True,
    "max_open_positions": True,
    "daily_loss_limit": True,
    "max_order_notional": True,
    "research_manager.min_conviction": False,
}
RULES: dict[str, list[str]] = {  # lesson topic → parameters to tighten (offline)
    "kill_switch": ["max_gross_exposure", "max_position_weight"],
    "drawdown_pressure": ["max_position_weight"],
    "denied_agent_veto": ["research_manager.min_conviction"],
    "reconciliation_gap": [],
}


class ProposalItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    parameter: Parameter
    change: Literal["tighten", "loosen"]
    conviction: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(min_length=1, max_length=800)


class ProposalJudgement(LlmOutput):
    proposals: list[ProposalItem] = Field(max_length=3)


def current_value(ctx: AgentContext, parameter: str) -> float:
    if parameter == "research_manager.min_conviction":
        return float(setting(ctx, "research_manager", "min_conviction", 0.2))
    return float(getattr(ctx.limits, parameter))


def proposed_value(parameter: str, change: str, current: float) -> float | None:
    """One step in the chosen direction, bounded; ``None`` when nothing would change."""
    lower = TIGHTEN_LOWERS[parameter] == (change == "tighten")
    value = current * (1 - STEP) if lower else current * (1 + STEP)
    if parameter == "max_open_positions":
        value = float(
            max(1, round(value) if round(value) != current else current + (-1 if lower else 1))
        )
    if parameter == "research_manager.min_conviction":
        value = min(max(value, 0.0), 1.0)
    elif hasattr(HARD_CAPS, parameter):
        value = min(value, float(getattr(HARD_CAPS, parameter)))  # never past the hard cap
    return None if abs(value - current) < 1e-12 else value


def offline_proposals(lessons: Sequence[dict[str, Any]]) -> ProposalJudgement:
    items: dict[str, ProposalItem] = {}
    for lesson in lessons:
        for parameter in RULES.get(str(lesson.get("topic")), []):
            items.setdefault(
                parameter,
                ProposalItem(
                    parameter=parameter,
                    change="tighten",
                    conviction=0.5 if lesson.get("severity") != "high" else 0.8,
                    rationale=f"rule: lesson {lesson.get('topic')} calls for less risk",
                ),
            )
    return ProposalJudgement(proposals=list(items.values())[:3], cited={})


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    lesson_notes = notes(inbox, "lesson")
    if not lesson_notes:
        return []
    lessons = [n.data for _, n in lesson_notes]
    parameters = list(TIGHTEN_LOWERS)
    current = {p: current_value(ctx, p) for p in parameters}
    result = judge(
        ctx,
        agent=NAME,
        prompt=load_prompt(prompt_file(__file__, NAME)),
        variables={
            "parameters": ", ".join(parameters),
            "lessons": "\n".join(
                untrusted_block(
                    f"lesson:{d.get('topic')}",
                    f"{d.get('topic')} ({d.get('severity')}): {d.get('lesson')}",
                )
                for d in lessons
            ),
        },
        schema=ProposalJudgement,
        facts={f"current.{p}": v for p, v in current.items()},
        offline=constant(offline_proposals(lessons)),
        symbols=["current"],
        causation_id=lesson_notes[-1][0].id,
    )
    out = list(result.messages)
    for i, item in enumerate(result.output.proposals):
        value = proposed_value(item.parameter, item.change, current[item.parameter])
        if value is None:
            continue
        key = f"{ctx.cycle_id}:{item.parameter}"
        doc = {
            "id": key,
            "cycle_id": ctx.cycle_id,
            "as_of": ctx.as_of.isoformat(),
            "parameter": item.parameter,
            "change": item.change,
            "current": current[item.parameter],
            "proposed": value,
            "conviction": item.conviction,
            "rationale": item.rationale,
            "evidence": [env.id for env, _ in lesson_notes],
            "source": result.source,
            "status": "pending",
        }
        ctx.store.put_document("proposals", key, doc)
        out.append(
            ctx.message(
                NAME,
                Note(topic="proposal", data=doc),
                causation_id=lesson_notes[-1][0].id,
                llm=result.usage if i == 0 else None,
            )
        )
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.REFLECTION,
    consumes=("note",),
    produces=("note", "rejection"),
    reasoning=Reasoning.LLM,
    run=run,
    description="turns lessons into change proposals (LLM / rules offline)",
)
