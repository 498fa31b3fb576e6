"""Typed notifications: what happened that an operator should hear about.

One enum of notification types and one payload model each (freqtrade's rpc_types idea);
each transport (Slack, Discord, console, dashboard) chooses which it renders and how.
Producers (the daily cycle service, the daemon, the drawdown guard, proposal review) only
call ``Notifier.notify``; a notifier never raises into them and never blocks a cycle.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from core.orders import utcnow


class NotificationType(StrEnum):
    CYCLE_FINISHED = "cycle_finished"
    CYCLE_FAILED = "cycle_failed"
    CYCLE_MISSED = "cycle_missed"
    ORDER_FILLED = "order_filled"
    ORDER_REJECTED = "order_rejected"
    GUARD_TRIPPED = "guard_tripped"  # drawdown guard / daily loss / kill switch
    PROPOSAL_PENDING = "proposal_pending"


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: datetime = Field(default_factory=utcnow)


class CycleFinished(_Payload):
    type: Literal[NotificationType.CYCLE_FINISHED] = NotificationType.CYCLE_FINISHED
    cycle_id: str
    as_of: str
    equity: float | None = None
    orders: int = 0
    fills: int = 0
    rejections: int = 0
    report: str | None = None  # path of the cycle's report


class CycleFailed(_Payload):
    type: Literal[NotificationType.CYCLE_FAILED] = NotificationType.CYCLE_FAILED
    cycle_id: str
    as_of: str
    error: str


class CycleMissed(_Payload):
    """A scheduled session that was not run (the daemon was down): never traded late."""

    type: Literal[NotificationType.CYCLE_MISSED] = NotificationType.CYCLE_MISSED
    session: str
    reason: str


class OrderFilled(_Payload):
    type: Literal[NotificationType.ORDER_FILLED] = NotificationType.ORDER_FILLED
    order_id: str
    client_ref: str
    symbol: str
    side: str
    quantity: float
    price: float


class OrderRejected(_Payload):
    """Rejected by the broker or denied by our risk desk: ``code`` says which rule."""

    type: Literal[NotificationType.ORDER_REJECTED] = NotificationType.ORDER_REJECTED
    client_ref: str
    symbol: str
    code: str
    reason: str
    order_id: str | None = None


class GuardTripped(_Payload):
    type: Literal[NotificationType.GUARD_TRIPPED] = NotificationType.GUARD_TRIPPED
    guard: str  # drawdown_guard | daily_loss | kill_switch
    code: str
    detail: str
    actor: str = "system"


class ProposalPending(_Payload):
    type: Literal[NotificationType.PROPOSAL_PENDING] = NotificationType.PROPOSAL_PENDING
    proposal_id: str
    title: str
    author: str
    changes: dict[str, Any] = Field(default_factory=dict)
    evidence: dict[str, Any] = Field(default_factory=dict)


Notification = Annotated[
    CycleFinished
    | CycleFailed
    | CycleMissed
    | OrderFilled
    | OrderRejected
    | GuardTripped
    | ProposalPending,
    Field(discriminator="type"),
]


@runtime_checkable
class Notifier(Protocol):
    """Delivers notifications. Must not raise and must not block its caller for long:
    a failed send is retried in the background and, in the end, logged."""

    def notify(self, notification: Notification) -> None: ...


class NullNotifier:
    """No channel configured: notifications are dropped."""

    def notify(self, notification: Notification) -> None:
        return None
