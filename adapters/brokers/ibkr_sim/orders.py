"""``placeOrder`` handling: parse the client's fields, apply armed faults, book it.

Field positions are those of ib_async 2.1.0's ``Client.placeOrder`` for a non-combo
contract: id, 12 contract fields, secIdType, secId, then the order's own fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.brokers.ibkr_sim import messages as msg
from adapters.brokers.ibkr_sim.book import SimOrder

if TYPE_CHECKING:
    from adapters.brokers.ibkr_sim.server import Session, TwsSimulator

SUPPORTED_TYPES = frozenset({"MKT", "LMT", "STP"})


def _price(value: str) -> float | None:
    if value in ("", "1.7976931348623157e+308"):
        return None
    return float(value)


def place_order(sim: TwsSimulator, s: Session, f: list[str]) -> None:
    from adapters.brokers.ibkr_sim.server import NO_SECDEF_TEXT, PACING_TEXT

    book, faults = sim.book, sim.faults
    order_id, client_id = int(f[1]), s.client_id or 0
    existing = book.order_for(client_id, order_id)
    if existing is not None:
        _modify(sim, s, existing, f)
        return
    if faults.take_pacing("order"):
        s.send(msg.error(order_id, 100, PACING_TEXT))  # refused before it reached the book
        return
    con_id, symbol, sec_type, exchange, primary, currency = (
        int(f[2] or 0), f[3], f[4], f[9], f[10], f[11],
    )  # fmt: skip
    listings = book.catalog.search(
        con_id=con_id, symbol=symbol, sec_type=sec_type, exchange=exchange,
        primary_exchange=primary, currency=currency,
    )  # fmt: skip
    if len(listings) != 1:
        s.send(msg.error(order_id, 200, NO_SECDEF_TEXT))
        return
    parent_id = int(f[28] or 0)
    if parent_id and book.order_for(client_id, parent_id) is None:
        s.send(msg.error(order_id, 135, f"Can't find order with id ={parent_id}"))
        return
    order = SimOrder(
        perm_id=book.next_perm_id,
        order_id=order_id,
        client_id=client_id,
        listing=listings[0],
        action=f[16],
        quantity=float(f[17]),
        order_type=f[18],
        lmt_price=_price(f[19]),
        aux_price=_price(f[20]),
        tif=f[21] or "DAY",
        oca_group=f[22],
        oca_type=int(f[47] or 0) if len(f) > 47 else 0,  # ocaType (server version < 177)
        account=f[23] or sim.account,
        order_ref=f[26],
        transmit=f[27] != "0",
        parent_id=parent_id,
    )
    book.next_perm_id += 1
    if order.order_type not in SUPPORTED_TYPES:
        book.reject(order, f"order type {order.order_type} not supported")
        s.send(msg.error(order_id, 387, f"Unsupported order type {order.order_type}"))
        return
    reject = faults.take("reject")
    if reject is not None:
        book.reject(order, reject.text)  # type: ignore[attr-defined]
        s.send(msg.error(order_id, reject.code, reject.text))  # type: ignore[attr-defined]
        return
    drop = faults.take("drop")
    if drop is not None:
        order.resting = not drop  # without fill_while_away the order just rests
        s.close()  # the link dies before TWS could acknowledge anything
        sim._deliver(book.add_order(order))
        return
    if faults.take_lost_updates():
        sim.silenced.add(order.perm_id)
    chunks = faults.take("partial")
    delay = faults.take("delay")
    events = book.add_order(order, chunks)  # type: ignore[arg-type]
    sim._deliver(events, float(delay) if delay else 0.0)  # type: ignore[arg-type]


def _modify(sim: TwsSimulator, s: Session, order: SimOrder, f: list[str]) -> None:
    if order.is_done:
        s.send(msg.error(order.order_id, 104, "Cannot modify a filled order."))
        return
    order.quantity = float(f[17])
    order.lmt_price = _price(f[19])
    order.aux_price = _price(f[20])
    sim._deliver([*_status(order), *sim.book.try_fill(order)])


def _status(order: SimOrder) -> list:  # type: ignore[type-arg]
    from adapters.brokers.ibkr_sim.book import BookEvent

    return [BookEvent("order", order)]
