"""Change proposals and versioned configuration: the domain types both sides share.

An agent (``proposal_author``) or an operator proposes a change to the settings a proposal
may touch (strategy parameters, risk limits, universe, agent settings). Proposal review
(``workflows/proposal_review.py``) validates it, computes its evidence, waits for a human,
and applies it as a new numbered ``ConfigVersion``. The operator service reaches that
machinery only through the ``ProposalDesk`` and ``ConfigDesk`` ports below.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from core.errors import QuorumError


class ProposalStatus(StrEnum):
    EVALUATING = "evaluating"  # validated, evidence being computed (resumed after a crash)
    PENDING = "pending"  # validated and evidenced, waiting for a human
    REFUSED = "refused"  # failed validation: ``refusal`` names the rule
    APPROVED = "approved"  # approved and applied as a config version
    REJECTED = "rejected"  # a human said no
    EXPIRED = "expired"  # nobody decided within the expiry window


class ProposalRefusal(StrEnum):
    """Why a proposal, or a decision on one, was refused."""

    UNKNOWN_KEY = "UNKNOWN_KEY"
    INVALID_VALUE = "INVALID_VALUE"
    LOOSENS_HARD_CAP = "LOOSENS_HARD_CAP"
    NO_CHANGE = "NO_CHANGE"
    SELF_APPROVAL = "SELF_APPROVAL"
    NOT_PENDING = "NOT_PENDING"
    EXPIRED = "EXPIRED"
    UNKNOWN_PROPOSAL = "UNKNOWN_PROPOSAL"
    UNKNOWN_VERSION = "UNKNOWN_VERSION"


class ProposalRefusedError(QuorumError):
    """A proposal or a decision broke a rule; ``code`` names it, the message gives the
    context (``LOOSENS_HARD_CAP: key=risk.max_position_weight value=0.5 cap=0.30``)."""

    def __init__(self, code: ProposalRefusal, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code


class Proposal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    status: ProposalStatus
    author: str  # an agent name or an operator name
    reason: str
    changes: dict[str, Any]  # dotted key -> proposed value, e.g. {"risk.max_position_weight": 0.25}
    current: dict[str, Any] = Field(default_factory=dict)  # the same keys' values in force
    base_version: int | None = None  # the config version the proposal was made against
    evidence: dict[str, Any] | None = None  # current vs proposed metrics, per fold and overall
    lessons: list[str] = Field(default_factory=list)  # lesson ids it came from
    origin: str | None = None  # an agent's proposal: "<cycle id>:<message id>" it came from
    refusal: str | None = None  # for REFUSED: the rule it broke
    created_at: datetime
    expires_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    applied_version: int | None = None  # the config version an approval created


class ConfigVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    values: dict[str, Any]  # every proposable key (dotted) -> value in this version
    diff: dict[str, list[Any]] = Field(default_factory=dict)  # key -> [old, new] vs previous
    author: str
    approver: str | None = None
    reason: str = ""
    proposal_id: str | None = None
    evidence: dict[str, Any] | None = None
    created_at: datetime
    active: bool = False


def decision_refusal(p: Proposal, by: str, *, approve: bool) -> ProposalRefusedError | None:
    """Why ``by`` may not approve (or reject) ``p`` now, or None. The rules every
    ``ProposalDesk`` enforces, shared so that a transport can refuse a decision that is
    bound to fail before an operator's one-time code is spent on it."""
    if p.status is ProposalStatus.EXPIRED:
        when = p.expires_at.isoformat() if p.expires_at else "?"
        return ProposalRefusedError(ProposalRefusal.EXPIRED, f"proposal={p.id} expired_at={when}")
    if p.status is not ProposalStatus.PENDING:
        return ProposalRefusedError(
            ProposalRefusal.NOT_PENDING, f"proposal={p.id} status={p.status.value}"
        )
    if not by.strip():
        return ProposalRefusedError(
            ProposalRefusal.INVALID_VALUE, "by=<empty> rule=say who decides"
        )
    if approve and by == p.author:
        return ProposalRefusedError(
            ProposalRefusal.SELF_APPROVAL,
            f"proposal={p.id} author={p.author} approver={by} rule=another admin must approve it",
        )
    return None


@runtime_checkable
class ProposalDesk(Protocol):
    """Proposal review as the operator service sees it. Raises ``ProposalRefusedError`` for
    a broken rule (self-approval, not pending, expired, unknown id); never returns None."""

    def list_proposals(self, status: ProposalStatus | None = None) -> list[Proposal]: ...
    def get_proposal(self, proposal_id: str) -> Proposal: ...
    async def submit(self, changes: dict[str, Any], reason: str, author: str) -> Proposal: ...
    async def approve(self, proposal_id: str, approver: str) -> Proposal: ...
    async def reject(self, proposal_id: str, approver: str, reason: str) -> Proposal: ...


@runtime_checkable
class ConfigDesk(Protocol):
    """Versioned configuration. ``version(None)`` is the active one."""

    def history(self) -> list[ConfigVersion]: ...
    def version(self, number: int | None = None) -> ConfigVersion: ...
    def diff(self, a: int, b: int) -> dict[str, list[Any]]: ...
    def rollback(self, number: int, reason: str, actor: str) -> ConfigVersion: ...
