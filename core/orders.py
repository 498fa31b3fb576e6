"""Order intents, orders and fills, with the one order state machine.

The transition table below is the only statement of which order events are legal in
which state; every other module asks it. Denied (our risk desk stopped the order) and
rejected (the broker refused it) are different statuses with different events.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import IllegalTransitionError, OrderError


def utcnow() -> datetime:
    return datetime.now(UTC)


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1


class OrderType(StrEnum):
    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"


class OrderStatus(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    DENIED = "denied"


class OrderEvent(StrEnum):
    SUBMIT = "submit"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    CANCEL = "cancel"
    REJECT = "reject"
    DENY = "deny"
    MODIFY = "modify"  # quantity or price changed at the broker; the status stays


S, E = OrderStatus, OrderEvent
TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {
    (S.NEW, E.SUBMIT): S.SUBMITTED,
    (S.NEW, E.DENY): S.DENIED,
    (S.NEW, E.REJECT): S.REJECTED,
    (S.NEW, E.CANCEL): S.CANCELLED,
    (S.SUBMITTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.SUBMITTED, E.FILL): S.FILLED,
    (S.SUBMITTED, E.CANCEL): S.CANCELLED,
    (S.SUBMITTED, E.REJECT): S.REJECTED,
    (S.PARTIALLY_FILLED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
    (S.SUBMITTED, E.MODIFY): S.SUBMITTED,
    (S.PARTIALLY_FILLED, E.MODIFY): S.PARTIALLY_FILLED,
}
del S, E

TERMINAL: frozenset[OrderStatus] = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.DENIED}
)
OPEN: frozenset[OrderStatus] = frozenset({OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED})
CANCELLABLE: frozenset[OrderStatus] = frozenset({OrderStatus.NEW, *OPEN})
MODIFIABLE: frozenset[OrderStatus] = OPEN


def next_status(status: OrderStatus, event: OrderEvent) -> OrderStatus:
    """The status after ``event``; raises ``IllegalTransitionError`` for any other pair."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransitionError(f"order cannot {event.value} when {status.value}") from None


class OrderIntent(BaseModel):
    """What the portfolio manager wants traded. Quantity comes from the sizing tools."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1)
    side: OrderSide
    quantity: int = Field(gt=0)
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = Field(default=None, gt=0)
    stop_price: float | None = Field(default=None, gt=0)
    take_profit: float | None = Field(default=None, gt=0)
    stop_loss: float | None = Field(default=None, gt=0)
    tif: TimeInForce = TimeInForce.DAY
    reference_price: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _prices_match_type(self) -> Self:
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise OrderError(f"{self.symbol}: limit order needs limit_price")
        if self.order_type is OrderType.STOP and self.stop_price is None:
            raise OrderError(f"{self.symbol}: stop order needs stop_price")
        if self.order_type is OrderType.MARKET and (self.limit_price or self.stop_price):
            raise OrderError(f"{self.symbol}: market order takes no limit or stop price")
        tp, sl = self.take_profit, self.stop_loss
        if tp is not None and sl is not None:
            if self.side is OrderSide.BUY and not sl < tp:
                raise OrderError(f"{self.symbol}: bracket BUY needs stop_loss < take_profit")
            if self.side is OrderSide.SELL and not tp < sl:
                raise OrderError(f"{self.symbol}: bracket SELL needs take_profit < stop_loss")
        return self

    @property
    def is_bracket(self) -> bool:
        return self.take_profit is not None or self.stop_loss is not None

    def digest(self) -> str:
        """Stable hash of the intent's content (field order and float repr independent)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# Bracket legs: the parent's client_ref plus ``#sl`` / ``#tp`` (``#`` is reserved for them),
# so any process finds a parent's legs, and a leg's parent, by reference alone.
STOP_LOSS_LEG = "sl"
TAKE_PROFIT_LEG = "tp"
_LEG_SEPARATOR = "#"


def bracket_child_ref(parent_ref: str, leg: str) -> str:
    return f"{parent_ref}{_LEG_SEPARATOR}{leg}"


def bracket_parent_ref(client_ref: str) -> str | None:
    """The parent's reference if ``client_ref`` names a bracket leg, else ``None``."""
    parent, sep, leg = client_ref.rpartition(_LEG_SEPARATOR)
    return parent if sep and leg in (STOP_LOSS_LEG, TAKE_PROFIT_LEG) else None


def is_reserved_ref(client_ref: str) -> bool:
    """References containing the leg separator are reserved for bracket legs."""
    return _LEG_SEPARATOR in client_ref


def make_client_ref(cycle_id: str, intent: OrderIntent) -> str:
    """Deterministic client reference: the same intent in the same cycle gives the same ref,
    so a re-run after a crash finds the order it already sent instead of sending another."""
    return f"q-{cycle_id}-{intent.digest()[:16]}"


class OrderChange(BaseModel):
    """A modification of a working order: its total quantity and/or its one price.

    ``quantity`` is the new total (filled shares included), so it must exceed what has
    filled; ``stop_price`` applies to stop orders, ``limit_price`` to limit orders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: int | None = Field(default=None, gt=0)
    stop_price: float | None = Field(default=None, gt=0)
    limit_price: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.quantity is None and self.stop_price is None and self.limit_price is None:
            raise OrderError("an order change needs a quantity, a stop_price or a limit_price")
        return self


def order_change(
    change: OrderChange | None = None,
    *,
    quantity: int | None = None,
    stop_price: float | None = None,
    limit_price: float | None = None,
) -> OrderChange:
    """``change``, or one made of the keyword terms (``modify(oid, stop_price=97.0)``)."""
    terms = {"quantity": quantity, "stop_price": stop_price, "limit_price": limit_price}
    given = {k: v for k, v in terms.items() if v is not None}
    if change is not None and given:
        raise OrderError("give an OrderChange or keyword terms, not both")
    return change if change is not None else OrderChange.model_validate(given)


class Fill(BaseModel):
    """One execution. ``fill_id`` is the broker's execution id and de-duplicates fills."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fill_id: str = Field(min_length=1)
    order_id: str
    client_ref: str
    symbol: str
    side: OrderSide
    quantity: int = Field(gt=0)
    price: float = Field(gt=0)
    commission: float = Field(default=0.0, ge=0)
    currency: str = "USD"
    ts: datetime = Field(default_factory=utcnow)


class Order(BaseModel):
    """An order's current state. Immutable: each event returns a new ``Order``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str
    client_ref: str
    intent: OrderIntent
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: int = 0
    avg_fill_price: float = 0.0
    broker_order_id: str | None = None
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def symbol(self) -> str:
        return self.intent.symbol

    @property
    def remaining(self) -> int:
        return self.intent.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def transition(
        self, event: OrderEvent, *, reason: str | None = None, **changes: object
    ) -> Order:
        status = next_status(self.status, event)
        update: dict[str, object] = {"status": status, "updated_at": utcnow(), **changes}
        if reason is not None:
            update["reason"] = reason
        return self.model_copy(update=update)

    def modified(self, change: OrderChange) -> Order:
        """The order after ``change`` (event ``MODIFY``); the same order if nothing differs.

        Raises ``IllegalTransitionError`` unless the order is working, and ``OrderError``
        for a price its type does not have or a quantity not above what has filled."""
        next_status(self.status, OrderEvent.MODIFY)
        kind = self.intent.order_type
        if change.stop_price is not None and kind is not OrderType.STOP:
            raise OrderError(f"order {self.order_id}: a {kind.value} order has no stop price")
        if change.limit_price is not None and kind is not OrderType.LIMIT:
            raise OrderError(f"order {self.order_id}: a {kind.value} order has no limit price")
        if change.quantity is not None and change.quantity <= self.filled_quantity:
            raise OrderError(
                f"order {self.order_id}: quantity {change.quantity} must exceed "
                f"the {self.filled_quantity} already filled"
            )
        updates = change.model_dump(exclude_none=True)
        if all(getattr(self.intent, k) == v for k, v in updates.items()):
            return self
        intent = OrderIntent.model_validate({**self.intent.model_dump(), **updates})
        return self.transition(OrderEvent.MODIFY, intent=intent)

    def with_fill(self, fill: Fill) -> Order:
        """The order after ``fill``: quantity and average price updated, status advanced."""
        if fill.order_id != self.order_id:
            raise OrderError(f"fill {fill.fill_id} belongs to order {fill.order_id}")
        if fill.quantity > self.remaining:
            raise OrderError(
                f"fill {fill.fill_id} of {fill.quantity} exceeds remaining {self.remaining}"
            )
        filled = self.filled_quantity + fill.quantity
        avg = (self.avg_fill_price * self.filled_quantity + fill.price * fill.quantity) / filled
        event = OrderEvent.FILL if filled == self.intent.quantity else OrderEvent.PARTIAL_FILL
        return self.transition(event, filled_quantity=filled, avg_fill_price=avg)
