"""IBKRBroker: the ``Broker`` port on Interactive Brokers TWS / IB Gateway via ib_async.

- ``client_ref`` travels in IB's ``orderRef``; before sending, the local store and then
  TWS's open, completed and executed orders are searched for it, so a restarted process
  never sends an order twice.
- Executions become fills once (execId), with the commission from IB's report.
- Disconnects (ib_async fires ``disconnectedEvent`` twice) start ONE reconnect loop with
  exponential backoff and jitter; every (re)connection ends with a reconciliation that
  repairs local state and reports each difference as a ``DISCREPANCY`` event.
- Error codes are classed in ``translate.py``: connectivity -> events and
  ``TemporaryError``; 201/203 -> order REJECTED with the code; 10147/10148 ->
  ``OrderError``; 100 -> back off and retry; 326 -> next client id.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from datetime import datetime

from adapters.brokers.ibkr import views
from adapters.brokers.ibkr.brackets import bracket_legs, order_spec
from adapters.brokers.ibkr.changes import cancel_order, modify_order
from adapters.brokers.ibkr.client import (
    ClientCallbacks,
    ClientIdInUseError,
    ContractRef,
    IbClient,
)
from adapters.brokers.ibkr.config import IbkrConfig
from adapters.brokers.ibkr.contracts import (
    AmbiguousContractError,
    ContractNotFoundError,
    ContractResolver,
)
from adapters.brokers.ibkr.pacing import Pacer, backoff_delay
from adapters.brokers.ibkr.reconcile import reconcile
from adapters.brokers.ibkr.tracking import MAX_QUEUED_EVENTS, OrderTracker, event
from adapters.brokers.ibkr.translate import (
    IbErrorClass,
    classify_error,
)
from core.errors import ConfigurationError, TemporaryError
from core.instruments import Instrument
from core.orders import (
    Fill,
    Order,
    OrderChange,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    order_change,
)
from core.portfolio import Position
from core.ports import AccountSummary, BrokerEvent, BrokerEventType, RateLimiter, Store

log = logging.getLogger("quorum.ibkr")
__all__ = ["AmbiguousContractError", "ContractNotFoundError", "IBKRBroker"]


# ib_async's start-up sync: startApi, positions, open and completed orders, account
# updates (plain and multi) and executions.
STARTUP_REQUESTS = 7


class IBKRBroker:
    def __init__(
        self, config: IbkrConfig, store: Store, shared_pacing: RateLimiter | None = None
    ) -> None:
        self.config = config
        self.store = store
        self._events: asyncio.Queue[BrokerEvent] = asyncio.Queue()
        self.tracker = OrderTracker(store, self._emit, config.commission_wait_s)
        self.client = IbClient(
            ClientCallbacks(
                on_status=self.tracker.on_status,
                on_execution=self.tracker.on_execution,
                on_commission=self.tracker.on_commission,
                on_error=self._on_error,
                on_disconnected=self._on_disconnected,
            )
        )
        self.pacer = Pacer(
            config.messages_per_second, config.orders_per_minute, shared=shared_pacing
        )
        self.client_id = config.client_id
        self.last_reconcile: list[BrokerEvent] = []
        self.contracts = ContractResolver(self.client, self.pacer, config, self._backoff)
        self._order_errors: dict[int, tuple[int, str]] = {}
        self._rng = random.Random(config.jitter_seed)
        self._closing = False
        self._in_connect = False
        self._connectivity_lost = False
        self._reconnecting: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[object]] = set()
        self._place_lock = asyncio.Lock()

    @property
    def is_live(self) -> bool:
        return self.config.is_live

    @property
    def is_connected(self) -> bool:
        return self.client.is_connected

    # ---- connection ------------------------------------------------------------------
    async def connect(self) -> None:
        self._closing = False
        await self._connect_once()
        self.last_reconcile = await self.reconcile()

    async def disconnect(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        self.tracker.flush()
        self.client.disconnect()
        self.tracker.release_acks()

    async def _connect_once(self) -> None:
        c = self.config
        ids = [c.client_id + i for i in range(c.client_id_retries + 1)]
        self._in_connect = True  # a failed attempt's own disconnect is not a link loss
        try:
            await self._try_client_ids(ids)
        finally:
            self._in_connect = False

    async def _try_client_ids(self, ids: list[int]) -> None:
        c = self.config
        for client_id in ids:
            await self.pacer.message(STARTUP_REQUESTS)
            try:
                await self.client.connect(
                    c.host, c.port, client_id, c.connect_timeout_s, c.readonly, c.account
                )
            except ClientIdInUseError as exc:
                self._emit(event(BrokerEventType.ERROR, code=326, message=str(exc)))
                continue
            self.client_id = client_id
            self._connectivity_lost = False
            return
        raise TemporaryError(f"client ids {ids} are all in use", broker_code=326)

    async def reconcile(self) -> list[BrokerEvent]:
        """Re-read TWS (open, completed orders, executions) and settle local state."""
        await self.pacer.message(4)
        await self.client.refresh(self.config.request_timeout_s)
        self.tracker.flush()
        return reconcile(
            self.tracker,
            self.client.trades(),
            self.client.executions(),
            self.client.positions(self.config.account),
        )

    def _backoff(self, attempt: int, base: float, cap: float) -> float:
        return backoff_delay(self._rng, attempt, base, cap)

    def _on_disconnected(self) -> None:
        if self._closing or self._in_connect:
            return
        if self._reconnecting is not None and not self._reconnecting.done():
            return  # ib_async 2.1.0 emits disconnectedEvent twice per disconnect
        if self.client.is_connected:
            return  # a duplicate that arrives after the reconnection: the link is up
        self.tracker.release_acks()
        self.tracker.flush()
        self._emit(event(BrokerEventType.DISCONNECTED, message="connection to TWS lost"))
        self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        c, attempt = self.config, 0
        while not self._closing:
            await asyncio.sleep(self._backoff(attempt, c.reconnect_initial_s, c.reconnect_max_s))
            try:
                await self._connect_once()
            except (TemporaryError, OSError, TimeoutError) as exc:
                attempt += 1
                self._emit(event(BrokerEventType.ERROR, message=f"reconnect {attempt}: {exc}"))
                if c.reconnect_max_attempts and attempt >= c.reconnect_max_attempts:
                    return
                continue
            self._emit(event(BrokerEventType.RECONNECTED, message=f"client id {self.client_id}"))
            await self._reconcile_in_background()
            return

    def _on_error(self, req_id: int, code: int, text: str) -> None:
        kind = classify_error(code)
        if req_id > 0:  # order ids: cancel() looks for 10147 / 10148 here
            if len(self._order_errors) > 1_000:
                self._order_errors.clear()
            self._order_errors[req_id] = (code, text)
        if kind is IbErrorClass.CONNECTIVITY_LOST:
            self._connectivity_lost = True
            self._emit(event(BrokerEventType.DISCONNECTED, code=code, message=text))
        elif kind is IbErrorClass.CONNECTIVITY_RESTORED:
            self._connectivity_lost = False
            self._emit(event(BrokerEventType.RECONNECTED, code=code, message=text))
            task = asyncio.get_running_loop().create_task(self._reconcile_in_background())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        elif kind in (IbErrorClass.INFO, IbErrorClass.CLIENT_ID_IN_USE) or code == 2104:
            return
        else:
            self._emit(event(BrokerEventType.ERROR, code=code, message=text))

    async def _reconcile_in_background(self) -> object:
        """Reconcile after a reconnect or a connectivity restore; if the link drops again
        meanwhile, the next reconnection reconciles instead."""
        try:
            self.last_reconcile = await self.reconcile()
        except (TemporaryError, TimeoutError, ConnectionError) as exc:
            log.warning("reconcile after reconnect failed: %s", exc)
            self._emit(event(BrokerEventType.ERROR, message=f"reconcile failed: {exc}"))
        return None

    async def sync(self) -> None:
        """Wait until every message TWS has sent so far is processed (a round trip)."""
        self._require_connected()
        await self.pacer.message()
        await self.client.sync(self.config.request_timeout_s)
        self.tracker.flush()

    def _require_connected(self) -> None:
        if not self.client.is_connected:
            raise TemporaryError("not connected to TWS")
        if self._connectivity_lost:
            raise TemporaryError("TWS has lost connectivity to IB", broker_code=1100)

    def _emit(self, ev: BrokerEvent) -> None:
        if self._events.qsize() >= MAX_QUEUED_EVENTS:  # nobody is listening: keep the newest
            self._events.get_nowait()
        self._events.put_nowait(ev)

    def events(self) -> AsyncIterator[BrokerEvent]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[BrokerEvent]:
        while True:
            yield await self._events.get()

    # ---- contracts -------------------------------------------------------------------
    async def qualify(self, instrument: Instrument) -> Instrument:
        """SMART-routed listing on the instrument's primary exchange and currency; by ISIN
        when one is given (several listings: pick by primary exchange and currency, or
        fail naming the candidates)."""
        self._require_connected()
        ref = await self.contracts.qualify(instrument)
        return Instrument(
            symbol=ref.symbol,
            sec_type=instrument.sec_type,
            exchange="SMART",
            primary_exchange=ref.primary_exchange,
            currency=ref.currency,
            isin=ref.isin or instrument.isin,
        )

    # ---- orders ----------------------------------------------------------------------
    async def place(self, intent: OrderIntent, client_ref: str) -> Order:
        self._require_connected()
        async with self._place_lock:
            existing = self.tracker.order(client_ref)
            if existing is not None and existing.status is not OrderStatus.NEW:
                return existing
            if existing is not None:  # recorded, but the attempt stopped before sending
                intent = existing.intent
            if self._seen_at_broker(client_ref):
                return self._adopt(intent, client_ref)
            if self.config.readonly:
                raise ConfigurationError("IBKR connection is read-only: orders are disabled")
            contract = await self.contracts.for_symbol(intent.symbol)
            if existing is None:
                self.tracker.create(intent, client_ref)  # recorded before it is sent
                for leg_ref, leg in bracket_legs(intent, client_ref):
                    self.tracker.create(leg, leg_ref)
            return await self._send(intent, client_ref, contract)

    def _seen_at_broker(self, client_ref: str) -> bool:
        refs = {t.order_ref for t in self.client.trades()}
        refs |= {e.order_ref for e in self.client.executions()}
        return client_ref in refs

    def _adopt(self, intent: OrderIntent, client_ref: str) -> Order:
        """TWS already has this order (sent before a restart): record it, don't resend."""
        refs = [(client_ref, intent), *bracket_legs(intent, client_ref)]
        for ref, leg in refs:
            self.tracker.create(leg, ref)
            self.tracker.apply(ref, OrderEvent.SUBMIT)
        known = dict(refs)
        for view in self.client.trades():
            if view.order_ref in known:
                self.tracker.settle_status(view)
        for ex in self.client.executions():
            if ex.order_ref in known:
                self.tracker.apply_execution(ex)
        order = self.tracker.order(client_ref)
        assert order is not None
        return order

    def _transmit(
        self, intent: OrderIntent, ref: str, contract: ContractRef, order_id: int
    ) -> None:
        legs = bracket_legs(intent, ref)
        self.client.place(
            contract,
            order_spec(intent, ref),
            order_id=order_id,
            transmit=not legs,
            account=self.config.account,
        )
        for i, (leg_ref, leg) in enumerate(legs):
            leg_id = self.client.next_order_id()
            self.tracker.attempt_ids[leg_ref] = leg_id
            self.client.place(
                contract,
                order_spec(leg, leg_ref, oca_parent=ref),
                order_id=leg_id,
                parent_id=order_id,
                transmit=i == len(legs) - 1,
                account=self.config.account,
            )

    async def _send(self, intent: OrderIntent, ref: str, contract: ContractRef) -> Order:
        c = self.config
        for attempt in range(c.pacing_retries + 1):
            await self.pacer.order()
            waited = self.tracker.order(ref)
            if attempt == 0 and waited is not None and waited.status is not OrderStatus.NEW:
                return waited  # cancelled while it waited for its turn: nothing to send
            self._require_connected()
            order_id = self.client.next_order_id()
            self.tracker.attempt_ids[ref] = order_id
            ack = self.tracker.expect_ack(order_id)
            await self.pacer.message(len(bracket_legs(intent, ref)))
            self._transmit(intent, ref, contract, order_id)
            if attempt == 0:
                self.tracker.apply(ref, OrderEvent.SUBMIT, broker_order_id=str(order_id))
                for leg_ref, _ in bracket_legs(intent, ref):
                    self.tracker.apply(leg_ref, OrderEvent.SUBMIT)
            try:
                view = await asyncio.wait_for(asyncio.shield(ack), c.ack_timeout_s)
            except TimeoutError:
                view = None  # no answer yet: statuses keep arriving; reconcile settles it
            if view is None or view.error_code != 100:
                break
            if attempt == c.pacing_retries:
                self.tracker.apply(
                    ref,
                    OrderEvent.REJECT,
                    code=100,
                    reason=f"IB_100: pacing, {attempt + 1} attempts",
                )
                break
            await asyncio.sleep(self._backoff(attempt, c.pacing_backoff_s, 30.0))
        order = self.tracker.order(ref)
        assert order is not None
        if order.status is OrderStatus.REJECTED:  # its bracket legs die with it
            for leg_ref, _ in bracket_legs(intent, ref):
                self.tracker.apply(leg_ref, OrderEvent.REJECT, reason=f"parent {ref} rejected")
        return order

    async def cancel(self, order_id: str) -> Order:
        """Cancel at TWS and wait for its confirmation (changes.py)."""
        return await cancel_order(self, order_id)

    def ib_order_id(self, order: Order) -> int:
        """IB's orderId of our live attempt at ``order`` (0: none this client can touch)."""
        return self.tracker.attempt_ids.get(order.client_ref) or next(
            (t.order_id for t in self.client.trades()
             if t.order_ref == order.client_ref and t.client_id == self.client_id),
            0,
        )  # fmt: skip

    async def modify(
        self,
        order_id: str,
        change: OrderChange | None = None,
        *,
        quantity: int | None = None,
        stop_price: float | None = None,
        limit_price: float | None = None,
    ) -> Order:
        """Same orderId, new quantity / stop / limit: ``placeOrder`` again (changes.py)."""
        terms = order_change(
            change, quantity=quantity, stop_price=stop_price, limit_price=limit_price
        )
        return await modify_order(self, order_id, terms)

    # ---- views -----------------------------------------------------------------------
    async def open_orders(self) -> list[Order]:
        return self.tracker.orders(open_only=True)

    async def positions(self) -> list[Position]:
        return views.positions(self.client, views.account_id(self.client, self.config.account))

    async def account(self) -> AccountSummary:
        account = views.account_id(self.client, self.config.account)
        return views.account_summary(self.client.account_values(account))

    async def executions(self, since: datetime | None = None) -> list[Fill]:
        return self.tracker.fills(since)
