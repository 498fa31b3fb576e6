"""proposal_author: turns the cycle's proven lessons into configuration change proposals.

Only lessons whose score (the realised outcome of the decisions that cited them, from
reflection's ``lesson_scores`` note) clears ``settings.proposals.lesson_score_threshold``
are used; when none does, a ``proposal_skipped`` note says so with every score. The author
(LLM, or fixed rules offline) names a parameter and a direction only. The new value is
computed here by one fixed step (``STEP`` = 10 %) and bounded: a risk limit may never be
loosened past ``core.risk.HARD_CAPS``. Proposals are journaled as ``proposal`` notes with
their configuration key, value and the ids of the lessons they came from; when the cycle
ends they are submitted to proposal review (``workflows/proposal_service.py``), which
validates them, computes their evidence and waits for a human.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import latest_note, notes, setting
from agents.llm_judgement import (
    LlmOutput,
    constant,
    judge,
    load_prompt,
    prompt_file,
    untrusted_block,
)
from agents.reflection.lessons import lesson_id
from agents.tunables import ResearchManagerParams
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
    "research_manager.enter_threshold",
]
TIGHTEN_LOWERS: dict[str, bool] = {
    "max_position_weight": True,
    "max_gross_exposure": True,
    "max_open_positions": True,
    "daily_loss_limit": True,
    "max_order_notional": True,
    "research_manager.min_conviction": False,
    "research_manager.enter_threshold": False,
}
PARAMETER_KEYS = {  # parameter → its configuration key (workflows/config_keys.py)
    p: f"risk.{p}" if "." not in p else f"agents.{p}" for p in TIGHTEN_LOWERS
}
Change = Literal["tighten", "loosen"]
RULES: dict[str, list[tuple[str, Change]]] = {  # lesson topic → (parameter, change) offline
    "kill_switch": [("max_gross_exposure", "tighten"), ("max_position_weight", "tighten")],
    "drawdown_pressure": [("max_position_weight", "tighten")],
    "denied_agent_veto": [("research_manager.min_conviction", "tighten")],
    # the shortlist keeps producing nothing to act on: ask a little less of a call
    "no_ideas": [("research_manager.enter_threshold", "loosen")],
    "reconciliation_gap": [],
}


class ProposalItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    parameter: Parameter
    change: Change
    conviction: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(min_length=1, max_length=800)


class ProposalJudgement(LlmOutput):
    proposals: list[ProposalItem] = Field(max_length=3)


def current_value(ctx: AgentContext, parameter: str) -> float:
    if parameter.startswith("research_manager."):
        name = parameter.split(".", 1)[1]
        default = getattr(ResearchManagerParams(), name)
        return float(setting(ctx, "research_manager", name, default))
    return float(getattr(ctx.limits, parameter))


def proposed_value(parameter: str, change: str, current: float) -> float | None:
    """One step in the chosen direction, bounded; ``None`` when nothing would change."""
    lower = TIGHTEN_LOWERS[parameter] == (change == "tighten")
    value = current * (1 - STEP) if lower else current * (1 + STEP)
    if parameter == "max_open_positions":
        value = float(
            max(1, round(value) if round(value) != current else current + (-1 if lower else 1))
        )
    if parameter.startswith("research_manager."):
        value = min(max(value, 0.0), 1.0)
    elif hasattr(HARD_CAPS, parameter):
        value = min(value, float(getattr(HARD_CAPS, parameter)))  # never past the hard cap
    value = round(value, 6)  # 0.135, not 0.13499999999999998
    return None if abs(value - current) < 1e-12 else value


def offline_proposals(lessons: Sequence[dict[str, Any]]) -> ProposalJudgement:
    items: dict[str, ProposalItem] = {}
    for lesson in lessons:
        for parameter, change in RULES.get(str(lesson.get("topic")), []):
            why = "less risk" if change == "tighten" else "a lower bar for a call"
            items.setdefault(
                parameter,
                ProposalItem(
                    parameter=parameter,
                    change=change,
                    conviction=0.5 if lesson.get("severity") != "high" else 0.8,
                    rationale=f"rule: lesson {lesson.get('topic')} calls for {why}",
                ),
            )
    return ProposalJudgement(proposals=list(items.values())[:3], cited={})


def eligible_lessons(
    inbox: Sequence[Envelope], threshold: float
) -> tuple[list[dict[str, Any]], dict[str, float | None]]:
    """This cycle's lessons whose score (``lesson_scores``, as of this cycle) clears
    ``threshold``, and every one of today's lessons with its score."""
    found = latest_note(inbox, "lesson_scores")
    scored = {str(d["id"]): d.get("score") for d in (found[1].data["lessons"] if found else [])}
    today = [n.data for _, n in notes(inbox, "lesson")]
    scores: dict[str, float | None] = {
        key: scored.get(key)
        for key in (str(d.get("id") or lesson_id(str(d["topic"]))) for d in today)
    }
    keep = [
        d
        for d in today
        if (score := scores[str(d.get("id") or lesson_id(str(d["topic"])))]) is not None
        and score > threshold
    ]
    return keep, scores


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    lesson_notes = notes(inbox, "lesson")
    if not lesson_notes:
        return []
    cause = lesson_notes[-1][0].id
    threshold = float(ctx.settings.get("lesson_score_threshold", 0.0))
    lessons, scores = eligible_lessons(inbox, threshold)
    if not lessons:
        skipped = {"threshold": threshold, "scores": scores, "reason": "no lesson clears it"}
        return [ctx.message(NAME, Note(topic="proposal_skipped", data=skipped), cause)]
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
        causation_id=cause,
    )
    out = list(result.messages)
    for i, item in enumerate(result.output.proposals):
        value = proposed_value(item.parameter, item.change, current[item.parameter])
        if value is None:
            continue
        ids = sources_of(item.parameter, lessons)
        key = PARAMETER_KEYS[item.parameter]
        doc = {
            "changes": {key: value},
            "reason": f"{item.rationale} (from {', '.join(ids)})",
            "lessons": ids,
            "scores": {k: scores[k] for k in ids},
            "parameter": item.parameter,
            "change": item.change,
            "current": current[item.parameter],
            "proposed": value,
            "conviction": item.conviction,
            "source": result.source,
        }
        llm = result.usage if i == 0 else None
        out.append(ctx.message(NAME, Note(topic="proposal", data=doc), cause, llm=llm))
    return out


def sources_of(parameter: str, lessons: Sequence[dict[str, Any]]) -> list[str]:
    """The eligible lessons a proposal on ``parameter`` came from: those whose rule names
    it, else (an LLM's own pick) every eligible lesson."""
    ids = [str(d.get("id") or lesson_id(str(d["topic"]))) for d in lessons]
    topics = [str(d["topic"]) for d in lessons]
    named = [i for i, t in zip(ids, topics, strict=True) if parameter in dict(RULES.get(t, []))]
    return sorted(set(named or ids))


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.REFLECTION,
    consumes=("note",),
    produces=("note", "rejection"),
    reasoning=Reasoning.LLM,
    run=run,
    description="turns lessons into change proposals (LLM / rules offline)",
)
