"""mean_reversion: RSI + Bollinger reversion signals (``tools.strategies.mean_reversion``).

Strength: how far RSI sits from its midpoint, ``|RSI − 50| / 30`` capped at 1, with the
Bollinger %B position among the figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.strategy._signals import run_strategy
from core.bars import BarSeries
from core.messages import Envelope
from tools.indicators import bbands, rsi
from tools.strategies import ParamValue

NAME = "mean_reversion"


def strength(bars: BarSeries, params: dict[str, ParamValue]) -> tuple[float, dict[str, float]]:
    period = int(params["rsi_period"])
    rsi_now = float(rsi(bars.close, period)[-1])
    upper, middle, lower = bbands(
        bars.close, int(params["bb_period"]), float(params["bb_std"]), float(params["bb_std"]), 0
    )
    width = float(upper[-1] - lower[-1])
    percent_b = float((bars.close[-1] - lower[-1]) / width) if width > 0 else 0.5
    return min(1.0, abs(rsi_now - 50.0) / 30.0), {
        f"rsi_{period}": rsi_now,
        "bb_upper": float(upper[-1]),
        "bb_middle": float(middle[-1]),
        "bb_lower": float(lower[-1]),
        "bb_percent_b": percent_b,
        "close": float(bars.close[-1]),
    }


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    return run_strategy(ctx, inbox, NAME, "mean_reversion", strength)


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.STRATEGY,
    consumes=("bars_published",),
    produces=("signal",),
    reasoning=Reasoning.KERNELS,
    run=run,
    description="RSI / Bollinger reversion signals (kernels)",
)
