"""The A2A envelope: the only way agents talk. Immutable; journaled append-only.

``payload`` is a discriminated union on ``kind``: each kind has one payload model, so a
message of kind ``trade_idea`` cannot carry anything but a ``TradeIdeaPayload``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.orders import Fill, Order, OrderIntent, utcnow
from core.risk import Denial, TradingState
from core.signals import Signal, TradeIdea

BROADCAST = "*"


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BarsPublished(_Payload):
    kind: Literal["bars_published"] = "bars_published"
    as_of: datetime
    symbols: tuple[str, ...]
    bars: int
    source: str
    last_close: dict[str, float] = Field(default_factory=dict)


class ToolFigures(_Payload):
    """Numbers a tool computed: the facts LLM outputs are checked against."""

    kind: Literal["tool_figures"] = "tool_figures"
    tool: str
    symbol: str | None = None
    figures: dict[str, float]


class SignalPayload(_Payload):
    kind: Literal["signal"] = "signal"
    signal: Signal


class Assessment(_Payload):
    """A desk's qualitative reading (regime, sentiment, fundamentals, technical view,
    debate argument, reflection lesson): a topic, a score and text."""

    kind: Literal["assessment"] = "assessment"
    topic: str
    symbol: str | None = None
    score: float = Field(ge=-1.0, le=1.0)
    text: str = ""
    figures: dict[str, float] = Field(default_factory=dict)


class TradeIdeaPayload(_Payload):
    kind: Literal["trade_idea"] = "trade_idea"
    idea: TradeIdea


class RiskVerdict(_Payload):
    kind: Literal["risk_verdict"] = "risk_verdict"
    symbol: str
    approved: bool
    denial: Denial | None = None
    checked_by: str


class OrderIntentPayload(_Payload):
    kind: Literal["order_intent"] = "order_intent"
    intent: OrderIntent
    client_ref: str


class OrderUpdate(_Payload):
    kind: Literal["order_update"] = "order_update"
    order: Order


class FillPayload(_Payload):
    kind: Literal["fill"] = "fill"
    fill: Fill


class Rejection(_Payload):
    """An LLM output or an order refused, with the reason (a denial code + context)."""

    kind: Literal["rejection"] = "rejection"
    source: str
    denial: Denial
    detail: str = ""


class StateChange(_Payload):
    kind: Literal["state_change"] = "state_change"
    state: TradingState
    reason: str


class Note(_Payload):
    """Anything else worth journaling: a proposal, a reconciliation report, a lesson."""

    kind: Literal["note"] = "note"
    topic: str
    data: dict[str, Any] = Field(default_factory=dict)


Payload = Annotated[
    BarsPublished
    | ToolFigures
    | SignalPayload
    | Assessment
    | TradeIdeaPayload
    | RiskVerdict
    | OrderIntentPayload
    | OrderUpdate
    | FillPayload
    | Rejection
    | StateChange
    | Note,
    Field(discriminator="kind"),
]


class LlmUsage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cost_usd: float = Field(default=0.0, ge=0)


class Envelope(BaseModel):
    """One agent-to-agent message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    cycle_id: str
    sender: str
    recipient: str = BROADCAST
    kind: str = ""
    payload: Payload
    causation_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    llm: LlmUsage | None = None

    @model_validator(mode="before")
    @classmethod
    def _kind_from_payload(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("kind"):
            payload = data.get("payload")
            kind = (
                payload.get("kind") if isinstance(payload, dict) else getattr(payload, "kind", "")
            )
            data = {**data, "kind": kind}
        return data

    @model_validator(mode="after")
    def _kind_matches(self) -> Self:
        if self.kind != self.payload.kind:
            raise ValueError(f"envelope kind {self.kind!r} != payload kind {self.payload.kind!r}")
        return self

    def reply(self, sender: str, payload: _Payload, recipient: str = BROADCAST) -> Envelope:
        """A message caused by this one, in the same cycle."""
        return Envelope(
            cycle_id=self.cycle_id,
            sender=sender,
            recipient=recipient,
            payload=payload,
            causation_id=self.id,
        )
