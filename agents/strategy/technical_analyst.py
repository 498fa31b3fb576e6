"""technical_analyst: an indicator panel per symbol (kernels) and a view (LLM or rules).

Every published symbol gets ``tool_figures`` (tool ``technical``) and an ``assessment``
(topic ``technical``, score = ±conviction). The offline view is a fixed rule: trend
(close vs SMA50, SMA50 vs SMA200), MACD histogram sign and RSI distance from 50. The LLM
view is asked only for the ``llm_max_symbols`` strongest offline readings, which keeps
LLM calls bounded whatever the universe size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import bars_message_id, load_bars, published_symbols, setting
from agents.llm_judgement import LlmOutput, constant, judge, load_prompt, prompt_file
from core.bars import BarSeries
from core.messages import Assessment, Envelope, ToolFigures
from core.signals import Direction
from tools.indicators import atr, bbands, donchian, macd, natr, rsi, sma

NAME = "technical_analyst"
VIEW_BAND = 0.15


class TechnicalView(LlmOutput):
    symbol: str
    direction: Direction
    conviction: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(min_length=1, max_length=1000)

    @property
    def score(self) -> float:
        sign = {Direction.LONG: 1.0, Direction.SHORT: -1.0, Direction.FLAT: 0.0}[self.direction]
        return sign * self.conviction


def panel(bars: BarSeries) -> dict[str, float]:
    """The last value of each indicator (NaN-free figures only)."""
    c, h, lo = bars.close, bars.high, bars.low
    macd_line, macd_signal, macd_hist = macd(c, 12, 26, 9)
    upper, middle, lower = bbands(c, 20, 2.0, 2.0, 0)
    d_upper, _, d_lower = donchian(h, lo, 20)
    figures = {
        "close": c[-1],
        "sma_20": sma(c, 20)[-1],
        "sma_50": sma(c, 50)[-1],
        "sma_200": sma(c, 200)[-1],
        "rsi_14": rsi(c, 14)[-1],
        "macd": macd_line[-1],
        "macd_signal": macd_signal[-1],
        "macd_hist": macd_hist[-1],
        "bb_upper": upper[-1],
        "bb_middle": middle[-1],
        "bb_lower": lower[-1],
        "atr_14": atr(h, lo, c, 14)[-1],
        "natr_14": natr(h, lo, c, 14)[-1],
        "donchian_upper_20": d_upper[-1],
        "donchian_lower_20": d_lower[-1],
    }
    return {k: float(v) for k, v in figures.items() if np.isfinite(v)}


def offline_view(symbol: str, f: dict[str, float]) -> TechnicalView:
    score = 0.0
    reasons: list[str] = []
    if "sma_50" in f:
        above = f["close"] > f["sma_50"]
        score += 0.35 if above else -0.35
        reasons.append(f"close {'above' if above else 'below'} SMA50")
    if "sma_50" in f and "sma_200" in f:
        golden = f["sma_50"] > f["sma_200"]
        score += 0.25 if golden else -0.25
        reasons.append(f"SMA50 {'above' if golden else 'below'} SMA200")
    if "macd_hist" in f:
        score += 0.2 if f["macd_hist"] > 0 else -0.2
        reasons.append(f"MACD histogram {'positive' if f['macd_hist'] > 0 else 'negative'}")
    if "rsi_14" in f:
        score += 0.2 * (f["rsi_14"] - 50.0) / 50.0
    score = float(np.clip(score, -1.0, 1.0))
    direction = (
        Direction.LONG
        if score > VIEW_BAND
        else Direction.SHORT
        if score < -VIEW_BAND
        else Direction.FLAT
    )
    return TechnicalView(
        symbol=symbol,
        direction=direction,
        conviction=abs(score),
        rationale="rules: " + ", ".join(reasons) if reasons else "rules: not enough history",
        cited={},
    )


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    llm_max = int(setting(ctx, NAME, "llm_max_symbols", 5))
    prompt = load_prompt(prompt_file(__file__, NAME))
    panels: dict[str, tuple[Envelope, dict[str, float], TechnicalView]] = {}
    out: list[Envelope] = []
    for symbol in published_symbols(ctx, inbox):
        try:
            bars = load_bars(ctx, symbol)
        except KeyError:
            continue
        figures = panel(bars)
        fig_env = ctx.message(
            NAME,
            ToolFigures(tool="technical", symbol=symbol, figures=figures),
            causation_id=bars_message_id(inbox, symbol),
        )
        out.append(fig_env)
        panels[symbol] = (fig_env, figures, offline_view(symbol, figures))
    ranked = sorted(panels, key=lambda s: (-panels[s][2].conviction, s))
    for rank, symbol in enumerate(ranked):
        fig_env, figures, offline = panels[symbol]
        view, source, usage = offline, "offline", None
        if rank < llm_max:
            result = judge(
                ctx,
                agent=NAME,
                prompt=prompt,
                variables={
                    "symbol": symbol,
                    "as_of": ctx.as_of.isoformat(),
                    "reading": f"{offline.direction.value} ({offline.rationale})",
                },
                schema=TechnicalView,
                facts={f"{symbol}.{k}": v for k, v in figures.items()},
                offline=constant(offline),
                symbols=[symbol],
                causation_id=fig_env.id,
            )
            view, source, usage = result.output, result.source, result.usage
            out += result.messages
        out.append(
            ctx.message(
                NAME,
                Assessment(
                    topic="technical",
                    symbol=symbol,
                    score=view.score,
                    text=f"[{source}] {view.direction.value}: {view.rationale}",
                    figures={"conviction": view.conviction, **view.cited},
                ),
                causation_id=fig_env.id,
                llm=usage,
            )
        )
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.STRATEGY,
    consumes=("bars_published",),
    produces=("tool_figures", "assessment", "rejection", "note"),
    reasoning=Reasoning.LLM,
    run=run,
    description="indicator panel per symbol and a view (kernels + LLM)",
)
