"""stop_manager: trailing stops and take-profits for open positions.

Per position (long; shorts mirrored): the high-water close since the position was first
seen (kept in memory, cleared when the position is gone), ATR(14) from ``tools``, a
trailing stop ``high_water − trail_atr·ATR`` raised to the pyramiding plan's stop when
that is higher, and a take-profit ``entry + take_profit_atr·ATR`` (``tools.stops``). A
close through either publishes ``stops`` figures with ``exit = 1``; the portfolio manager
closes the position. Reconciliation moves the broker's protective stops to
``stop_price`` (modified in place, tighten only): between cycles the broker's stop acts.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import current_portfolio, last_closes, load_bars, memory_get, memory_put, setting
from core.messages import Envelope, ToolFigures
from tools.indicators import atr
from tools.stops import protective_levels, trailing_stop

NAME = "stop_manager"


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    stored = current_portfolio(ctx)
    tracked = memory_get(ctx, NAME, "tracked").get("symbols", [])
    for gone in set(tracked) - set(stored.open_positions):
        memory_put(ctx, NAME, gone, {})
    memory_put(ctx, NAME, "tracked", {"symbols": sorted(stored.open_positions)})
    if not stored.open_positions:
        return []
    trail_atr = float(setting(ctx, NAME, "trail_atr", 3.0))
    take_profit_atr = float(setting(ctx, NAME, "take_profit_atr", 6.0))
    prices = last_closes(ctx, inbox, stored.open_positions)
    out: list[Envelope] = []
    for symbol, position in sorted(stored.open_positions.items()):
        close = prices.get(symbol)
        if close is None:
            continue
        bars = load_bars(ctx, symbol)
        atr_now = float(atr(bars.high, bars.low, bars.close, 14)[-1])
        sign = 1.0 if position.quantity > 0 else -1.0
        doc = memory_get(ctx, NAME, symbol)
        mark = float(doc.get("high_water", close)) if doc.get("sign") == sign else close
        mark = max(mark, close) if sign > 0 else min(mark, close)
        memory_put(ctx, NAME, symbol, {"high_water": mark, "sign": sign})
        pyramid_stop = memory_get(ctx, "pyramiding", f"{symbol}:stop").get("stop_price")
        trailing = trailing_stop(mark, atr_now, int(sign), trail_atr, float(pyramid_stop or 0.0))
        _, take_profit = protective_levels(
            position.avg_price, atr_now, int(sign), 0.0, take_profit_atr
        )
        # 0.0 from the kernels means "no level" (too few bars for an ATR, say): never crossed
        stopped = trailing > 0 and (close <= trailing if sign > 0 else close >= trailing)
        took_profit = take_profit > 0 and (
            close >= take_profit if sign > 0 else close <= take_profit
        )
        figures = {
            "stop_price": trailing,
            "take_profit": take_profit,
            "high_water": mark,
            "close": close,
            "atr_14": atr_now,
            "exit": 1.0 if stopped or took_profit else 0.0,
            "stopped": 1.0 if stopped else 0.0,
            "took_profit": 1.0 if took_profit else 0.0,
        }
        out.append(ctx.message(NAME, ToolFigures(tool="stops", symbol=symbol, figures=figures)))
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.PYRAMIDING,
    consumes=("bars_published",),
    produces=("tool_figures",),
    reasoning=Reasoning.KERNELS,
    run=run,
    description="trailing stops and take-profits (kernels)",
)
