"""What the three strategy agents share: run a ``tools.strategies`` kernel per symbol and
turn its last value into a ``Signal`` with the figures behind it.

The direction is the kernel's (no look-ahead: the signal at the last bar uses bars up to
its close). The strength is a bounded measure of how clear the reading is, computed by
each agent from tool figures; its sign always matches the direction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np

from agents.base import AgentContext
from agents.common import bars_message_id, load_bars, published_symbols
from core.bars import BarSeries
from core.messages import Envelope, SignalPayload
from core.signals import Direction, Signal
from tools.strategies import ParamValue, signal_for

StrengthFn = Callable[[BarSeries, dict[str, ParamValue]], tuple[float, dict[str, float]]]
DIRECTIONS = {1: Direction.LONG, -1: Direction.SHORT, 0: Direction.FLAT}


def bar_time(series: BarSeries) -> datetime:
    seconds = int(series.timestamps[-1].astype("datetime64[s]").astype(np.int64))
    return datetime.fromtimestamp(seconds, tz=UTC)


def run_strategy(
    ctx: AgentContext,
    inbox: Sequence[Envelope],
    agent: str,
    strategy: str,
    strength: StrengthFn,
) -> list[Envelope]:
    """One signal per symbol whose kernel reading is not flat."""
    params = dict(ctx.settings.get("strategies", {}).get(strategy, {}))
    out: list[Envelope] = []
    for symbol in published_symbols(ctx, inbox):
        try:
            bars = load_bars(ctx, symbol)
        except KeyError:
            continue
        raw, resolved = signal_for(strategy, bars.open, bars.high, bars.low, bars.close, params)
        direction = DIRECTIONS[int(raw[-1])]
        if direction is Direction.FLAT:
            continue
        magnitude, figures = strength(bars, resolved)
        if not np.isfinite(magnitude):
            continue
        signed = float(np.clip(magnitude, 0.0, 1.0)) * (
            1.0 if direction is Direction.LONG else -1.0
        )
        signal = Signal(
            symbol=symbol,
            strategy=strategy,
            direction=direction,
            strength=signed,
            as_of=bar_time(bars),
            figures={k: float(v) for k, v in figures.items() if np.isfinite(v)},
        )
        out.append(
            ctx.message(
                agent, SignalPayload(signal=signal), causation_id=bars_message_id(inbox, symbol)
            )
        )
    return out
