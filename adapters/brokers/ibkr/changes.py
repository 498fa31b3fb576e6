"""Changing working IB orders: cancelling them, and modifying them.

**Cancel**: ``cancelOrder`` and wait (``ack_timeout_s``) for TWS's ``Cancelled`` or its
refusal (10147 / 10148, an ``OrderError`` with the code); an order never sent is
cancelled locally with its bracket legs, so a ``place`` still waiting sends nothing.

**Modify**: ``placeOrder`` again with the same orderId and the new
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

import asyncio
from typing import TYPE_CHECKING

from adapters.brokers.ibkr.brackets import bracket_legs
from adapters.brokers.ibkr.translate import IbErrorClass, classify_error
from core.errors import IllegalTransitionError, OrderError, TemporaryError
from core.orders import Order, OrderChange, OrderEvent, OrderStatus, OrderType

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


async def cancel_order(broker: IBKRBroker, order_id: str) -> Order:
    """Cancel our working order; one never sent is cancelled locally (with its legs)."""
    broker._require_connected()
    order = broker.store.order(order_id)
    if order is None:
        raise OrderError(f"unknown order {order_id}")
    if order.is_terminal:
        raise OrderError(f"order {order_id} cannot be cancelled: {order.status.value}")
    if order.status is OrderStatus.NEW and not broker._seen_at_broker(order.client_ref):
        # never sent: cancel locally; a place() still waiting for its turn sends nothing
        for leg_ref, _ in bracket_legs(order.intent, order.client_ref):
            broker.tracker.apply(leg_ref, OrderEvent.CANCEL, reason="parent never sent")
        cancelled = broker.tracker.apply(
            order.client_ref, OrderEvent.CANCEL, reason="cancelled before it was sent"
        )
        assert cancelled is not None
        return cancelled
    ib_id = broker.ib_order_id(order)
    broker._order_errors.pop(ib_id, None)
    await broker.pacer.message()
    if not ib_id or not broker.client.cancel(ib_id):
        raise OrderError(
            f"order {order_id} is not cancellable by client {broker.client_id}", broker_code=10147
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + broker.config.ack_timeout_s
    while loop.time() < deadline:
        current = broker.tracker.order(order.client_ref)
        if current is not None and current.is_terminal:
            if current.status.value != "cancelled":
                raise OrderError(f"order {order_id} is {current.status.value}; not cancelled")
            return current
        code, text = broker._order_errors.get(ib_id, (0, ""))
        if classify_error(code) is IbErrorClass.CANNOT_CANCEL:
            raise OrderError(f"TWS refused to cancel {order_id}: {text}", broker_code=code)
        await asyncio.sleep(0.005)
    raise TemporaryError(f"no cancel confirmation for {order_id} yet")
