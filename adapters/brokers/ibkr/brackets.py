"""From our ``OrderIntent`` to the IB orders that carry it: one order, or a bracket of a
parent plus take-profit (limit) and stop-loss (stop) children on the exit side. Each leg
has its own ``orderRef``: ``<client_ref>#tp`` / ``<client_ref>#sl``."""

from __future__ import annotations

from adapters.brokers.ibkr.client import OrderSpec
from adapters.brokers.ibkr.translate import (
    ACTIONS,
    OPPOSITE,
    ORDER_TYPES,
    STOP_LOSS_SUFFIX,
    TAKE_PROFIT_SUFFIX,
)
from core.orders import OrderIntent, OrderType


def bracket_legs(intent: OrderIntent, client_ref: str) -> list[tuple[str, OrderIntent]]:
    """The exit legs of a bracket intent (empty for a plain order), with their refs."""
    exit_side = OPPOSITE[intent.side]
    legs: list[tuple[str, OrderIntent]] = []
    common = {"symbol": intent.symbol, "side": exit_side, "quantity": intent.quantity}
    if intent.take_profit is not None:
        take = OrderIntent(**common, order_type=OrderType.LIMIT,
                           limit_price=intent.take_profit, tif=intent.tif)  # fmt: skip
        legs.append((client_ref + TAKE_PROFIT_SUFFIX, take))
    if intent.stop_loss is not None:
        stop = OrderIntent(**common, order_type=OrderType.STOP,
                           stop_price=intent.stop_loss, tif=intent.tif)  # fmt: skip
        legs.append((client_ref + STOP_LOSS_SUFFIX, stop))
    return legs


def order_spec(intent: OrderIntent, ref: str) -> OrderSpec:
    return OrderSpec(
        action=ACTIONS[intent.side],
        quantity=intent.quantity,
        order_type=ORDER_TYPES[intent.order_type],
        limit_price=intent.limit_price,
        stop_price=intent.stop_price,
        tif=intent.tif.value,
        order_ref=ref,
    )
