"""ma_crossover: moving-average crossover signals (``tools.strategies.ma_crossover``).

Strength: the gap between the fast and slow averages, ``|fast / slow − 1| × 20`` capped at
1 — a 5 % gap is full strength; a fresh cross (gap near 0) is weak.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.strategy._signals import run_strategy
from core.bars import BarSeries
from core.messages import Envelope
from tools.strategies import MA_FUNCTIONS, ParamValue

NAME = "ma_crossover"


def strength(bars: BarSeries, params: dict[str, ParamValue]) -> tuple[float, dict[str, float]]:
    ma = MA_FUNCTIONS[str(params["ma_type"])]
    fast_n, slow_n = int(params["fast"]), int(params["slow"])
    fast = float(ma(bars.close, fast_n)[-1])
    slow = float(ma(bars.close, slow_n)[-1])
    gap = fast / slow - 1.0
    return min(1.0, abs(gap) * 20.0), {
        f"ma_fast_{fast_n}": fast,
        f"ma_slow_{slow_n}": slow,
        "ma_gap": gap,
        "close": float(bars.close[-1]),
    }


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    return run_strategy(ctx, inbox, NAME, "ma_crossover", strength)


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.STRATEGY,
    consumes=("bars_published",),
    produces=("signal",),
    reasoning=Reasoning.KERNELS,
    run=run,
    description="moving-average crossover signals (kernels)",
)
