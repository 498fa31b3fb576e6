"""What the API takes and returns: pydantic models, so ``/openapi.json`` has real schemas.

Every answer is an ``Answer[View]``: the data ``source`` (``main`` or
``simulation:<name>``), the operator it was answered for, the command, its one-line
message and the typed view (the operator service's views for its commands, the models
below for the reads only the API offers). Every error is an ``ErrorResponse`` whose
``code`` is the service's ``DenialCode`` or an ``ApiErrorCode``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.orders import Fill
from workflows.operator_views import CycleBrief

T = TypeVar("T")

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
TotpCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
ConfigKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.]{1,100}$")]


class ApiErrorCode(StrEnum):
    """Refusals the API makes before the operator service sees a request."""

    MISSING_TOKEN = "MISSING_TOKEN"  # noqa: S105 - no Authorization: Bearer, no session
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 - unknown, revoked, operator removed
    BAD_AUTH_SCHEME = "BAD_AUTH_SCHEME"  # an Authorization header that is not Bearer
    SESSION_EXPIRED = "SESSION_EXPIRED"  # the dashboard's session cookie is unknown or old
    CROSS_ORIGIN = "CROSS_ORIGIN"  # a cookie-authenticated change from another origin
    RATE_LIMITED = "RATE_LIMITED"
    MALFORMED_JSON = "MALFORMED_JSON"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"  # a body that is not application/json
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"  # a body over the limit, refused unread
    INVALID_BODY = "INVALID_BODY"  # JSON that does not fit the request's schema
    INVALID_QUERY = "INVALID_QUERY"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Answer(_Frozen, Generic[T]):
    source: str = Field(description="Where the data came from: main or simulation:<name>.")
    operator: str
    command: str
    message: str
    data: T


class ErrorDetail(_Frozen):
    code: str = Field(description="A DenialCode of the operator service or an ApiErrorCode.")
    message: str = Field(description="One line: CODE: key=value context.")
    field: str | None = Field(default=None, description="The offending field, if any.")
    outcome: str | None = Field(default=None, description="denied | failed (service refusals).")


class ErrorResponse(_Frozen):
    error: ErrorDetail
    source: str | None = None


# -- request bodies ------------------------------------------------------------------------
class TradingBody(_Frozen):
    reason: Reason = Field(description="Why (kept in the audit).")
    totp: TotpCode | None = Field(default=None, description="Needed for resume and release.")


class ApproveBody(_Frozen):
    totp: TotpCode


class RejectBody(_Frozen):
    reason: Reason


class SubmitBody(_Frozen):
    changes: dict[ConfigKey, Any] = Field(
        min_length=1, description='Dotted key -> value, e.g. {"strategy.momentum.lookback": 30}.'
    )
    reason: Reason


class RollbackBody(_Frozen):
    reason: Reason
    totp: TotpCode


class LoginBody(_Frozen):
    token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


# -- views of the reads only the API offers --------------------------------------------------
class SourceView(_Frozen):
    label: str
    kind: str
    name: str | None = None
    path: str | None = None
    reason: str


class FillsView(_Frozen):
    view: str = "fills"
    rows: list[Fill]


class CyclesView(_Frozen):
    view: str = "cycles"
    rows: list[CycleBrief]


class JournalMessage(_Frozen):
    id: str
    cycle_id: str
    sender: str
    desk: str  # the sender's desk (agents.registry), or "workflow"
    recipient: str
    kind: str
    says: str  # one line (workflows.explain.describe)
    causation_id: str | None = None
    created_at: datetime


class JournalPage(_Frozen):
    view: str = "journal"
    cycle: str | None = None
    kind: str | None = None
    limit: int
    messages: list[JournalMessage] = Field(description="Oldest first.")
    next_before: str | None = Field(
        default=None, description="Pass as ?before= for the page before this one."
    )


class EquityPoint(_Frozen):
    date: date
    equity: float
    peak: float
    drawdown: float = Field(description="equity / running peak - 1 (0 or negative).")


class EquityHistory(_Frozen):
    view: str = "equity"
    starting_cash: float
    points: list[EquityPoint]
    max_drawdown: float


class DeskGroup(_Frozen):
    desk: str
    agents: list[str]
    count: int
    messages: list[JournalMessage] = Field(description="The newest, oldest first.")


class DesksView(_Frozen):
    view: str = "desks"
    cycle: CycleBrief | None = None
    desks: list[DeskGroup]


class SessionView(_Frozen):
    operator: str
    role: str
    expires_at: datetime
    source: str
