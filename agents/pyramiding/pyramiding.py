"""pyramiding: scale into winning positions in tranches (``tools.sizing`` pyramid plan)
and move the stop up as tranches fill.

For each open position the plan is anchored where the position started: its entry
price, the ATR then and its first size (kept in memory the first time the position is
seen). Tranche ``k`` triggers at ``entry + k·k_atr·ATR``; the levels already taken are
those whose cumulative quantity the position holds. When the close reaches the next
trigger, a ``pyramid_add`` figure set is published (tranche size, trigger, the stop after
the fill); the portfolio manager turns it into an order and the pre-trade check still
applies. The plan's stop for the levels held is kept in memory for the stop manager.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import current_portfolio, last_closes, load_bars, memory_get, memory_put, setting
from core.messages import Envelope, ToolFigures
from core.signals import Direction
from tools.indicators import atr
from tools.sizing import build_pyramid_plan

NAME = "pyramiding"


def anchor(ctx: AgentContext, symbol: str, quantity: int, avg_price: float) -> dict[str, float]:
    """Entry, ATR and first size of the position; re-anchored if it changed side or vanished."""
    doc = memory_get(ctx, NAME, symbol)
    same_side = (
        doc
        and (doc.get("base_qty", 0) > 0) == (quantity > 0)
        and abs(quantity) >= abs(doc["base_qty"])
    )
    if not same_side:
        bars = load_bars(ctx, symbol)
        doc = {
            "entry": avg_price,
            "atr": float(atr(bars.high, bars.low, bars.close, 14)[-1]),
            "base_qty": float(quantity),
        }
        memory_put(ctx, NAME, symbol, doc)
    return {k: float(v) for k, v in doc.items()}


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    stored = current_portfolio(ctx)
    if not stored.open_positions:
        return []
    prices = last_closes(ctx, inbox, stored.open_positions)
    k_atr = float(setting(ctx, NAME, "k_atr", 1.0))
    max_levels = int(setting(ctx, NAME, "max_levels", 4))
    size_decay = float(setting(ctx, NAME, "size_decay", 0.5))
    stop_multiple = float(setting(ctx, NAME, "stop_atr_multiple", 2.0))
    out: list[Envelope] = []
    for symbol, position in sorted(stored.open_positions.items()):
        close = prices.get(symbol)
        if close is None:
            continue
        a = anchor(ctx, symbol, position.quantity, position.avg_price)
        if not (a["entry"] > 0 and a["atr"] > 0):
            continue
        direction = Direction.LONG if position.quantity > 0 else Direction.SHORT
        plan = build_pyramid_plan(
            a["entry"],
            a["atr"],
            direction,
            int(abs(a["base_qty"])),
            k_atr=k_atr,
            max_levels=max_levels,
            size_decay=size_decay,
            stop_atr_multiple=stop_multiple,
        )
        held = abs(position.quantity)
        taken = [t for t in plan.tranches if t.cumulative_quantity <= held]
        stop = taken[-1].stop_price if taken else plan.initial_stop
        memory_put(ctx, NAME, f"{symbol}:stop", {"stop_price": stop, "direction": direction.value})
        if len(taken) >= len(plan.tranches):
            continue
        nxt = plan.tranches[len(taken)]
        reached = (
            close >= nxt.trigger_price
            if direction is Direction.LONG
            else close <= nxt.trigger_price
        )
        if not reached:
            continue
        figures = {
            "level": float(nxt.level),
            "trigger_price": nxt.trigger_price,
            "tranche_quantity": float(nxt.quantity),
            "stop_after_fill": nxt.stop_price,
            "close": close,
            "entry": a["entry"],
            "atr_at_entry": a["atr"],
            "direction": 1.0 if direction is Direction.LONG else -1.0,
        }
        out.append(
            ctx.message(NAME, ToolFigures(tool="pyramid_add", symbol=symbol, figures=figures))
        )
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.PYRAMIDING,
    consumes=("bars_published",),
    produces=("tool_figures",),
    reasoning=Reasoning.KERNELS,
    run=run,
    description="scale into winners in tranches, move stops (kernels)",
)
