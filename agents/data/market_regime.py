"""market_regime: the trend and volatility regime of the whole universe (kernels), with an
LLM narrative when a reasoner is available.

Figures (all from ``tools``): breadth above the 200-day SMA, mean distance to it
(``trend_score``, squashed to [-1, 1]), mean 20-day and 250-day annualised volatility and
their ratio. The assessment's score is the kernel ``trend_score``; the LLM only writes
the narrative and its stance (validated like every LLM output).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import load_bars
from agents.llm_judgement import judge, load_prompt, prompt_file
from agents.narrative import NarrativeJudgement
from core.messages import Assessment, Envelope, ToolFigures
from tools.indicators import sma
from tools.risk_metrics import annualized_volatility, simple_returns

NAME = "market_regime"
HIGH_VOL_RATIO = 1.25
TREND_BAND = 0.2


def regime_figures(closes: Sequence[np.ndarray]) -> dict[str, float]:
    above, distance, vol_short, vol_long = [], [], [], []
    for close in closes:
        if len(close) < 201:
            continue
        ma = sma(close, 200)[-1]
        above.append(float(close[-1] > ma))
        distance.append(float(np.tanh(5.0 * (close[-1] / ma - 1.0))))
        rets = simple_returns(close)
        vol_short.append(annualized_volatility(rets[-20:]))
        vol_long.append(annualized_volatility(rets[-250:]))
    if not above:
        return {}
    short, long_ = float(np.mean(vol_short)), float(np.mean(vol_long))
    return {
        "symbols_measured": float(len(above)),
        "breadth_above_sma200": float(np.mean(above)),
        "trend_score": float(np.mean(distance)),
        "vol_20_annualized": short,
        "vol_250_annualized": long_,
        "vol_ratio": short / long_ if long_ > 0 else float("nan"),
    }


def reading(figures: dict[str, float]) -> tuple[str, str]:
    trend = figures["trend_score"]
    trend_word = "uptrend" if trend > TREND_BAND else "downtrend" if trend < -TREND_BAND else "range"
    ratio = figures.get("vol_ratio", 1.0)
    vol_word = "high volatility" if ratio > HIGH_VOL_RATIO else "normal volatility"
    return trend_word, vol_word


def offline_narrative(figures: dict[str, float]) -> NarrativeJudgement:
    trend_word, vol_word = reading(figures)
    stance = (
        "risk_on"
        if trend_word == "uptrend" and vol_word == "normal volatility"
        else "risk_off"
        if trend_word == "downtrend" or vol_word == "high volatility"
        else "neutral"
    )
    return NarrativeJudgement(
        stance=stance,
        conviction=min(1.0, abs(figures["trend_score"]) + 0.2),
        narrative=f"kernel regime reading: {trend_word}, {vol_word}",
        cited={},
    )


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    closes = []
    for symbol in ctx.universe:
        try:
            closes.append(load_bars(ctx, symbol).close)
        except KeyError:
            continue
    figures = regime_figures(closes)
    if not figures:
        return []
    fig_env = ctx.message(NAME, ToolFigures(tool=NAME, figures=figures))
    facts = {f"market.{k}": v for k, v in figures.items()}
    trend_word, vol_word = reading(figures)
    result = judge(
        ctx,
        agent=NAME,
        prompt=load_prompt(prompt_file(__file__, NAME)),
        variables={
            "as_of": ctx.as_of.isoformat(),
            "symbols": ", ".join(ctx.universe[:50]),
            "reading": f"{trend_word}, {vol_word}",
        },
        schema=NarrativeJudgement,
        facts=facts,
        offline=lambda: offline_narrative(figures),
        symbols=["market"],
        causation_id=fig_env.id,
    )
    story = result.output
    assessment = Assessment(
        topic="regime",
        score=max(-1.0, min(1.0, figures["trend_score"])),
        text=f"[{result.source}] {story.stance} ({story.conviction:.2f}): {story.narrative}",
        figures=figures,
    )
    return [
        fig_env,
        *result.messages,
        ctx.message(NAME, assessment, causation_id=fig_env.id, llm=result.usage),
    ]


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.DATA,
    consumes=(),
    produces=("tool_figures", "assessment", "rejection", "note"),
    reasoning=Reasoning.KERNELS,
    run=run,
    description="trend / volatility regime of the market (kernels + LLM narrative)",
)
