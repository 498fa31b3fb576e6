"""The paper account's in-memory state, and how it is rebuilt from the ``Store``.

The broker writes a fill, then its order, then (once per bar) a portfolio snapshot. A crash
can stop it between any two writes, so recovery trusts the fills most:

1. portfolio = latest snapshot, then every stored fill of this account passed through
   ``apply_fill`` (a no-op for fills the snapshot already holds: it keeps their ids);
2. an order whose stored fills go beyond its ``filled_quantity`` gets the missing ones
   through ``Order.with_fill`` (fill ids encode where each fill starts, so the missing ones
   are exactly known);
3. a bracket parent whose children were never written gets them now.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from adapters.brokers import bracket_child_ref, bracket_legs, bracket_parent_ref
from adapters.brokers.paper.config import PaperBrokerConfig
from core.errors import IllegalTransitionError, OrderError
from core.orders import OPEN, Fill, Order, OrderEvent, OrderStatus
from core.portfolio import Portfolio, apply_fill
from core.ports import Store


@dataclass
class RecoveredState:
    """Everything the broker keeps in memory; the store holds the same, durably."""

    portfolio: Portfolio
    currencies: dict[str, str] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    open_ids: dict[str, None] = field(default_factory=dict)  # ordered set, oldest first
    by_ref: dict[str, str] = field(default_factory=dict)
    parent_of: dict[str, str] = field(default_factory=dict)
    legs: dict[str, list[str]] = field(default_factory=dict)
    seq: int = 0
    discrepancies: list[str] = field(default_factory=list)
    repaired_orders: list[Order] = field(default_factory=list)
    portfolio_repaired: bool = False  # fills replayed past the latest snapshot

    def index(self, order: Order) -> None:
        oid = order.order_id
        if oid not in self.orders:
            self.by_ref[order.client_ref] = oid
            parent_ref = bracket_parent_ref(order.client_ref)
            parent_id = None if parent_ref is None else self.by_ref.get(parent_ref)
            if parent_id is not None:
                self.parent_of[oid] = parent_id
                self.legs.setdefault(parent_id, []).append(oid)
        self.orders[oid] = order
        if order.status in OPEN:
            self.open_ids[oid] = None  # an existing key keeps its (age) position
        else:
            self.open_ids.pop(oid, None)

    def legs_filled(self, parent_id: str) -> int:
        return sum(self.orders[c].filled_quantity for c in self.legs.get(parent_id, []))


def fill_start(fill: Fill) -> int:
    """The cumulative share a paper fill starts at, from its id ``<order_id>.<start>``."""
    return int(fill.fill_id.rsplit(".", 1)[1])


def recover(store: Store, config: PaperBrokerConfig) -> RecoveredState:
    prefix = f"{config.label}-"
    portfolio = store.latest_snapshot(config.label) or Portfolio.open(
        config.starting_cash, config.currency
    )
    saved_currencies = store.kv_get(f"{config.label}.currencies") or {}
    state = RecoveredState(
        portfolio=portfolio, currencies={**config.symbol_currency, **saved_currencies}
    )
    for order in store.orders():
        if order.order_id.startswith(prefix):
            state.index(order)
            state.seq = max(state.seq, _seq(order.order_id, prefix))

    fills_by_order: dict[str, list[Fill]] = defaultdict(list)
    for fill in store.fills():
        if fill.order_id in state.orders:
            fills_by_order[fill.order_id].append(fill)
    for order_id, fills in fills_by_order.items():
        fills.sort(key=fill_start)
        for fill in fills:
            state.portfolio = apply_fill(state.portfolio, fill)
        _replay_order_fills(store, state, state.orders[order_id], fills)
    state.portfolio_repaired = state.portfolio is not portfolio

    _restore_bracket_children(store, state, prefix)
    return state


def _replay_order_fills(
    store: Store, state: RecoveredState, order: Order, fills: list[Fill]
) -> None:
    for fill in fills:
        if fill_start(fill) <= order.filled_quantity:
            continue  # already in the order
        try:
            order = order.with_fill(fill)
        except (OrderError, IllegalTransitionError) as exc:
            state.discrepancies.append(f"FILL_NOT_IN_ORDER: fill={fill.fill_id} error={exc}")
            return
        store.save_order(order)
        state.index(order)
        state.repaired_orders.append(order)


def _restore_bracket_children(store: Store, state: RecoveredState, prefix: str) -> None:
    for parent in list(state.orders.values()):
        if not parent.intent.is_bracket or bracket_parent_ref(parent.client_ref) is not None:
            continue
        if parent.status in (OrderStatus.REJECTED, OrderStatus.DENIED, OrderStatus.NEW):
            continue
        if parent.status is OrderStatus.CANCELLED and parent.filled_quantity == 0:
            continue
        for leg, intent in bracket_legs(parent.intent):
            ref = bracket_child_ref(parent.client_ref, leg)
            if ref in state.by_ref:
                continue
            state.seq += 1
            child = Order(order_id=f"{prefix}{state.seq:06d}", client_ref=ref, intent=intent)
            child = child.transition(OrderEvent.SUBMIT, broker_order_id=child.order_id)
            store.save_order(child)
            state.index(child)
            state.repaired_orders.append(child)


def _seq(order_id: str, prefix: str) -> int:
    try:
        return int(order_id[len(prefix) :])
    except ValueError:
        return 0
