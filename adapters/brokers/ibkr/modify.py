"""Modifying a working IB order: ``placeOrder`` again with the same orderId and the new
quantity, ``auxPrice`` (stop) or ``lmtPrice`` (limit); parentId, OCA group, tif and
orderRef stay as they were. This is how a stop moves without cancel + new.

TWS answers a modification with ``openOrder`` / ``orderStatus`` (accepted) or an error on
the order id (refused: 104 filled, 105 does not match, 110 tick, 201 rejected, 10147 not
found...). One round trip after sending, every answer TWS gave before it has arrived: a
refusal is an ``OrderError`` with IB's code and ib_async's copy gets the old terms back;
otherwise the local order takes the new terms through ``Order.modified`` (event MODIFY).
Terms TWS reports on its own (another client's change, an OCA reduction) are taken by the
tracker (``OrderTracker.adopt_terms``) from the order statuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.brokers.ibkr.translate import IbErrorClass, classify_error
from core.errors import IllegalTransitionError, OrderError
from core.orders import Order, OrderChange, OrderType

if TYPE_CHECKING:
    from adapters.brokers.ibkr.broker import IBKRBroker


def _terms(order: Order) -> OrderChange:
    """The order's current quantity and price, as a change that restores them."""
    intent = order.intent
    return OrderChange(
        quantity=intent.quantity,
        stop_price=intent.stop_price if intent.order_type is OrderType.STOP else None,
        limit_price=intent.limit_price if intent.order_type is OrderType.LIMIT else None,
    )


async def modify_order(broker: IBKRBroker, order_id: str, change: OrderChange) -> Order:
    broker._require_connected()
    order = broker.tracker.order_by_id(order_id)
    if order is None:
        raise OrderError(f"unknown order {order_id}")
    try:
        target = order.modified(change)
    except IllegalTransitionError:
        raise OrderError(f"cannot modify order {order_id}: it is {order.status.value}") from None
    if target is order:
        return order
    ib_id = broker.ib_order_id(order)
    broker._order_errors.pop(ib_id, None)
    await broker.pacer.message()
    sent = bool(ib_id) and broker.client.modify(
        ib_id,
        quantity=change.quantity,
        limit_price=change.limit_price,
        stop_price=change.stop_price,
    )
    if not sent:
        raise OrderError(
            f"order {order_id} is not modifiable by client {broker.client_id}",
            broker_code=10147,
        )
    await broker.sync()
    code, text = broker._order_errors.get(ib_id, (0, ""))
    if code and classify_error(code) is not IbErrorClass.INFO:
        old = _terms(order)
        broker.client.modify(
            ib_id,
            quantity=old.quantity,
            limit_price=old.limit_price,
            stop_price=old.stop_price,
            send=False,
        )
        broker.tracker.modified(order.client_ref, old)  # undo a status that adopted it
        raise OrderError(f"TWS refused to modify {order_id}: IB_{code}: {text}", broker_code=code)
    updated = broker.tracker.modified(order.client_ref, change)
    if updated is None:
        current = broker.tracker.order(order.client_ref)
        state = current.status.value if current is not None else "unknown"
        raise OrderError(f"order {order_id} is {state}: not modified")
    return updated
