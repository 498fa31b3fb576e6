"""After every (re)connection: settle local orders against what TWS says happened.

TWS is the truth for what was executed. Each difference found is both repaired (through
the order state machine) and reported as a ``DISCREPANCY`` event, so the operator sees
everything that happened while we were away.
"""

from __future__ import annotations

from collections import defaultdict

from adapters.brokers.ibkr.client import ExecView, PositionView, TradeView
from adapters.brokers.ibkr.tracking import OrderTracker, event
from adapters.brokers.ibkr.translate import (
    DONE_STATUSES,
    ORDER_TYPES_FROM_IB,
    SIDES_FROM_IB,
    STOP_LOSS_SUFFIX,
    TAKE_PROFIT_SUFFIX,
)
from core.orders import OrderEvent, OrderIntent, OrderStatus, TimeInForce
from core.ports import BrokerEvent, BrokerEventType

NOT_AT_BROKER = "NOT_AT_BROKER: order never reached TWS"


def _base_ref(ref: str) -> str:
    for suffix in (TAKE_PROFIT_SUFFIX, STOP_LOSS_SUFFIX):
        if ref.endswith(suffix):
            return ref[: -len(suffix)]
    return ref


def _intent_from(view: TradeView) -> OrderIntent | None:
    order_type = ORDER_TYPES_FROM_IB.get(view.order_type)
    if order_type is None or view.action not in SIDES_FROM_IB or view.quantity <= 0:
        return None
    try:
        return OrderIntent(
            symbol=view.symbol,
            side=SIDES_FROM_IB[view.action],
            quantity=round(view.quantity),
            order_type=order_type,
            limit_price=view.limit_price if order_type.value == "LMT" else None,
            stop_price=view.stop_price if order_type.value == "STP" else None,
            tif=TimeInForce.GTC if view.tif == "GTC" else TimeInForce.DAY,
        )
    except ValueError:
        return None


def reconcile(
    tracker: OrderTracker,
    trades: list[TradeView],
    executions: list[ExecView],
    positions: list[PositionView],
    ref_prefix: str = "q-",
) -> list[BrokerEvent]:
    """Repair local state from TWS's views; return one DISCREPANCY per difference."""
    found: list[BrokerEvent] = []

    def report(message: str, **fields: object) -> None:
        ev = event(BrokerEventType.DISCREPANCY, message=message, **fields)
        found.append(ev)
        tracker.emit(ev)

    by_ref: dict[str, list[TradeView]] = defaultdict(list)
    for view in trades:
        if view.order_ref:
            by_ref[view.order_ref].append(view)

    # 1. orders TWS knows that we do not (placed before a crash that lost the store)
    for ref, views in by_ref.items():
        if tracker.order(ref) is None and _base_ref(ref).startswith(ref_prefix):
            intent = _intent_from(views[0])
            if intent is None:
                report(f"broker order {ref!r} cannot be mapped to an intent")
                continue
            tracker.create(intent, ref)
            tracker.apply(ref, OrderEvent.SUBMIT, broker_order_id=str(views[0].perm_id))
            report(f"adopted broker order {ref!r} unknown locally")

    # 2. executions we missed (filled while disconnected, or never acknowledged)
    for ex in executions:
        before = tracker.order(ex.order_ref)
        if before is None or tracker._already_applied(ex):
            continue
        if before.status is OrderStatus.NEW:
            tracker.apply(ex.order_ref, OrderEvent.SUBMIT)
        fill = tracker.apply_execution(ex)
        if fill is not None:
            report(
                f"missed fill {ex.exec_id}: {ex.side} {ex.shares:g} {ex.symbol} @ {ex.price}",
                fill=fill,
                order=tracker.order(ex.order_ref),
            )

    # 3. local orders still open: does TWS agree?
    local_open = [o for o in tracker.orders() if o.status in (OrderStatus.NEW, *_open_statuses())]
    for order in local_open:
        attempt = tracker.attempt_ids.get(order.client_ref)
        views = [
            v
            for v in by_ref.get(order.client_ref, [])
            if not (attempt and v.order_id and v.order_id != attempt)
        ]
        if not views:
            if order.status in _open_statuses() and order.filled_quantity == 0:
                updated = tracker.apply(order.client_ref, OrderEvent.REJECT, reason=NOT_AT_BROKER)
                report(f"order {order.client_ref!r} is unknown to TWS", order=updated)
            continue
        view = _most_advanced(views)
        if view.status in DONE_STATUSES and view.status != "Filled":
            updated = tracker.settle_status(view)
            if updated is not None:
                report(
                    f"order {order.client_ref!r} was {view.status} at TWS"
                    f"{' (' + view.completed_status + ')' if view.completed_status else ''}",
                    order=updated,
                )
        elif order.status is OrderStatus.NEW:
            tracker.settle_status(view)
        elif (changed := tracker.adopt_terms(view)) is not None:
            terms = changed.intent
            price = terms.stop_price or terms.limit_price
            report(
                f"order {order.client_ref!r} works at TWS on other terms: "
                f"{terms.quantity} @ {price}",
                order=changed,
            )
        final = tracker.order(order.client_ref)
        if final is not None and view.status == "Filled" and final.remaining > 0:
            report(
                f"order {order.client_ref!r} is Filled at TWS but {final.remaining} "
                f"shares have no execution report yet",
                order=final,
            )

    # 4. positions: TWS versus the net of the fills we hold
    local_net: dict[str, int] = defaultdict(int)
    for fill in tracker.fills():
        local_net[fill.symbol] += fill.side.sign * fill.quantity
    broker_net: dict[str, float] = defaultdict(float)
    for pos in positions:
        broker_net[pos.symbol] += pos.quantity
    for symbol in sorted(set(local_net) | set(broker_net)):
        if abs(broker_net.get(symbol, 0.0) - local_net.get(symbol, 0)) > 1e-9:
            report(
                f"position {symbol}: TWS {broker_net.get(symbol, 0.0):g}, "
                f"local fills {local_net.get(symbol, 0)}"
            )
    return found


def _open_statuses() -> tuple[OrderStatus, ...]:
    return (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


_RANK = {"Filled": 3, "Cancelled": 2, "ApiCancelled": 2, "Inactive": 2}


def _most_advanced(views: list[TradeView]) -> TradeView:
    return max(views, key=lambda v: _RANK.get(v.status, 1))
