"""reflection: a post-cycle review — statistics of the cycle, and lessons kept in memory.

Statistics are counted from the cycle's messages (ideas, verdicts and their denial codes,
LLM rejections and fallbacks, intents, orders, fills, state changes, the reconciled
equity). Offline, fixed rules turn them into lessons; with a reasoner the LLM writes the
lessons (same ``ReflectionJudgement`` type, validated). Lessons are journaled as
``lesson`` notes and stored in the ``lessons`` document collection, one occurrence per
cycle, under a stable id per topic (``agents/reflection/lessons.py``); a ``lesson_scores``
note then gives every earlier lesson's score as of this cycle (the realised outcome of
the decisions that cited it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import latest_note, notes, payloads, trade_ideas
from agents.llm_judgement import LlmOutput, constant, judge, load_prompt, prompt_file
from agents.reflection.lessons import lesson_id, ranked, score_lessons, visible_lessons
from core.messages import (
    Envelope,
    FillPayload,
    Note,
    OrderIntentPayload,
    OrderUpdate,
    Rejection,
    RiskVerdict,
    StateChange,
    ToolFigures,
)
from core.risk import DenialCode, TradingState

NAME = "reflection"


class Lesson(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(pattern=r"^[a-z][a-z0-9_]{0,48}$")
    lesson: str = Field(min_length=1, max_length=600)
    severity: Literal["low", "medium", "high"]


class ReflectionJudgement(LlmOutput):
    lessons: list[Lesson] = Field(max_length=5)


def cycle_stats(inbox: Sequence[Envelope]) -> dict[str, Any]:
    denials = Counter(
        p.denial.code.value for _, p in payloads(inbox, RiskVerdict) if p.denial is not None
    )
    llm_rejections = Counter(
        str(p.denial.context.get("reason", "?"))
        for _, p in payloads(inbox, Rejection)
        if p.denial.code is DenialCode.LLM_OUTPUT_REJECTED
    )
    order_rejections = Counter(
        p.denial.code.value
        for _, p in payloads(inbox, Rejection)
        if p.denial.code is not DenialCode.LLM_OUTPUT_REJECTED
    )
    statuses: dict[str, str] = {}
    for _, u in payloads(inbox, OrderUpdate):
        statuses[u.order.order_id] = u.order.status.value
    gate = latest_note(inbox, "risk_gate")
    recon = latest_note(inbox, "reconciliation")
    drawdown = [p for _, p in payloads(inbox, ToolFigures) if p.tool == "drawdown"]
    return {
        "ideas": len(trade_ideas(inbox)),
        "approved": len(gate[1].data.get("approved", [])) if gate else 0,
        "denials": dict(denials),
        "llm_rejections": dict(llm_rejections),
        "order_rejections": dict(order_rejections),
        "llm_fallbacks": len(notes(inbox, "llm_fallback")),
        "intents": len(payloads(inbox, OrderIntentPayload)),
        "orders": dict(Counter(statuses.values())),
        "fills": len(payloads(inbox, FillPayload)),
        "halted": any(p.state is TradingState.HALTED for _, p in payloads(inbox, StateChange)),
        "equity": float(recon[1].data.get("equity", 0.0)) if recon else None,
        "discrepancies": len(recon[1].data.get("discrepancies", [])) if recon else 0,
        "drawdown": drawdown[-1].figures.get("drawdown") if drawdown else None,
        "drawdown_limit": drawdown[-1].figures.get("max_drawdown_limit") if drawdown else None,
    }


def stat_facts(stats: dict[str, Any]) -> dict[str, float]:
    facts = {
        f"cycle.{k}": float(v)
        for k, v in stats.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and v is not None
    }
    facts.update({f"cycle.denied_{k.lower()}": float(v) for k, v in stats["denials"].items()})
    facts["cycle.llm_rejected"] = float(sum(stats["llm_rejections"].values()))
    return facts


def offline_lessons(stats: dict[str, Any]) -> ReflectionJudgement:
    lessons: list[Lesson] = []
    if stats["halted"]:
        lessons.append(
            Lesson(topic="kill_switch", lesson="the drawdown guard halted trading", severity="high")
        )
    dd, limit = stats.get("drawdown"), stats.get("drawdown_limit")
    if dd is not None and limit and dd >= 0.5 * limit and not stats["halted"]:
        lessons.append(
            Lesson(
                topic="drawdown_pressure",
                lesson="drawdown is above half of the kill-switch level",
                severity="medium",
            )
        )
    for code, count in sorted(stats["denials"].items()):
        lessons.append(
            Lesson(
                topic=f"denied_{code.lower()}",
                lesson=f"{count} idea(s) denied by {code}",
                severity="low",
            )
        )
    if stats["llm_rejections"]:
        reasons = ", ".join(sorted(stats["llm_rejections"]))
        lessons.append(
            Lesson(
                topic="llm_rejections",
                lesson=f"LLM outputs rejected ({reasons}); offline judgement used",
                severity="medium",
            )
        )
    if stats["intents"] and not stats["fills"]:
        lessons.append(
            Lesson(
                topic="orders_unfilled",
                lesson="orders were sent but nothing filled yet",
                severity="low",
            )
        )
    if stats["discrepancies"]:
        lessons.append(
            Lesson(
                topic="reconciliation_gap",
                lesson="the book and the broker disagreed",
                severity="high",
            )
        )
    if not stats["ideas"]:
        lessons.append(
            Lesson(
                topic="no_ideas",
                lesson="no actionable idea came out of the shortlist",
                severity="low",
            )
        )
    return ReflectionJudgement(lessons=lessons[:5], cited={})


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    stats = cycle_stats(inbox)
    offline = offline_lessons(stats)
    summary = {k: v for k, v in stats.items() if k not in ("drawdown", "drawdown_limit", "equity")}
    result = judge(
        ctx,
        agent=NAME,
        prompt=load_prompt(prompt_file(__file__, NAME)),
        variables={
            "cycle_id": ctx.cycle_id,
            "as_of": ctx.as_of.isoformat(),
            "summary": ", ".join(f"{k}: {v}" for k, v in summary.items()),
            "offline": "; ".join(f"{x.topic}: {x.lesson}" for x in offline.lessons) or "none",
        },
        schema=ReflectionJudgement,
        facts=stat_facts(stats),
        offline=constant(offline),
        symbols=["cycle"],
    )
    out = list(result.messages)
    for i, lesson in enumerate(result.output.lessons):
        doc = {
            "id": lesson_id(lesson.topic),
            "cycle_id": ctx.cycle_id,
            "as_of": ctx.as_of.isoformat(),
            "source": result.source,
            **lesson.model_dump(),
        }
        ctx.store.put_document("lessons", f"{ctx.cycle_id}:{i}", doc)
        out.append(
            ctx.message(NAME, Note(topic="lesson", data=doc), llm=result.usage if i == 0 else None)
        )
    out.append(ctx.message(NAME, Note(topic="cycle_stats", data=stats)))
    # The memory as of this cycle: every earlier lesson and the realised outcome of the
    # decisions that cited it (what proposal_author weighs, what `explain` can show).
    scored = score_lessons(ctx, visible_lessons(ctx))
    data = {"lessons": [x.as_dict() for x in ranked(list(scored.values()))]}
    out.append(ctx.message(NAME, Note(topic="lesson_scores", data=data)))
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.REFLECTION,
    consumes=(
        "trade_idea",
        "risk_verdict",
        "rejection",
        "order_intent",
        "order_update",
        "fill",
        "state_change",
        "note",
        "tool_figures",
    ),
    produces=("note", "rejection"),
    reasoning=Reasoning.LLM,
    run=run,
    description="post-cycle review; lessons into memory (LLM / stats offline)",
)
