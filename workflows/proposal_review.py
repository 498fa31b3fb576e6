"""Proposal review: one LangGraph ``StateGraph`` per proposal (thread ``proposal:<id>``).

    validate ─▶ evidence ─▶ human_review ─▶ apply | reject | expire
       └─▶ END (REFUSED: the rule it broke)

- **validate**: the keys that may be proposed and their values (``config_keys``); a risk
  limit may be tightened, never loosened past ``core.risk.HARD_CAPS``. A refused proposal
  ends here with status REFUSED and the rule (``LOOSENS_HARD_CAP: key=... cap=0.30 ...``).
- **evidence**: current versus proposed configuration over walk-forward out-of-sample
  windows (``proposal_evidence``); the proposal becomes PENDING and a ``ProposalPending``
  notification goes out.
- **human_review**: ``interrupt()``. The graph waits in its checkpoint (it survives a
  SIGKILL) until ``Command(resume={"decision": "approve"|"reject"|"expire", "by": name,
  "reason": ...})``. A decision by the proposal's author is never applied: the node asks
  again (``ProposalService`` refuses it first with SELF_APPROVAL).
- **apply**: a new configuration version (idempotent per proposal), audited, and the
  watch over the next cycles starts (``proposal_watch``).

The proposal document (``proposals`` collection, ``proposal_records``) is the record; the
graph state holds only the proposal id and the decision. ``build_proposal_review()``
returns the graph uncompiled; ``ProposalService`` compiles it with the SQLite checkpointer.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from core.notifications import ProposalPending
from core.proposals import Proposal, ProposalRefusedError, ProposalStatus
from workflows.config_keys import validate_changes
from workflows.proposal_records import (
    EXPIRY_ACTOR,
    PROPOSALS,
    WATCH_KEY,
    EvidenceFn,
    ReviewDeps,
    mark_expired,
    trial_sharpes,
    update,
)

__all__ = [
    "EXPIRY_ACTOR",
    "PROPOSALS",
    "WATCH_KEY",
    "EvidenceFn",
    "ReviewDeps",
    "ReviewState",
    "build_proposal_review",
    "mark_expired",
    "trial_sharpes",
]


class ReviewState(TypedDict, total=False):
    proposal_id: str
    decision: dict[str, Any]


Rt = Runtime[ReviewDeps]


def _decided(
    deps: ReviewDeps,
    p: Proposal,
    status: ProposalStatus,
    decision: dict[str, Any],
    **extra: Any,
) -> Proposal:
    """``p`` decided by a human: who, when, why."""
    return update(
        deps,
        p,
        status=status,
        decided_by=decision["by"],
        decided_at=deps.clock(),
        decision_reason=decision.get("reason") or None,
        **extra,
    )


async def validate(state: ReviewState, runtime: Rt) -> dict[str, Any]:
    deps = runtime.context
    p = deps.load(state["proposal_id"])
    if p.status is not ProposalStatus.EVALUATING or p.base_version is not None:
        return {}  # re-run after a crash: already decided
    active = deps.config.version()
    current = deps.config.values()
    try:
        changes = validate_changes(p.changes, current, deps.known_symbols)
    except ProposalRefusedError as exc:
        refused = update(
            deps, p, status=ProposalStatus.REFUSED, refusal=str(exc), base_version=active.version
        )
        deps.record(p.author, "refused", refused, refusal=str(exc), changes=p.changes)
        return {}
    update(
        deps,
        p,
        changes=changes,
        current={k: current[k] for k in changes},
        base_version=active.version,
    )
    return {}


def route_validated(state: ReviewState, runtime: Rt) -> str:
    p = runtime.context.load(state["proposal_id"])
    return END if p.status is ProposalStatus.REFUSED else "evidence"


async def evidence(state: ReviewState, runtime: Rt) -> dict[str, Any]:
    deps = runtime.context
    p = deps.load(state["proposal_id"])
    if p.status is not ProposalStatus.EVALUATING:
        return {}
    current = deps.config.values()
    proposed = {**current, **p.changes}
    found = await deps.evidence(p, current, proposed)
    pending = update(deps, p, status=ProposalStatus.PENDING, evidence=found)
    deps.record(p.author, "pending", pending, changes=p.changes)
    deps.notifier.notify(
        ProposalPending(
            proposal_id=p.id,
            title=", ".join(f"{k}={v}" for k, v in p.changes.items()),
            author=p.author,
            changes=p.changes,
            evidence=headline(found),
        )
    )
    return {}


def headline(found: dict[str, Any]) -> dict[str, Any]:
    """The overall figures of each evidence section, for a notification."""
    out: dict[str, Any] = {}
    for section in found.get("sections", []):
        name = section.get("strategy") or section["method"]
        for side, metrics in section["overall"].items():
            out[f"{name}.{side}.sharpe"] = metrics.get("sharpe")
            out[f"{name}.{side}.return"] = metrics.get("return")
        out[f"{name}.deflated_sharpe"] = section["deflated_sharpe"]["value"]
    return out


async def human_review(state: ReviewState, runtime: Rt) -> dict[str, Any]:
    decision = interrupt({"proposal_id": state["proposal_id"], "awaiting": "approve or reject"})
    return {"decision": dict(decision) if isinstance(decision, dict) else {}}


def route_decision(state: ReviewState, runtime: Rt) -> str:
    decision = state.get("decision") or {}
    action = decision.get("decision")
    p = runtime.context.load(state["proposal_id"])
    if action == "expire" or p.status is ProposalStatus.EXPIRED:
        return "expire"
    if action == "reject" and decision.get("by"):
        return "reject"
    if action == "approve" and decision.get("by") and decision["by"] != p.author:
        return "apply"
    return "human_review"  # no valid decision (a self-approval never gets here): ask again


async def apply(state: ReviewState, runtime: Rt) -> dict[str, Any]:
    deps = runtime.context
    decision = state["decision"]
    p = deps.load(state["proposal_id"])
    if p.status is ProposalStatus.APPROVED:
        return {}
    previous = deps.config.version()
    values = {**deps.config.values(), **p.changes}
    version = deps.config.create(
        values,
        p.author,
        p.reason,
        approver=decision["by"],
        proposal_id=p.id,
        evidence=p.evidence,
    )
    approved = _decided(deps, p, ProposalStatus.APPROVED, decision, applied_version=version.version)
    deps.record(decision["by"], "approve", approved, version=version.version)
    deps.store.kv_set(
        WATCH_KEY,
        {"version": version.version, "previous": previous.version, "proposal_id": p.id,
         "remaining": deps.watch_cycles, "watched": [], "done": False},
        actor=decision["by"],
    )  # fmt: skip
    return {}


async def reject(state: ReviewState, runtime: Rt) -> dict[str, Any]:
    deps = runtime.context
    decision = state["decision"]
    p = deps.load(state["proposal_id"])
    if p.status is ProposalStatus.PENDING:
        rejected = _decided(deps, p, ProposalStatus.REJECTED, decision)
        deps.record(decision["by"], "reject", rejected, reason=decision.get("reason"))
    return {}


async def expire(state: ReviewState, runtime: Rt) -> dict[str, Any]:
    deps = runtime.context
    mark_expired(deps, deps.load(state["proposal_id"]))
    return {}


def build_proposal_review() -> StateGraph[ReviewState, ReviewDeps, ReviewState, ReviewState]:
    """The review graph, uncompiled."""
    g: StateGraph[ReviewState, ReviewDeps, ReviewState, ReviewState] = StateGraph(
        ReviewState, context_schema=ReviewDeps
    )
    g.add_node("validate", validate)
    g.add_node("evidence", evidence)
    g.add_node("human_review", human_review)
    g.add_node("apply", apply)
    g.add_node("reject", reject)
    g.add_node("expire", expire)
    g.add_edge(START, "validate")
    g.add_conditional_edges("validate", route_validated, ["evidence", END])
    g.add_edge("evidence", "human_review")
    g.add_conditional_edges(
        "human_review", route_decision, ["apply", "reject", "expire", "human_review"]
    )
    g.add_edge("apply", END)
    g.add_edge("reject", END)
    g.add_edge("expire", END)
    return g
