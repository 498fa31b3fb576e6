"""Protective orders: every open position holds a stop at the broker between cycles.

Vocabulary:
- the **exit side** of a position: SELL for a long, BUY for a short;
- a **protective stop**: a working STOP order of the symbol on the exit side. Bracket legs
  carry ``<ref>#sl`` / ``<ref>#tp``; a stop placed by reconciliation carries
  ``q-<cycle>-stop-<hash>`` (``protective_ref``), so a re-run finds it instead of adding one;
- the **cover** of a position: the shares its protective stops can close — a bracket leg
  covers what its parent has filled (a leg whose entry has not filled covers nothing) —
  plus working exit-side market orders (the position is being closed).

Prices come from the kernels only (``tools.stops``): an entry gets the pyramid plan's
initial stop (``pyramiding.stop_atr_multiple`` ATRs) and the stop manager's target
(``stop_manager.take_profit_atr`` ATRs); an add-on tranche gets its **own** bracket at the
stop the plan sets after that tranche (break-even) and the stop manager's target, so each
tranche is protected from its fill on and an exit of one tranche never uncovers another.
Later, the stop manager's moves apply to every protective stop of the symbol alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from agents.base import AgentContext
from agents.common import setting, tool_figures
from core.messages import Envelope
from core.orders import (
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    bracket_parent_ref,
)
from core.ports import Broker, Store
from core.signals import Direction
from tools.stops import bracket_levels, round_to_tick

TICK = 0.01
PROTECTIVE_MARK = "-stop-"


class ProtectionCode(StrEnum):
    """What reconciliation found about a position's protective orders (and did)."""

    PROTECTIVE_STOP_MISSING = "PROTECTIVE_STOP_MISSING"  # cover < position: stop placed
    PROTECTIVE_STOP_EXCESS = "PROTECTIVE_STOP_EXCESS"  # cover > position: stops reduced
    PROTECTIVE_ORDER_ORPHANED = "PROTECTIVE_ORDER_ORPHANED"  # no position left: cancelled
    PROTECTIVE_STOP_FAILED = "PROTECTIVE_STOP_FAILED"  # the broker refused the repair


def finding(code: ProtectionCode, **context: str | int | float) -> str:
    """``CODE: key=value ...``, the way denials are written."""
    ctx = " ".join(f"{k}={f'{v:.6g}' if isinstance(v, float) else v}" for k, v in context.items())
    return f"{code.value}: {ctx}" if ctx else code.value


def exit_side(quantity: int) -> OrderSide:
    return OrderSide.SELL if quantity > 0 else OrderSide.BUY


def protective_ref(cycle_id: str, intent: OrderIntent) -> str:
    """Deterministic reference of a stop reconciliation places: same cycle, same stop,
    same reference — a re-run finds the order it placed instead of adding one."""
    return f"q-{cycle_id}{PROTECTIVE_MARK}{intent.digest()[:16]}"


def is_protective(order: Order) -> bool:
    """A bracket leg or a stop placed by reconciliation (never an entry or an exit)."""
    ref = order.client_ref
    return bracket_parent_ref(ref) is not None or PROTECTIVE_MARK in ref


def parent_of(store: Store, order: Order) -> Order | None:
    ref = bracket_parent_ref(order.client_ref)
    return None if ref is None else store.order_by_client_ref(ref)


def cover(store: Store, order: Order) -> int:
    """Shares a working exit order can close now: a bracket leg no more than its parent
    has filled, a leg of an unfilled parent nothing."""
    if not order.is_open:
        return 0
    parent = parent_of(store, order)
    if parent is None or parent.status is OrderStatus.FILLED:
        return order.remaining
    return max(0, min(order.remaining, parent.filled_quantity - order.filled_quantity))


def exit_orders(orders: Sequence[Order], symbol: str, side: OrderSide) -> list[Order]:
    return [o for o in orders if o.symbol == symbol and o.intent.side is side and o.is_open]


def stops_of(orders: Sequence[Order], symbol: str, side: OrderSide) -> list[Order]:
    found = exit_orders(orders, symbol, side)
    return [o for o in found if o.intent.order_type is OrderType.STOP]


async def release(broker: Broker, symbol: str, side: OrderSide) -> list[Order]:
    """Cancel the symbol's protective orders on ``side`` before an exit is sent, so the
    exit and a stop never both close the same shares."""
    cancelled: list[Order] = []
    for order in await broker.open_orders():
        if order.symbol == symbol and order.intent.side is side and is_protective(order):
            cancelled.append(await broker.cancel(order.order_id))
    return cancelled


# -- levels of new orders -------------------------------------------------------------
def entry_levels(ctx: AgentContext, intent: OrderIntent, atr_14: float) -> OrderIntent:
    """``intent`` (an entry) with the kernels' stop-loss and take-profit attached."""
    price = intent.reference_price
    if price is None or not bool(setting(ctx, "portfolio_manager", "brackets", True)):
        return intent
    levels = bracket_levels(
        price,
        atr_14,
        Direction.LONG if intent.side is OrderSide.BUY else Direction.SHORT,
        stop_atr_multiple=float(setting(ctx, "pyramiding", "stop_atr_multiple", 2.0)),
        take_profit_atr=float(setting(ctx, "stop_manager", "take_profit_atr", 6.0)),
        tick=TICK,
    )
    return _with_levels(intent, levels.stop_loss, levels.take_profit)


def add_levels(
    ctx: AgentContext, inbox: Sequence[Envelope], intent: OrderIntent, stop_after_fill: float
) -> OrderIntent:
    """``intent`` (a pyramid add) with its own stop — the plan's stop after this tranche,
    or the stop manager's if tighter — and the stop manager's take-profit."""
    price = intent.reference_price
    if price is None or not bool(setting(ctx, "portfolio_manager", "brackets", True)):
        return intent
    sign = 1 if intent.side is OrderSide.BUY else -1
    stop, take = stop_after_fill, 0.0
    found = tool_figures(inbox, "stops", intent.symbol)
    if found is not None:
        figures = found[1].figures
        trailing = float(figures.get("stop_price", 0.0))
        if trailing > 0 and (trailing - stop) * sign > 0:
            stop = trailing
        take = float(figures.get("take_profit", 0.0))
    stop = round_to_tick(stop, TICK, up=sign < 0)
    take = round_to_tick(take, TICK, up=sign > 0)
    return _with_levels(
        intent,
        stop if stop > 0 and (stop - price) * sign < 0 else None,
        take if take > 0 and (take - price) * sign > 0 else None,
    )


def _with_levels(
    intent: OrderIntent, stop_loss: float | None, take_profit: float | None
) -> OrderIntent:
    if stop_loss is None and take_profit is None:
        return intent
    return OrderIntent.model_validate(
        {**intent.model_dump(), "stop_loss": stop_loss, "take_profit": take_profit}
    )
