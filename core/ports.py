"""Ports: what the inner layers need from the outside, as Protocols.

Adapters implement them; agents and workflows depend only on these. Brokers are async
(ib_async is); storage is sync (SQLite and pymongo are, and calls are short).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from core.audit import AuditRecord
from core.bars import BarSeries
from core.instruments import Instrument
from core.messages import Envelope
from core.orders import Fill, Order, OrderChange, OrderIntent
from core.portfolio import Portfolio, Position
from core.risk import TradingState


class AccountSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cash: float
    equity: float
    buying_power: float
    currency: str = "USD"


class BrokerEventType(StrEnum):
    ORDER_STATUS = "order_status"
    FILL = "fill"
    DISCONNECTED = "disconnected"
    RECONNECTED = "reconnected"
    ERROR = "error"
    DISCREPANCY = "discrepancy"


class BrokerEvent(BaseModel):
    """Something that happened at the broker, later than the call that caused it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: BrokerEventType
    order: Order | None = None
    fill: Fill | None = None
    code: int | None = None
    message: str = ""
    ts: datetime


@runtime_checkable
class Broker(Protocol):
    @property
    def is_live(self) -> bool: ...
    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...
    async def qualify(self, instrument: Instrument) -> Instrument: ...
    async def place(self, intent: OrderIntent, client_ref: str) -> Order: ...
    async def cancel(self, order_id: str) -> Order: ...
    async def modify(
        self,
        order_id: str,
        change: OrderChange | None = None,
        *,
        quantity: int | None = None,
        stop_price: float | None = None,
        limit_price: float | None = None,
    ) -> Order:
        """Change a working order in place (same order id): its quantity, stop or limit,
        given as an ``OrderChange`` or as keywords. Nothing to change returns the order as
        it is; a closed or unknown order is an ``OrderError``."""
        ...

    async def open_orders(self) -> list[Order]: ...
    async def positions(self) -> list[Position]: ...
    async def account(self) -> AccountSummary: ...
    async def executions(self, since: datetime | None = None) -> list[Fill]: ...
    def events(self) -> AsyncIterator[BrokerEvent]: ...


@runtime_checkable
class MarketData(Protocol):
    def symbols(self) -> list[str]: ...
    def instrument(self, symbol: str) -> Instrument: ...
    def bars(
        self, symbol: str, start: date | None = None, end: date | None = None, adjusted: bool = True
    ) -> BarSeries: ...


class KvEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    value: Any
    version: int = Field(ge=1)
    ts: datetime
    actor: str = "system"


@runtime_checkable
class Store(Protocol):
    """Persistence for the journal, orders, fills, snapshots, settings history and audit."""

    # journal (append-only)
    def append_message(self, message: Envelope) -> None: ...
    def messages_by_cycle(self, cycle_id: str) -> list[Envelope]: ...
    def messages_by_kind(self, kind: str, cycle_id: str | None = None) -> list[Envelope]: ...
    def message(self, message_id: str) -> Envelope | None: ...
    def causation_chain(self, message_id: str) -> list[Envelope]: ...
    def tail(self, n: int = 20, cycle_id: str | None = None) -> list[Envelope]: ...
    # orders and fills
    def save_order(self, order: Order) -> None: ...
    def order(self, order_id: str) -> Order | None: ...
    def order_by_client_ref(self, client_ref: str) -> Order | None: ...
    def orders(self, open_only: bool = False) -> list[Order]: ...
    def save_fill(self, fill: Fill) -> bool: ...
    def fills(self, order_id: str | None = None, since: datetime | None = None) -> list[Fill]: ...
    # portfolio snapshots
    def save_snapshot(self, portfolio: Portfolio, label: str = "") -> None: ...
    def latest_snapshot(self, label: str = "") -> Portfolio | None: ...
    # key-value with history
    def kv_set(self, key: str, value: Any, actor: str = "system") -> KvEntry: ...
    def kv_get(self, key: str) -> Any | None: ...
    def kv_history(self, key: str) -> list[KvEntry]: ...
    # documents: proposals, agent memory (idempotent upsert by collection + key)
    def put_document(self, collection: str, key: str, doc: dict[str, Any]) -> None: ...
    def get_document(self, collection: str, key: str) -> dict[str, Any] | None: ...
    def documents(self, collection: str) -> list[dict[str, Any]]: ...
    # audit chain (records in storage order; head = seq and MAC of the last record written)
    def audit_append(self, record: AuditRecord) -> None: ...
    def audit_last(self) -> AuditRecord | None: ...
    def audit_records(self) -> list[AuditRecord]: ...
    def audit_head(self) -> tuple[int, str] | None: ...
    def close(self) -> None: ...


class Delivery(BaseModel):
    """A message handed to a consumer; ack it by ``delivery_id`` once applied."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str
    topic: str
    message: Envelope
    attempts: int = 1
    error: str | None = None  # on a dead letter: why its last delivery failed


@runtime_checkable
class Bus(Protocol):
    def publish(self, topic: str, message: Envelope) -> str: ...
    def consume(
        self, topic: str, group: str, consumer: str, count: int = 10, block_ms: int = 0
    ) -> list[Delivery]: ...
    def ack(self, topic: str, group: str, delivery_id: str) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class ReliableBus(Bus, Protocol):
    """A bus with failure reporting and dead letters (the memory and Redis buses).

    ``fail`` makes a delivery due again at once; after ``max_deliveries`` deliveries
    (failed or abandoned by a crashed consumer) it moves to ``topics.dead_letter(topic)``.
    """

    def fail(self, topic: str, group: str, delivery_id: str, error: str = "") -> None: ...
    def ack_many(self, topic: str, group: str, delivery_ids: list[str]) -> None: ...
    def dead_letters(self, topic: str, count: int = 100) -> list[Delivery]: ...
    def pending(self, topic: str, group: str) -> int: ...
    def length(self, topic: str) -> int: ...


class TradingStatus(BaseModel):
    """The shared trading state every process reads before anything reaches a broker."""

    model_config = ConfigDict(frozen=True)

    state: TradingState = TradingState.ACTIVE
    kill_switch: bool = False
    reason: str = ""
    actor: str = "system"
    changed_at: datetime | None = None
    version: int = Field(default=0, ge=0)

    @property
    def effective(self) -> TradingState:
        """HALTED while the kill switch is engaged, whatever ``state`` says."""
        return TradingState.HALTED if self.kill_switch else self.state


@runtime_checkable
class Lock(Protocol):
    """A lease: held until released or until its time-to-live runs out."""

    def acquire(self, blocking: bool = True, timeout_s: float | None = None) -> bool: ...
    def release(self) -> bool: ...
    def extend(self, ttl_ms: int | None = None) -> bool: ...
    def owned(self) -> bool: ...


@runtime_checkable
class RateLimiter(Protocol):
    """A token bucket. ``try_acquire`` returns 0.0 when granted, else seconds to wait."""

    def try_acquire(self, tokens: int = 1) -> float: ...
    def acquire(self, tokens: int = 1, timeout_s: float | None = None) -> bool: ...


@runtime_checkable
class ArrayCache(Protocol):
    """Named NumPy arrays (bars, indicator panels) with a time-to-live."""

    def put_arrays(self, key: str, arrays: dict[str, Any], ttl_s: float) -> None: ...
    def get_arrays(self, key: str) -> dict[str, Any] | None: ...
    def delete(self, key: str) -> None: ...


@runtime_checkable
class SharedState(Protocol):
    """Trading state, kill switch, locks, rate limiters and caches shared by processes."""

    def status(self) -> TradingStatus: ...
    def set_state(
        self, state: TradingState, reason: str, actor: str = "system"
    ) -> TradingStatus: ...
    def engage_kill_switch(self, reason: str, actor: str = "system") -> TradingStatus: ...
    def release_kill_switch(self, reason: str, actor: str = "system") -> TradingStatus: ...
    def wait_for_change(self, after_version: int, timeout_s: float) -> TradingStatus: ...
    def lock(self, name: str, ttl_ms: int = 30_000) -> Lock: ...
    def rate_limiter(self, name: str, capacity: int, refill_per_s: float) -> RateLimiter: ...
    def cache(self, namespace: str) -> ArrayCache: ...
    def close(self) -> None: ...


class ReasonRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    agent: str
    prompt_id: str
    system: str
    user: str
    output_schema: dict[str, Any] = Field(default_factory=dict)


class ReasonResponse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False


@runtime_checkable
class Reasoner(Protocol):
    """An LLM (or its offline / replay stand-in): text in, text out, usage counted."""

    @property
    def name(self) -> str: ...
    def complete(self, request: ReasonRequest) -> ReasonResponse: ...
