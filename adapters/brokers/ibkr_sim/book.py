"""The simulator's trading state: orders, executions, positions and cash.

It knows nothing about sockets: every state change returns ``BookEvent``s that the
server turns into TWS messages for whichever clients should hear about them. Status
names are IB's (``Submitted``, ``PreSubmitted``, ``Filled``, ``Cancelled``...).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from adapters.brokers.ibkr_sim.catalog import Catalog, Listing
from adapters.brokers.ibkr_sim.protocol import ib_time

DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


@dataclass
class SimOrder:
    perm_id: int
    order_id: int
    client_id: int
    listing: Listing
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    order_ref: str
    account: str
    parent_id: int = 0
    oca_group: str = ""
    oca_type: int = 0  # IB ocaType: 1 cancel the group's others, 2 / 3 reduce them
    transmit: bool = True
    status: str = "PendingSubmit"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    resting: bool = False  # partial-fill fault: the remainder waits for the next price
    completed_time: str = ""
    completed_status: str = ""

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def is_working(self) -> bool:
        return self.status == "Submitted" and not self.resting


@dataclass(frozen=True)
class SimExecution:
    exec_id: str
    perm_id: int
    order_id: int
    client_id: int
    listing: Listing
    side: str  # BOT / SLD
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    order_ref: str
    account: str
    time: str
    commission: float
    currency: str


@dataclass(frozen=True)
class BookEvent:
    kind: Literal["order", "execution"]
    order: SimOrder
    execution: SimExecution | None = None


@dataclass
class Holding:
    quantity: float = 0.0
    avg_cost: float = 0.0


def commission_for(listing: Listing, shares: float, price: float) -> float:
    """IBKR fixed pricing: US 0.005/share (min 1, max 1 % of value); EUR 0.05 % (min 1.25)."""
    notional = shares * price
    if listing.currency == "USD":
        return round(max(1.0, min(0.005 * shares, 0.01 * notional)), 4)
    return round(max(1.25, 0.0005 * notional), 4)


@dataclass
class Book:
    catalog: Catalog
    account: str
    starting_cash: float = 1_000_000.0
    eurusd: float = 1.10
    prices: dict[str, float] = field(default_factory=dict)
    orders: dict[int, SimOrder] = field(default_factory=dict)
    executions: list[SimExecution] = field(default_factory=list)
    holdings: dict[int, Holding] = field(default_factory=dict)
    cash: dict[str, float] = field(default_factory=dict)
    orders_per_ref: Counter[str] = field(default_factory=Counter)
    next_perm_id: int = 1_000_001
    next_order_id: int = 1
    # False: orders wait for the next ``set_price`` even when a price is known (the
    # contract suite's "market moves, then orders fill" convention).
    fill_on_arrival: bool = True

    def __post_init__(self) -> None:
        self.cash.setdefault("USD", self.starting_cash)
        self.cash.setdefault("EUR", 0.0)

    # ---- queries -------------------------------------------------------------------
    def order_for(self, client_id: int, order_id: int) -> SimOrder | None:
        for order in self.orders.values():
            if order.client_id == client_id and order.order_id == order_id:
                return order
        return None

    def open_orders(self, client_id: int | None = None) -> list[SimOrder]:
        return [
            o
            for o in self.orders.values()
            if not o.is_done and o.transmit and (client_id in (None, o.client_id))
        ]

    def completed_orders(self) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.is_done]

    def mark(self, listing: Listing) -> float:
        holding = self.holdings.get(listing.con_id)
        return self.prices.get(listing.symbol, holding.avg_cost if holding else 0.0)

    def to_usd(self, amount: float, currency: str) -> float:
        return amount * self.eurusd if currency == "EUR" else amount

    def net_liquidation(self) -> float:
        total = sum(self.to_usd(v, c) for c, v in self.cash.items())
        for con_id, holding in self.holdings.items():
            listing = self.catalog.by_con_id(con_id)
            if listing is not None:
                total += self.to_usd(holding.quantity * self.mark(listing), listing.currency)
        return total

    # ---- commands ------------------------------------------------------------------
    def add_order(self, order: SimOrder, chunks: list[float] | None = None) -> list[BookEvent]:
        """Accept a transmitted order (or hold an untransmitted bracket leg); ``chunks``
        makes ``order`` itself fill in those partial quantities."""
        self.orders[order.perm_id] = order
        self.orders_per_ref[order.order_ref] += 1
        self.next_order_id = max(self.next_order_id, order.order_id + 1)
        if not order.transmit:
            order.status = "PendingSubmit"
            return []
        events: list[BookEvent] = []
        group = [order]
        if order.parent_id:
            parent = self.order_for(order.client_id, order.parent_id)
            if parent is not None and parent.status == "PendingSubmit":
                siblings = [
                    o
                    for o in self.orders.values()
                    if o.client_id == order.client_id
                    and o.parent_id == order.parent_id
                    and o is not order
                    and o.status == "PendingSubmit"
                ]
                group = [parent, *siblings, order]
        for member in group:
            member.transmit = True
            parent_open = member.parent_id and not self._parent_filled(member)
            member.status = "PreSubmitted" if parent_open else "Submitted"
            events.append(BookEvent("order", member))
        if self.fill_on_arrival or chunks:
            for member in group:
                events += self.try_fill(member, chunks if member is group[0] else None)
        return events

    def cancel(self, order: SimOrder, status: str = "Cancelled") -> list[BookEvent]:
        order.status = status
        order.completed_time = ib_time()
        order.completed_status = status
        events = [BookEvent("order", order)]
        for child in self._children(order):
            if not child.is_done:
                events += self.cancel(child)
        return events

    def reject(self, order: SimOrder, reason: str) -> None:
        """A rejected order: recorded as completed, never counted as accepted by the market."""
        order.status = "Cancelled"
        order.completed_time = ib_time()
        order.completed_status = f"Rejected: {reason}"
        self.orders[order.perm_id] = order
        self.orders_per_ref[order.order_ref] += 1
        self.next_order_id = max(self.next_order_id, order.order_id + 1)

    def set_price(self, symbol: str, price: float, volume: float | None = None) -> list[BookEvent]:
        """The market trades at ``price``: crossed orders fill, oldest first, at most
        ``volume`` shares in total (no limit when ``None``)."""
        self.prices[symbol.upper()] = price
        events: list[BookEvent] = []
        budget = volume
        for order in sorted(self.orders.values(), key=lambda o: o.perm_id):
            if order.listing.symbol != symbol.upper() or order.is_done:
                continue
            order.resting = False
            before = order.filled
            events += self.try_fill(order, None if budget is None else [budget], keep=True)
            if budget is not None:
                budget -= order.filled - before
                if budget <= 0:
                    break
        return events

    def try_fill(
        self, order: SimOrder, chunks: list[float] | None = None, keep: bool = False
    ) -> list[BookEvent]:
        """Fill ``order`` if the price crosses it: all of it, or these ``chunks`` (the
        remainder then rests until the next price, unless ``keep`` leaves it working)."""
        if not order.is_working or order.remaining <= 0:
            return []
        price = self.prices.get(order.listing.symbol)
        if price is None or not self._crossed(order, price):
            return []
        sizes = [min(c, order.remaining) for c in chunks] if chunks else [order.remaining]
        events: list[BookEvent] = []
        for size in sizes:
            if size <= 0 or order.remaining <= 0:
                break
            events += self.execute(order, size, price)
        if not order.is_done and chunks and not keep:
            order.resting = True
        return events

    def execute(self, order: SimOrder, shares: float, price: float) -> list[BookEvent]:
        """One execution of ``shares`` at ``price``: order, holding and cash all move."""
        listing = order.listing
        sign = 1 if order.action == "BUY" else -1
        order.avg_fill_price = (order.avg_fill_price * order.filled + price * shares) / (
            order.filled + shares
        )
        order.filled += shares
        order.last_fill_price = price
        if order.remaining <= 0:
            order.status = "Filled"
            order.completed_time = ib_time()
            order.completed_status = "Filled"
        commission = commission_for(listing, shares, price)
        holding = self.holdings.setdefault(listing.con_id, Holding())
        new_qty = holding.quantity + sign * shares
        if holding.quantity == 0 or (holding.quantity > 0) == (sign > 0):
            total = abs(holding.quantity) * holding.avg_cost + shares * price
            holding.avg_cost = total / abs(new_qty) if new_qty else 0.0
        elif new_qty == 0:
            holding.avg_cost = 0.0
        elif (new_qty > 0) != (holding.quantity > 0):
            holding.avg_cost = price  # flipped through zero
        holding.quantity = new_qty
        self.cash[listing.currency] = (
            self.cash.get(listing.currency, 0.0) - sign * shares * price - commission
        )
        seq = len(self.executions) + 1
        execution = SimExecution(
            exec_id=f"{order.perm_id:08x}.{seq:08x}.01.01",
            perm_id=order.perm_id,
            order_id=order.order_id,
            client_id=order.client_id,
            listing=listing,
            side="BOT" if sign > 0 else "SLD",
            shares=shares,
            price=price,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            order_ref=order.order_ref,
            account=order.account,
            time=datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC"),
            commission=commission,
            currency=listing.currency,
        )
        self.executions.append(execution)
        events = [BookEvent("execution", order, execution), BookEvent("order", order)]
        from adapters.brokers.ibkr_sim.protective import oca_after_fill

        events += oca_after_fill(self, order, shares)
        if order.is_done:
            events += self._after_done(order)
        return events

    # ---- brackets ------------------------------------------------------------------
    def _children(self, order: SimOrder) -> list[SimOrder]:
        return [
            o
            for o in self.orders.values()
            if o.parent_id == order.order_id and o.client_id == order.client_id
        ]

    def _parent_filled(self, child: SimOrder) -> bool:
        parent = self.order_for(child.client_id, child.parent_id)
        return parent is None or parent.status == "Filled"

    def _after_done(self, order: SimOrder) -> list[BookEvent]:
        events: list[BookEvent] = []
        if order.status == "Filled":
            for child in self._children(order):  # bracket legs go live
                if child.status == "PreSubmitted":
                    child.status = "Submitted"
                    events.append(BookEvent("order", child))
                    events += self.try_fill(child)
        if order.parent_id:  # one leg filled: the other legs are cancelled (OCA)
            for sibling in self.orders.values():
                if (
                    sibling is not order
                    and sibling.client_id == order.client_id
                    and sibling.parent_id == order.parent_id
                    and not sibling.is_done
                ):
                    events += self.cancel(sibling)
        return events

    @staticmethod
    def _crossed(order: SimOrder, price: float) -> bool:
        buy = order.action == "BUY"
        if order.order_type == "MKT":
            return True
        if order.order_type == "LMT" and order.lmt_price is not None:
            return price <= order.lmt_price if buy else price >= order.lmt_price
        if order.order_type == "STP" and order.aux_price is not None:
            return price >= order.aux_price if buy else price <= order.aux_price
        return False
