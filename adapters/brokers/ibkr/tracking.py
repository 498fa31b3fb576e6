"""Local order state for the IBKR broker, kept in the Store and moved only through
``Order.transition`` / ``Order.with_fill``.

IB reports reach us as plain views from ``client.py``; the ``orderRef`` on each one is
our ``client_ref`` (bracket children carry ``#tp`` / ``#sl`` suffixes). Executions are
held until their commission report arrives (or a short wait passes), then applied once:
an execId already seen is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime

from adapters.brokers.ibkr.client import ExecView, TradeView
from adapters.brokers.ibkr.translate import (
    LIVE_STATUSES,
    PENDING_STATUSES,
    SIDES_FROM_IB,
    STATUS_EVENTS,
    IbErrorClass,
    classify_error,
)
from core.errors import IllegalTransitionError, OrderError
from core.orders import Fill, Order, OrderChange, OrderEvent, OrderIntent, OrderType, utcnow
from core.ports import BrokerEvent, BrokerEventType, Store

log = logging.getLogger("quorum.ibkr")
Emit = Callable[[BrokerEvent], None]


ORDER_ID_PREFIX = "ib-"
MAX_QUEUED_EVENTS = 10_000


def order_id_for(client_ref: str) -> str:
    """Our order id is a pure function of the client ref: a restart finds the same one."""
    return ORDER_ID_PREFIX + hashlib.sha256(client_ref.encode()).hexdigest()[:16]


def is_ibkr_order(order_id: str) -> bool:
    """Orders this broker created. A store may also hold the paper broker's orders:
    reconciliation and the views must never touch those."""
    return order_id.startswith(ORDER_ID_PREFIX)


def event(kind: BrokerEventType, **fields: object) -> BrokerEvent:
    return BrokerEvent(type=kind, ts=utcnow(), **fields)


class OrderTracker:
    def __init__(self, store: Store, emit: Emit, commission_wait_s: float = 1.0) -> None:
        self.store = store
        self.emit = emit
        self.commission_wait_s = commission_wait_s
        self.attempt_ids: dict[str, int] = {}  # client_ref -> IB order id of the live attempt
        self._acks: dict[int, asyncio.Future[TradeView | None]] = {}
        self._pending: dict[str, ExecView] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # ---- orders ----------------------------------------------------------------------
    def order(self, client_ref: str) -> Order | None:
        found = self.store.order_by_client_ref(client_ref)
        return found if found is not None and is_ibkr_order(found.order_id) else None

    def order_by_id(self, order_id: str) -> Order | None:
        found = self.store.order(order_id)
        return found if found is not None and is_ibkr_order(found.order_id) else None

    def orders(self, open_only: bool = False) -> list[Order]:
        return [o for o in self.store.orders(open_only) if is_ibkr_order(o.order_id)]

    def fills(self, since: datetime | None = None) -> list[Fill]:
        return [f for f in self.store.fills(since=since) if is_ibkr_order(f.order_id)]

    def create(self, intent: OrderIntent, client_ref: str) -> Order:
        order = Order(order_id=order_id_for(client_ref), client_ref=client_ref, intent=intent)
        self.store.save_order(order)
        return order

    def apply(
        self,
        client_ref: str,
        ev: OrderEvent,
        *,
        reason: str | None = None,
        code: int | None = None,
        **changes: object,
    ) -> Order | None:
        """Move the stored order by ``ev``; an illegal pair is logged and ignored (IB
        repeats statuses), never forced."""
        current = self.order(client_ref)
        if current is None:
            return None
        try:
            updated = current.transition(ev, reason=reason, **changes)
        except IllegalTransitionError:
            log.debug("ignored %s for %s in %s", ev.value, client_ref, current.status.value)
            return None
        self.store.save_order(updated)
        self.emit(
            event(BrokerEventType.ORDER_STATUS, order=updated, code=code, message=reason or "")
        )
        return updated

    def modified(self, client_ref: str, change: OrderChange) -> Order | None:
        """The stored order on new terms (event MODIFY); ``None`` if it is not working."""
        current = self.order(client_ref)
        if current is None:
            return None
        try:
            updated = current.modified(change)
        except (IllegalTransitionError, OrderError) as exc:
            log.debug("ignored modification of %s: %s", client_ref, exc)
            return None
        if updated is not current:
            self.store.save_order(updated)
            self.emit(event(BrokerEventType.ORDER_STATUS, order=updated, message="modified"))
        return updated

    def adopt_terms(self, view: TradeView) -> Order | None:
        """TWS works the order on other terms than ours (our modification, an OCA group
        that reduced it, another client): take its quantity and stop / limit price."""
        current = self.order(view.order_ref)
        if current is None or not current.is_open or view.status not in LIVE_STATUSES:
            return None
        intent, quantity = current.intent, round(view.quantity)
        change: dict[str, float] = {}
        if quantity != intent.quantity and quantity > current.filled_quantity:
            change["quantity"] = quantity
        price = view.stop_price if intent.order_type is OrderType.STOP else view.limit_price
        ours = intent.stop_price if intent.order_type is OrderType.STOP else intent.limit_price
        if price is not None and ours is not None and abs(price - ours) > 1e-9:
            key = "stop_price" if intent.order_type is OrderType.STOP else "limit_price"
            change[key] = price
        if not change:
            return None
        return self.modified(view.order_ref, OrderChange.model_validate(change))

    # ---- acknowledgements --------------------------------------------------------------
    def expect_ack(self, ib_order_id: int) -> asyncio.Future[TradeView | None]:
        future: asyncio.Future[TradeView | None] = asyncio.get_running_loop().create_future()
        self._acks[ib_order_id] = future
        return future

    def release_acks(self) -> None:
        """The link went down: nobody will acknowledge; place() settles via reconcile."""
        for future in self._acks.values():
            if not future.done():
                future.set_result(None)
        self._acks.clear()

    # ---- IB order statuses -------------------------------------------------------------
    def on_status(self, view: TradeView) -> None:
        ref = view.order_ref
        current_attempt = self.attempt_ids.get(ref)
        if current_attempt is not None and view.order_id and view.order_id != current_attempt:
            return  # a superseded attempt (paced or orphaned bracket leg)
        kind = classify_error(view.error_code) if view.error_code else None
        if view.status not in PENDING_STATUSES:
            future = self._acks.pop(view.order_id, None)
            if future is not None and not future.done():
                future.set_result(view)
        if kind in (IbErrorClass.PACING, IbErrorClass.CANNOT_CANCEL, IbErrorClass.ORPHANED_LEG):
            return  # place() retries pacing and settles legs; a refused cancel changes nothing
        self.settle_status(view)

    def settle_status(self, view: TradeView) -> Order | None:
        """Bring the local order in line with one IB status (also used by reconcile)."""
        ref = view.order_ref
        self.adopt_terms(view)
        ev = STATUS_EVENTS.get(view.status)
        code = view.error_code or None
        rejected = view.completed_status.startswith("Rejected") or (
            code is not None
            and classify_error(code)
            in (IbErrorClass.ORDER_REJECTED, IbErrorClass.NO_CONTRACT, IbErrorClass.OTHER)
        )
        if ev is OrderEvent.CANCEL and rejected:
            reason = f"IB_{code}: {view.error_text}" if code else view.completed_status
            return self.apply(ref, OrderEvent.REJECT, reason=reason, code=code)
        if ev is OrderEvent.CANCEL:
            return self.apply(ref, OrderEvent.CANCEL, reason="cancelled at broker")
        if ev is OrderEvent.REJECT:
            return self.apply(ref, OrderEvent.REJECT, reason=f"IB status {view.status}", code=code)
        if ev is OrderEvent.SUBMIT:
            current = self.order(ref)
            if current is not None and current.status.value == "new":
                return self.apply(ref, OrderEvent.SUBMIT, broker_order_id=str(view.perm_id))
        return None

    # ---- executions --------------------------------------------------------------------
    def on_execution(self, ex: ExecView) -> None:
        if ex.exec_id in self._pending or self._already_applied(ex):
            return
        self._pending[ex.exec_id] = ex
        if ex.commission is not None or self.commission_wait_s == 0:
            self.finish_execution(ex.exec_id)
            return
        loop = asyncio.get_running_loop()
        self._timers[ex.exec_id] = loop.call_later(
            self.commission_wait_s, self.finish_execution, ex.exec_id
        )

    def on_commission(self, exec_id: str, commission: float) -> None:
        ex = self._pending.get(exec_id)
        if ex is not None:
            self._pending[exec_id] = ExecView(**{**ex.__dict__, "commission": commission})
            self.finish_execution(exec_id)

    def flush(self) -> None:
        """Apply every held execution now (commission 0 if its report never came)."""
        for exec_id in list(self._pending):
            self.finish_execution(exec_id)

    def _already_applied(self, ex: ExecView) -> bool:
        order = self.order(ex.order_ref)
        if order is None:
            return False
        return any(f.fill_id == ex.exec_id for f in self.store.fills(order.order_id))

    def finish_execution(self, exec_id: str) -> Fill | None:
        timer = self._timers.pop(exec_id, None)
        if timer is not None:
            timer.cancel()
        ex = self._pending.pop(exec_id, None)
        if ex is None:
            return None
        return self.apply_execution(ex)

    def apply_execution(self, ex: ExecView) -> Fill | None:
        order = self.order(ex.order_ref)
        if order is None:
            self.emit(
                event(
                    BrokerEventType.DISCREPANCY,
                    message=f"execution {ex.exec_id} for unknown orderRef "
                    f"{ex.order_ref!r}: {ex.side} {ex.shares} {ex.symbol}",
                )
            )
            return None
        fill = Fill(
            fill_id=ex.exec_id,
            order_id=order.order_id,
            client_ref=order.client_ref,
            symbol=order.symbol,
            side=SIDES_FROM_IB[ex.side],
            quantity=round(ex.shares),
            price=ex.price,
            commission=max(ex.commission or 0.0, 0.0),
            currency=ex.currency or "USD",
            ts=ex.time,
        )
        try:
            updated = order.with_fill(fill)
        except (OrderError, IllegalTransitionError) as exc:
            self.emit(
                event(
                    BrokerEventType.DISCREPANCY,
                    order=order,
                    fill=fill,
                    message=f"fill {ex.exec_id} does not fit the order: {exc}",
                )
            )
            return None
        if not self.store.save_fill(fill):
            return None  # stored before: a duplicate execution report
        self.store.save_order(updated)
        self.emit(event(BrokerEventType.FILL, order=updated, fill=fill))
        self.emit(event(BrokerEventType.ORDER_STATUS, order=updated))
        return fill
