"""research_manager: judges the debate on each shortlisted symbol and emits trade ideas.

Offline rule: ``net = 0.4·(bull − bear) + 0.3·mean(signal strengths) + 0.2·technical
+ 0.1·sentiment + 0.1·fundamentals + 0.1·regime`` (each in [-1, 1]); LONG above
``enter_threshold``, SHORT below its negative when ``allow_short`` (else FLAT), conviction
``min(1, 1.5·|net|)``. The LLM decides the same ``ResearchDecision`` type.

Memory: the manager reads the top-scored lessons of earlier cycles
(``agents/reflection/lessons.py``) and cites their ids in every trade idea and decision
note (``quorum explain`` shows them). Offline, each medium or high lesson about drawdown,
a halt or a daily loss scales conviction by ``CAUTION_STEP``; the LLM sees the lessons in
its prompt (as untrusted text).

A decision becomes a ``trade_idea`` only when it changes something: a LONG (or SHORT)
with enough conviction for a symbol not yet held that way, or a FLAT/opposite decision
for a held position (an exit). Otherwise a ``research_decision`` note says why not.
Trade ideas carry no quantity or price; the risk desk sizes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import (
    assessments,
    current_portfolio,
    setting,
    shortlist_of,
    signals_for,
    symbol_facts,
)
from agents.llm_judgement import (
    LlmOutput,
    constant,
    judge,
    load_prompt,
    prompt_file,
    untrusted_block,
)
from agents.reflection.lessons import Lesson, top_lessons
from agents.strategy._debate import describe, evidence
from agents.tunables import ResearchManagerParams
from core.messages import Envelope, Note, TradeIdeaPayload
from core.signals import Direction, TradeIdea

NAME = "research_manager"
DEFAULTS = ResearchManagerParams()
CAUTION_TOPICS = frozenset(
    {"kill_switch", "drawdown_pressure", "denied_max_drawdown_breached", "denied_daily_loss_limit"}
)
CAUTION_STEP = 0.85


class ResearchDecision(LlmOutput):
    symbol: str
    direction: Direction
    conviction: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(min_length=1, max_length=1500)


def _last_score(inbox: Sequence[Envelope], topic: str, symbol: str | None = None) -> float:
    found = assessments(inbox, topic, symbol)
    return found[-1][1].score if found else 0.0


def net_score(inbox: Sequence[Envelope], symbol: str) -> float:
    bull = abs(_last_score(inbox, "bull_case", symbol))
    bear = abs(_last_score(inbox, "bear_case", symbol))
    strengths = [p.signal.strength for _, p in signals_for(inbox, symbol)]
    net = (
        0.4 * (bull - bear)
        + 0.3 * (float(np.mean(strengths)) if strengths else 0.0)
        + 0.2 * _last_score(inbox, "technical", symbol)
        + 0.1 * _last_score(inbox, "sentiment", symbol)
        + 0.1 * _last_score(inbox, "fundamentals", symbol)
        + 0.1 * _last_score(inbox, "regime")
    )
    return float(np.clip(net, -1.0, 1.0))


def caution(lessons: Sequence[Lesson]) -> float:
    """The conviction multiplier the cited lessons call for: ``CAUTION_STEP`` per medium or
    high lesson about drawdown, a halt or a daily loss (one that lost money still counts:
    caution is not a bet)."""
    n = sum(1 for x in lessons if x.topic in CAUTION_TOPICS and x.severity != "low")
    return float(CAUTION_STEP**n)


def lessons_block(lessons: Sequence[Lesson]) -> str:
    if not lessons:
        return "(none yet)"
    label = {True: "proven", False: "lost"}
    lines = [
        f"{x.id} ({x.severity}, {'unproven' if x.score is None else label[x.score > 0]}): {x.text}"
        for x in lessons
    ]
    return untrusted_block("lessons", "\n".join(lines))


def offline_decision(
    symbol: str, net: float, threshold: float, allow_short: bool, damping: float = 1.0
) -> ResearchDecision:
    if net > threshold:
        direction = Direction.LONG
    elif net < -threshold and allow_short:
        direction = Direction.SHORT
    else:
        direction = Direction.FLAT
    return ResearchDecision(
        symbol=symbol,
        direction=direction,
        conviction=min(1.0, 1.5 * abs(net)) * damping,
        rationale=f"rules: debate and evidence net {'positive' if net > 0 else 'negative'}",
        cited={},
    )


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    threshold = float(setting(ctx, NAME, "enter_threshold", DEFAULTS.enter_threshold))
    min_conviction = float(setting(ctx, NAME, "min_conviction", DEFAULTS.min_conviction))
    allow_short = bool(setting(ctx, NAME, "allow_short", False))
    symbols, shortlist_id = shortlist_of(inbox)
    book = current_portfolio(ctx)
    prompt = load_prompt(prompt_file(__file__, NAME, version=2))
    memory = top_lessons(ctx) if symbols else []
    cited = tuple(x.id for x in memory)
    damping = caution(memory)
    out: list[Envelope] = []
    for symbol in symbols:
        held = book.quantity(symbol)
        net = net_score(inbox, symbol)
        bulls = assessments(inbox, "bull_case", symbol)
        bears = assessments(inbox, "bear_case", symbol)
        offline = offline_decision(symbol, net, threshold, allow_short, damping)
        cause = (bears or bulls)[-1][0].id if (bears or bulls) else shortlist_id
        result = judge(
            ctx,
            agent=NAME,
            prompt=prompt,
            variables={
                "symbol": symbol,
                "holding": "long" if held > 0 else "short" if held < 0 else "none",
                "evidence": describe(evidence(inbox, symbol)),
                "reading": f"{offline.direction.value} ({offline.rationale})",
                "bull": untrusted_block("bull_argument", bulls[-1][1].text if bulls else "(none)"),
                "bear": untrusted_block("bear_argument", bears[-1][1].text if bears else "(none)"),
                "lessons": lessons_block(memory),
            },
            schema=ResearchDecision,
            facts=symbol_facts(inbox, symbol),
            offline=constant(offline),
            symbols=[symbol],
            causation_id=cause,
        )
        out += result.messages
        decision = result.output
        if decision.direction is Direction.SHORT and not allow_short:
            decision = decision.model_copy(update={"direction": Direction.FLAT})
        wanted = {Direction.LONG: 1, Direction.SHORT: -1, Direction.FLAT: 0}[decision.direction]
        held_sign = int(np.sign(held))
        is_exit = held_sign not in (0, wanted)
        is_entry = wanted not in (0, held_sign) and decision.conviction >= min_conviction
        if is_exit and not is_entry:
            decision = decision.model_copy(update={"direction": Direction.FLAT})
        if is_exit or is_entry:
            sources = tuple(m.id for m, _ in (*bulls[-1:], *bears[-1:])) + tuple(
                m.id for m, _ in signals_for(inbox, symbol)
            )
            idea = TradeIdea(
                symbol=symbol,
                direction=decision.direction,
                conviction=decision.conviction,
                rationale=f"[{result.source}] {decision.rationale}",
                sources=sources,
                lessons=cited,
            )
            out.append(
                ctx.message(NAME, TradeIdeaPayload(idea=idea), causation_id=cause, llm=result.usage)
            )
        else:
            reason = (
                "already held"
                if held_sign == wanted != 0
                else ("flat decision" if wanted == 0 else "conviction below minimum")
            )
            out.append(
                ctx.message(
                    NAME,
                    Note(
                        topic="research_decision",
                        data={
                            "symbol": symbol,
                            "direction": decision.direction.value,
                            "conviction": decision.conviction,
                            "net": net,
                            "source": result.source,
                            "no_idea_because": reason,
                            "lessons": list(cited),
                        },
                    ),
                    causation_id=cause,
                    llm=result.usage,
                )
            )
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.STRATEGY,
    consumes=("note", "signal", "assessment", "tool_figures"),
    produces=("trade_idea", "note", "rejection"),
    reasoning=Reasoning.LLM,
    run=run,
    description="judges the debate, emits trade ideas with conviction (LLM / rules offline)",
)
