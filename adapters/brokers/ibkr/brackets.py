"""From our ``OrderIntent`` to the IB orders that carry it: one order, or a bracket of a
parent plus stop-loss (stop) and take-profit (limit) children on the exit side, built by
the shared convention (``adapters.brokers.bracket_legs``: GTC, stop-loss first). Each leg
has its own ``orderRef`` (``<client_ref>#sl`` / ``<client_ref>#tp``) and the legs share
one OCA group (``ocaGroup`` = ``oca-<client_ref>``, ``ocaType`` 2: reduce with block)."""

from __future__ import annotations

from adapters.brokers import OCA_REDUCE, bracket_child_ref, oca_group
from adapters.brokers import bracket_legs as shared_legs
from adapters.brokers.ibkr.client import OrderSpec
from adapters.brokers.ibkr.translate import ACTIONS, ORDER_TYPES
from core.orders import OrderIntent


def bracket_legs(intent: OrderIntent, client_ref: str) -> list[tuple[str, OrderIntent]]:
    """The exit legs of a bracket intent (empty for a plain order), with their refs."""
    return [(bracket_child_ref(client_ref, leg), child) for leg, child in shared_legs(intent)]


def order_spec(intent: OrderIntent, ref: str, oca_parent: str = "") -> OrderSpec:
    """The IB order for ``intent``; ``oca_parent`` (the parent's ref) makes it a leg of
    that bracket's OCA group."""
    return OrderSpec(
        action=ACTIONS[intent.side],
        quantity=intent.quantity,
        order_type=ORDER_TYPES[intent.order_type],
        limit_price=intent.limit_price,
        stop_price=intent.stop_price,
        tif=intent.tif.value,
        order_ref=ref,
        oca_group=oca_group(oca_parent) if oca_parent else "",
        oca_type=OCA_REDUCE if oca_parent else 0,
    )
