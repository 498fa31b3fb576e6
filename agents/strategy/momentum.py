"""momentum: time-series momentum signals (``tools.strategies.momentum``).

Strength: the lookback return in units of its own volatility over the same horizon
(``|r| / (σ_daily · √lookback)``), halved and capped at 1 — a 2-sigma move is full strength.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.strategy._signals import run_strategy
from core.bars import BarSeries
from core.messages import Envelope
from tools.risk_metrics import TRADING_DAYS, annualized_volatility, simple_returns
from tools.strategies import ParamValue

NAME = "momentum"


def strength(bars: BarSeries, params: dict[str, ParamValue]) -> tuple[float, dict[str, float]]:
    lookback = int(params["lookback"])
    close = bars.close
    change = float(close[-1] / close[-1 - lookback] - 1.0)
    daily_vol = annualized_volatility(simple_returns(close)[-250:]) / math.sqrt(TRADING_DAYS)
    z = abs(change) / (daily_vol * math.sqrt(lookback)) if daily_vol > 0 else 0.0
    return min(1.0, z / 2.0), {
        f"return_{lookback}": change,
        "daily_volatility": daily_vol,
        "z_score": z,
        "close": float(close[-1]),
    }


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    return run_strategy(ctx, inbox, NAME, "momentum", strength)


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.STRATEGY,
    consumes=("bars_published",),
    produces=("signal",),
    reasoning=Reasoning.KERNELS,
    run=run,
    description="momentum signals (kernels)",
)
