"""What the simulator does for protective orders beyond plain fills: OCA groups and the
end of the trading day.

- **OCA groups** (``ocaGroup`` / ``ocaType`` on the order, as IB documents them): when a
  member of a group executes, ``ocaType`` 1 cancels the other working members; 2 and 3
  reduce each of them by the shares filled (cancelled once nothing is left). Bracket legs
  are also linked through their parent, as TWS links attached orders: a leg that fills
  completely cancels its siblings (``Book._after_done``).
- **End of day** (``end_trading_day``): every working ``DAY`` order is cancelled, as TWS
  does at the close; ``GTC`` orders stay. A DAY bracket parent that never filled takes
  its children with it; once it has filled, its GTC legs keep protecting the position.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.brokers.ibkr_sim.book import Book, BookEvent, SimOrder

if TYPE_CHECKING:
    from adapters.brokers.ibkr_sim.server import TwsSimulator

OCA_CANCEL = 1  # cancel the others (with block); 2 / 3 reduce them (with / without block)


def oca_members(book: Book, order: SimOrder) -> list[SimOrder]:
    """The other working orders of ``order``'s OCA group (same account)."""
    if not order.oca_group:
        return []
    return [
        o
        for o in book.orders.values()
        if o is not order
        and o.oca_group == order.oca_group
        and o.account == order.account
        and not o.is_done
    ]


def oca_after_fill(book: Book, order: SimOrder, shares: float) -> list[BookEvent]:
    """``order`` just executed ``shares``: cancel or reduce the rest of its OCA group."""
    events: list[BookEvent] = []
    for other in oca_members(book, order):
        if order.oca_type == OCA_CANCEL:
            events += book.cancel(other)
            continue
        other.quantity = max(other.filled, other.quantity - shares)
        if other.remaining <= 0:
            events += book.cancel(other)
        else:
            events.append(BookEvent("order", other))
    return events


def expire_day_orders(book: Book) -> list[BookEvent]:
    """The close: cancel every working DAY order (children of an unfilled parent too)."""
    events: list[BookEvent] = []
    for order in sorted(book.orders.values(), key=lambda o: o.perm_id):
        if order.tif == "DAY" and order.transmit and not order.is_done:
            events += book.cancel(order)
    return events


def end_trading_day(sim: TwsSimulator) -> int:
    """Expire the DAY orders at the simulator and tell the clients; how many closed."""
    events = expire_day_orders(sim.book)
    sim._deliver(events)
    return len({id(e.order) for e in events})
