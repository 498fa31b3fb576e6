"""PaperBroker: the default ``Broker``, filling orders against the bars and quotes it is fed.

Every state change goes through the domain's single paths: order status only through
``Order.transition`` / ``Order.with_fill``, holdings only through ``apply_fill``. Each change
is written to the ``Store`` before it is announced, in this order: fill, order, (per bar)
portfolio snapshot, so a restarted broker rebuilds exactly from the store (see
``adapters.brokers.paper.recovery``). One ``asyncio.Lock`` serialises every mutation, so any
number of concurrent ``place`` / ``cancel`` / ``on_bar`` tasks cannot lose an update.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from adapters.brokers import bracket_child_ref, bracket_legs, is_reserved_ref
from adapters.brokers.paper.config import PaperBrokerConfig
from adapters.brokers.paper.matching import (
    Bar,
    Quote,
    as_utc,
    bar_fill_price,
    buying_power_rejection,
    check_bar,
    incremental_commission,
    quote_fill_price,
    volume_cap,
)
from adapters.brokers.paper.recovery import RecoveredState, recover
from core.errors import DataValidationError, IllegalTransitionError, OrderError, TemporaryError
from core.instruments import Instrument
from core.orders import (
    CANCELLABLE,
    TERMINAL,
    Fill,
    Order,
    OrderChange,
    OrderEvent,
    OrderIntent,
    TimeInForce,
    order_change,
    utcnow,
)
from core.portfolio import Portfolio, Position, apply_fill
from core.ports import AccountSummary, BrokerEvent, BrokerEventType, Store

PriceRule = Callable[[Order], float | None]


class PaperBroker:
    """A simulated broker account persisted in a ``Store``; never live."""

    def __init__(self, store: Store, config: PaperBrokerConfig | None = None) -> None:
        self._store = store
        self._config = config or PaperBrokerConfig()
        self._lock = asyncio.Lock()
        self._events: asyncio.Queue[BrokerEvent] = asyncio.Queue(self._config.event_buffer)
        self._state: RecoveredState | None = None
        self.dropped_events = 0

    # -- connection ----------------------------------------------------------------------
    @property
    def is_live(self) -> bool:
        return False

    @property
    def config(self) -> PaperBrokerConfig:
        return self._config

    async def connect(self) -> None:
        """Load the account from the store: open orders, fills, portfolio (idempotent)."""
        async with self._lock:
            if self._state is None:
                self._state = recover(self._store, self._config)
                if self._state.portfolio_repaired:
                    self._store.save_snapshot(self._state.portfolio, self._config.label)
                for problem in self._state.discrepancies:
                    self._emit(BrokerEventType.DISCREPANCY, message=problem)
                for order in self._state.repaired_orders:
                    self._emit(BrokerEventType.ORDER_STATUS, order=order)

    async def disconnect(self) -> None:
        """Forget the in-memory state; the store already holds all of it (every change
        was written when it happened), so a read-only session writes nothing."""
        async with self._lock:
            self._state = None

    def _live_state(self) -> RecoveredState:
        if self._state is None:
            raise TemporaryError("paper broker is not connected: call connect() first")
        return self._state

    # -- queries -------------------------------------------------------------------------
    async def qualify(self, instrument: Instrument) -> Instrument:
        """Paper trades any listing as given; it remembers the currency for commissions."""
        self._live_state()  # fail fast, before waiting for the lock
        async with self._lock:
            state = self._live_state()
            if state.currencies.get(instrument.symbol) != instrument.currency:
                state.currencies[instrument.symbol] = instrument.currency
                self._store.kv_set(self._currencies_key, dict(state.currencies), actor="paper")
        return instrument

    async def open_orders(self) -> list[Order]:
        state = self._live_state()
        return [state.orders[oid] for oid in state.open_ids]

    async def positions(self) -> list[Position]:
        return list(self._live_state().portfolio.open_positions.values())

    async def account(self) -> AccountSummary:
        portfolio = self._live_state().portfolio
        return AccountSummary(
            cash=portfolio.cash,
            equity=portfolio.equity,
            buying_power=self._buying_power(portfolio),
            currency=portfolio.currency,
        )

    async def executions(self, since: datetime | None = None) -> list[Fill]:
        state = self._live_state()
        return [f for f in self._store.fills(since=since) if f.order_id in state.orders]

    async def portfolio(self) -> Portfolio:
        """The whole portfolio (peak, commissions, marks): more than the port exposes."""
        return self._live_state().portfolio

    async def events(self) -> AsyncIterator[BrokerEvent]:
        while True:
            yield await self._events.get()

    # -- commands ------------------------------------------------------------------------
    async def place(self, intent: OrderIntent, client_ref: str) -> Order:
        """Submit ``intent`` once per ``client_ref``: a reference seen before (in this process
        or, through the store, in an earlier one) returns that order and sends nothing."""
        self._live_state()  # fail fast, before waiting for the lock
        if not client_ref or is_reserved_ref(client_ref):
            raise OrderError(f"client_ref {client_ref!r} is empty or contains '#' (reserved)")
        async with self._lock:
            state = self._live_state()
            existing = self._seen(client_ref)
            if existing is not None:
                return existing
            self._config.commission_model(self._currency(intent.symbol))  # fail before sending
            reason = buying_power_rejection(
                intent, state.portfolio, self._buying_power(state.portfolio)
            )
            if reason is not None:
                return self._record(self._new_order(intent, client_ref), OrderEvent.REJECT, reason)
            parent = self._record(self._new_order(intent, client_ref), OrderEvent.SUBMIT)
            for leg, child_intent in bracket_legs(intent):
                child = self._new_order(child_intent, bracket_child_ref(client_ref, leg))
                self._record(child, OrderEvent.SUBMIT)
            return parent

    async def cancel(self, order_id: str) -> Order:
        self._live_state()  # fail fast, before waiting for the lock
        async with self._lock:
            state = self._live_state()
            order = state.orders.get(order_id)
            if order is None:
                raise OrderError(f"unknown order {order_id}")
            if order.status not in CANCELLABLE:
                raise OrderError(f"cannot cancel order {order_id}: it is {order.status.value}")
            cancelled = self._record(order, OrderEvent.CANCEL, "cancelled by client")
            if order_id in state.legs:
                self._settle_bracket(order_id)
            return cancelled

    async def modify(
        self,
        order_id: str,
        change: OrderChange | None = None,
        *,
        quantity: int | None = None,
        stop_price: float | None = None,
        limit_price: float | None = None,
    ) -> Order:
        """Change a working order in place (same order id): it trades on its new quantity,
        stop or limit from the next bar or quote on. Nothing to change: the order as is."""
        change = order_change(
            change, quantity=quantity, stop_price=stop_price, limit_price=limit_price
        )
        self._live_state()  # fail fast, before waiting for the lock
        async with self._lock:
            order = self._live_state().orders.get(order_id)
            if order is None:
                raise OrderError(f"unknown order {order_id}")
            try:
                updated = order.modified(change)
            except IllegalTransitionError:
                raise OrderError(
                    f"cannot modify order {order_id}: it is {order.status.value}"
                ) from None
            if updated is not order:
                self._store_order(updated)
                self._emit(BrokerEventType.ORDER_STATUS, order=updated)
            return updated

    async def expire_day_orders(self) -> list[Order]:
        """The trading day ended: cancel every open DAY order, as a broker does at the close.
        GTC orders stay, bracket children included (they are GTC); a partly filled bracket
        parent's children keep protecting what it filled."""
        self._live_state()
        async with self._lock:
            state = self._live_state()
            expired: list[Order] = []
            for order_id in list(state.open_ids):
                order = state.orders[order_id]
                if order.intent.tif is TimeInForce.DAY and order.status in CANCELLABLE:
                    expired.append(self._record(order, OrderEvent.CANCEL, "DAY order expired"))
                    if order_id in state.legs:
                        self._settle_bracket(order_id)
            return expired

    # -- market data ---------------------------------------------------------------------
    async def on_bar(
        self,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts: datetime | None = None,
    ) -> list[Fill]:
        """Fill the symbol's resting orders against one new bar, then mark it at the close."""
        bar = Bar(open=open, high=high, low=low, close=close, volume=volume)
        check_bar(symbol, bar)
        when = as_utc(ts)
        slippage = self._config.slippage
        self._live_state()  # fail fast, before waiting for the lock
        async with self._lock:
            state = self._live_state()
            cap = volume_cap(bar.volume, self._config.max_volume_share)
            rule: PriceRule = lambda o: bar_fill_price(o, bar, slippage)  # noqa: E731
            fills = self._match(state, symbol, rule, cap, when)
            self._mark(state, symbol, bar.close, when, changed=bool(fills))
        return fills

    async def on_quote(
        self, symbol: str, bid: float, ask: float, ts: datetime | None = None
    ) -> list[Fill]:
        """Fill the symbol's resting orders against a quote, then mark it at the mid."""
        if not 0 < bid <= ask:
            raise DataValidationError(f"{symbol}: quote needs 0 < bid <= ask, got {bid} / {ask}")
        quote = Quote(bid=bid, ask=ask)
        when = as_utc(ts)
        slippage = self._config.slippage
        self._live_state()  # fail fast, before waiting for the lock
        async with self._lock:
            state = self._live_state()
            rule: PriceRule = lambda o: quote_fill_price(o, quote, slippage)  # noqa: E731
            fills = self._match(state, symbol, rule, None, when)
            self._mark(state, symbol, quote.mid, when, changed=bool(fills))
        return fills

    # -- internals (all called with the lock held) ---------------------------------------
    @property
    def _currencies_key(self) -> str:
        return f"{self._config.label}.currencies"

    def _currency(self, symbol: str) -> str:
        state = self._live_state()
        return state.currencies.get(symbol, self._config.currency)

    def _buying_power(self, portfolio: Portfolio) -> float:
        return max(0.0, portfolio.equity * self._config.leverage - portfolio.gross_exposure)

    def _seen(self, client_ref: str) -> Order | None:
        state = self._live_state()
        known = state.by_ref.get(client_ref)
        if known is not None:
            return state.orders[known]
        stored = self._store.order_by_client_ref(client_ref)
        if stored is not None and stored.order_id not in state.orders:
            # Another account (or an unknown writer) owns this reference in the same store:
            # answering with its order would report an order this account never placed.
            raise OrderError(f"client_ref {client_ref} belongs to order {stored.order_id}")
        return stored

    def _new_order(self, intent: OrderIntent, client_ref: str) -> Order:
        state = self._live_state()
        state.seq += 1
        order_id = f"{self._config.label}-{state.seq:06d}"
        return Order(order_id=order_id, client_ref=client_ref, intent=intent)

    def _record(self, order: Order, event: OrderEvent, reason: str | None = None) -> Order:
        """Apply one status event, persist, index and announce the order."""
        changes: dict[str, object] = {}
        if order.broker_order_id is None:
            changes["broker_order_id"] = order.order_id
        updated = order.transition(event, reason=reason, **changes)
        self._store_order(updated)
        self._emit(BrokerEventType.ORDER_STATUS, order=updated)
        return updated

    def _store_order(self, order: Order) -> None:
        state = self._live_state()
        self._store.save_order(order)
        state.index(order)

    def _match(
        self,
        state: RecoveredState,
        symbol: str,
        price_of: PriceRule,
        cap: int | None,
        ts: datetime,
    ) -> list[Fill]:
        """Fill resting orders oldest first within ``cap`` shares (``None``: no cap).

        Bracket children trade only what their parent had filled *before* this bar began:
        the path inside a bar is unknown, so a child never fills on its parent's bar.
        """
        resting = [state.orders[oid] for oid in state.open_ids]
        resting = [o for o in resting if o.symbol == symbol]
        parent_filled = {
            pid: state.orders[pid].filled_quantity
            for o in resting
            if (pid := state.parent_of.get(o.order_id)) is not None
        }
        fills: list[Fill] = []
        left = cap
        for snapshot in resting:
            order = state.orders[snapshot.order_id]
            if order.is_terminal:  # an OCA sibling filled earlier in this bar
                continue
            quantity = order.remaining
            parent_id = state.parent_of.get(order.order_id)
            if parent_id is not None:
                quantity = min(quantity, parent_filled[parent_id] - state.legs_filled(parent_id))
            if left is not None:
                quantity = min(quantity, left)
            if quantity <= 0:
                continue
            price = price_of(order)
            if price is None:
                continue
            fills.append(self._fill(state, order, quantity, price, ts))
            if left is not None:
                left -= quantity
            if parent_id is not None:
                self._settle_bracket(parent_id)
        return fills

    def _fill(
        self, state: RecoveredState, order: Order, quantity: int, price: float, ts: datetime
    ) -> Fill:
        currency = self._currency(order.symbol)
        fee = incremental_commission(
            self._config.commission_model(currency),
            order.filled_quantity,
            order.avg_fill_price * order.filled_quantity,
            quantity,
            price,
        )
        fill = Fill(
            # Unique and stable: the cumulative share this fill starts at cannot repeat.
            fill_id=f"{order.order_id}.{order.filled_quantity + 1}",
            order_id=order.order_id,
            client_ref=order.client_ref,
            symbol=order.symbol,
            side=order.intent.side,
            quantity=quantity,
            price=price,
            commission=fee,
            currency=currency,
            ts=ts,
        )
        filled = order.with_fill(fill)
        self._store.save_fill(fill)
        self._store_order(filled)
        state.portfolio = apply_fill(state.portfolio, fill)
        self._emit(BrokerEventType.FILL, order=filled, fill=fill)
        self._emit(BrokerEventType.ORDER_STATUS, order=filled)
        return fill

    def _settle_bracket(self, parent_id: str) -> None:
        """One-cancels-other: once the parent can fill no more and its children have closed
        all it filled, cancel whatever child is still working."""
        state = self._live_state()
        parent = state.orders[parent_id]
        if parent.status not in TERMINAL:
            return
        if parent.filled_quantity - state.legs_filled(parent_id) > 0:
            return
        for child_id in state.legs.get(parent_id, []):
            child = state.orders[child_id]
            if child.status in CANCELLABLE:
                reason = "one-cancels-other" if parent.filled_quantity else "parent not filled"
                self._record(child, OrderEvent.CANCEL, reason)

    def _mark(
        self, state: RecoveredState, symbol: str, price: float, ts: datetime, *, changed: bool
    ) -> None:
        """Revalue the symbol; snapshot only when holdings or their value moved."""
        if symbol in state.portfolio.positions:
            state.portfolio = state.portfolio.mark({symbol: price}, as_of=ts)
            changed = True
        if changed:
            self._store.save_snapshot(state.portfolio, self._config.label)

    def _emit(
        self,
        kind: BrokerEventType,
        *,
        order: Order | None = None,
        fill: Fill | None = None,
        message: str = "",
    ) -> None:
        event = BrokerEvent(type=kind, order=order, fill=fill, message=message, ts=utcnow())
        if self._events.full():
            # Nobody is draining the stream: drop the oldest rather than block trading.
            self._events.get_nowait()
            self.dropped_events += 1
        self._events.put_nowait(event)
