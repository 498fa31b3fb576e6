"""The proposal records the review graph and its readers share, with no LangGraph in
sight: the ``proposals`` documents, the graph's run-time context (``ReviewDeps``), lazy
expiry and the earlier trials a deflated Sharpe counts.

Kept apart from ``proposal_review`` (the graph) so that reading proposals — ``quorum
proposals list|show``, the chat's ``proposals list`` — never imports LangGraph.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.audit import AuditLog
from core.notifications import Notifier, NullNotifier
from core.orders import utcnow
from core.ports import Store
from core.proposals import Proposal, ProposalStatus
from workflows.config_versions import ConfigVersions

PROPOSALS = "proposals"  # document collection: one Proposal per id
WATCH_KEY = "proposals.watch"  # kv: the version being watched after an apply
EXPIRY_ACTOR = "proposal_review.expiry"

EvidenceFn = Callable[[Proposal, dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class ReviewDeps:
    """Run-time context of the review graph (never checkpointed)."""

    store: Store
    config: ConfigVersions
    evidence: EvidenceFn
    audit: AuditLog | None = None
    notifier: Notifier = field(default_factory=NullNotifier)
    clock: Callable[[], datetime] = utcnow
    known_symbols: Collection[str] | None = None
    watch_cycles: int = 5

    def load(self, proposal_id: str) -> Proposal:
        doc = self.store.get_document(PROPOSALS, proposal_id)
        if doc is None:
            raise KeyError(proposal_id)
        return Proposal.model_validate(doc)

    def save(self, proposal: Proposal) -> Proposal:
        self.store.put_document(PROPOSALS, proposal.id, proposal.model_dump(mode="json"))
        return proposal

    def record(self, actor: str, action: str, proposal: Proposal, **extra: Any) -> None:
        if self.audit is not None:
            data = {"proposal_id": proposal.id, "status": proposal.status.value, **extra}
            self.audit.append(actor, f"proposal:{action}", data)


def update(deps: ReviewDeps, proposal: Proposal, **changes: Any) -> Proposal:
    return deps.save(proposal.model_copy(update=changes))


def mark_expired(deps: ReviewDeps, p: Proposal) -> Proposal:
    """EXPIRED once its window has passed (idempotent)."""
    if p.status not in (ProposalStatus.PENDING, ProposalStatus.EVALUATING):
        return p
    expired = update(
        deps,
        p,
        status=ProposalStatus.EXPIRED,
        decided_by=EXPIRY_ACTOR,
        decided_at=deps.clock(),
        decision_reason=f"nobody decided by {p.expires_at.isoformat() if p.expires_at else '?'}",
    )
    deps.record(EXPIRY_ACTOR, "expire", expired)
    return expired


def trial_sharpes(store: Store, key: str) -> list[float]:
    """Per-bar Sharpe ratios of every variant evaluated earlier on the same keys (one per
    proposal's evidence section with that trial key): the trials a deflated Sharpe counts."""
    out: list[float] = []
    for doc in store.documents(PROPOSALS):
        evidence = doc.get("evidence") if isinstance(doc, dict) else None
        for section in (evidence or {}).get("sections", []):
            value = section.get("deflated_sharpe", {}).get("sharpe_per_bar")
            if section.get("trial_key") == key and value is not None:
                out.append(float(value))
    return out
