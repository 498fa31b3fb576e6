"""Broker adapters (paper, ibkr, ibkr_sim) and what they share.

Brackets are one convention for every broker: a parent order plus up to two child orders
that close it, a stop-loss (``STP``) and a take-profit (``LMT``), one-cancels-other. Each
child's ``client_ref`` is the parent's with ``#sl`` / ``#tp`` appended, so a restarted
process (or another broker) finds the children of a parent by reference alone.

The legs are protective orders: GTC (they outlive the DAY entry) and one OCA group per
bracket (``oca_group``) of type ``OCA_REDUCE`` — IB's ocaType 2, "remaining orders are
proportionately reduced in size, with block": a partial fill of one leg shrinks the
other by as much, a full fill cancels it, so the legs never close more than is held.
"""

from __future__ import annotations

from core.orders import (
    STOP_LOSS_LEG,
    TAKE_PROFIT_LEG,
    OrderIntent,
    OrderSide,
    OrderType,
    TimeInForce,
    bracket_child_ref,
    bracket_parent_ref,
    is_reserved_ref,
)

__all__ = [
    "OCA_CANCEL",
    "OCA_REDUCE",
    "STOP_LOSS_LEG",
    "TAKE_PROFIT_LEG",
    "bracket_child_ref",
    "bracket_legs",
    "bracket_parent_ref",
    "is_reserved_ref",
    "oca_group",
]
OCA_CANCEL, OCA_REDUCE = 1, 2  # IB ocaType: 1 cancel the others, 2 reduce them (with block)


def oca_group(parent_ref: str) -> str:
    """The one-cancels-other group of a bracket's legs: named after its parent."""
    return f"oca-{parent_ref}"


def bracket_legs(intent: OrderIntent) -> list[tuple[str, OrderIntent]]:
    """The child orders of a bracket intent, stop-loss first; empty if it is no bracket.

    Stop-loss first on purpose: a broker that works orders oldest-first then lets the stop
    win when one bar reaches both legs, the pessimistic reading of an unknown path.
    """
    exit_side = OrderSide.SELL if intent.side is OrderSide.BUY else OrderSide.BUY
    legs: list[tuple[str, OrderIntent]] = []
    if intent.stop_loss is not None:
        stop = OrderIntent(
            symbol=intent.symbol,
            side=exit_side,
            quantity=intent.quantity,
            order_type=OrderType.STOP,
            stop_price=intent.stop_loss,
            tif=TimeInForce.GTC,
        )
        legs.append((STOP_LOSS_LEG, stop))
    if intent.take_profit is not None:
        take = OrderIntent(
            symbol=intent.symbol,
            side=exit_side,
            quantity=intent.quantity,
            order_type=OrderType.LIMIT,
            limit_price=intent.take_profit,
            tif=TimeInForce.GTC,
        )
        legs.append((TAKE_PROFIT_LEG, take))
    return legs
