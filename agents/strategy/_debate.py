"""The bull / bear debate on the shortlist: evidence, the offline argument, one round.

Both researchers read the same evidence (signals, technical, sentiment, fundamentals and
regime readings, all from tools or validated agents) and argue one side. Round ``r`` of a
side answers the other side's latest argument, which reaches the LLM as untrusted text
(it is model output and may echo injected news).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from agents.base import AgentContext
from agents.common import assessments, setting, shortlist_of, signals_for, symbol_facts
from agents.llm_judgement import (
    LlmOutput,
    constant,
    judge,
    load_prompt,
    prompt_file,
    untrusted_block,
)
from core.messages import Assessment, Envelope

Side = Literal["bull", "bear"]
TOPIC: dict[Side, str] = {"bull": "bull_case", "bear": "bear_case"}
OPPONENT: dict[Side, Side] = {"bull": "bear", "bear": "bull"}


class DebateArgument(LlmOutput):
    symbol: str
    conviction: float = Field(ge=0.0, le=1.0)
    argument: str = Field(min_length=1, max_length=1500)


@dataclass(frozen=True)
class Evidence:
    label: str
    score: float  # in [-1, 1]; > 0 supports the long case
    message_id: str


def evidence(inbox: Sequence[Envelope], symbol: str) -> list[Evidence]:
    found = [
        Evidence(f"{p.signal.strategy} signal {p.signal.direction.value}", p.signal.strength, m.id)
        for m, p in signals_for(inbox, symbol)
    ]
    for topic in ("technical", "sentiment", "fundamentals"):
        for m, a in assessments(inbox, topic, symbol)[-1:]:
            found.append(Evidence(f"{topic} view", a.score, m.id))
    for m, a in assessments(inbox, "regime")[-1:]:
        found.append(Evidence("market regime", a.score, m.id))
    return found


def describe(items: Sequence[Evidence]) -> str:
    def word(score: float) -> str:
        size = "strongly" if abs(score) > 0.6 else "moderately" if abs(score) > 0.25 else "mildly"
        return f"{size} {'positive' if score > 0 else 'negative' if score < 0 else 'neutral'}"

    return "; ".join(f"{e.label}: {word(e.score)}" for e in items) or "no evidence"


def offline_argument(
    side: Side, symbol: str, items: Sequence[Evidence], opponent: float
) -> DebateArgument:
    pos = sum(max(0.0, e.score) for e in items)
    neg = sum(max(0.0, -e.score) for e in items)
    mine, theirs = (pos, neg) if side == "bull" else (neg, pos)
    share = mine / (mine + theirs) if mine + theirs > 0 else 0.0
    coverage = min(1.0, (mine + theirs) / 1.5)
    # Answering a strong opposing argument costs some conviction: the debate converges.
    conviction = max(0.0, min(1.0, share * coverage * (1.0 - 0.25 * opponent)))
    sign = 1.0 if side == "bull" else -1.0
    points = [e.label for e in items if sign * e.score > 0]
    return DebateArgument(
        symbol=symbol,
        conviction=conviction,
        argument=f"{side} case (rules): "
        + (", ".join(points) if points else "nothing supports it"),
        cited={},
    )


def run_side(
    ctx: AgentContext, inbox: Sequence[Envelope], agent: str, side: Side, module_file: str
) -> list[Envelope]:
    symbols, shortlist_id = shortlist_of(inbox)
    prompt = load_prompt(prompt_file(module_file, agent))
    out: list[Envelope] = []
    for symbol in symbols[: int(setting(ctx, agent, "shortlist_size", len(symbols)))]:
        mine = assessments(inbox, TOPIC[side], symbol)
        theirs = assessments(inbox, TOPIC[OPPONENT[side]], symbol)
        debate_round = len(mine) + 1
        items = evidence(inbox, symbol)
        opponent_conviction = abs(theirs[-1][1].score) if theirs else 0.0
        opponent_text = theirs[-1][1].text if theirs else "(none yet: you open the debate)"
        facts = symbol_facts(inbox, symbol)
        for _, regime in assessments(inbox, "regime")[-1:]:
            facts.update({f"market.{k}": v for k, v in regime.figures.items()})
        cause = (
            theirs[-1][0].id
            if theirs
            else max(items, key=lambda e: abs(e.score)).message_id
            if items
            else shortlist_id
        )
        result = judge(
            ctx,
            agent=agent,
            prompt=prompt,
            variables={
                "symbol": symbol,
                "round": str(debate_round),
                "evidence": describe(items),
                "opponent": untrusted_block(f"{OPPONENT[side]}_argument", opponent_text),
            },
            schema=DebateArgument,
            facts=facts,
            offline=constant(offline_argument(side, symbol, items, opponent_conviction)),
            symbols=[symbol],
            causation_id=cause,
        )
        arg = result.output
        out += result.messages
        sign = 1.0 if side == "bull" else -1.0
        out.append(
            ctx.message(
                agent,
                Assessment(
                    topic=TOPIC[side],
                    symbol=symbol,
                    score=sign * arg.conviction,
                    text=f"[{result.source}] round {debate_round}: {arg.argument}",
                    figures={
                        "round": float(debate_round),
                        "conviction": arg.conviction,
                        **arg.cited,
                    },
                ),
                causation_id=cause,
                llm=result.usage,
            )
        )
    return out
