"""``ProposalService``: the ``ProposalDesk`` port around the compiled review graph.

``submit`` runs a new thread of the graph until it waits for a human (or ends REFUSED:
then it raises ``ProposalRefusedError`` naming the rule, the refused proposal kept);
``approve`` / ``reject`` check who decides (never the author: SELF_APPROVAL) and resume
the thread. Proposals expire ``expiry_days`` after they were made: decided lazily when
read, and by ``sweep()``, which also closes expired threads and resumes any interrupted
mid-evidence by a crash. ``after_cycle`` is what a finished cycle calls: it submits the
proposals the ``proposal_author`` agent made and runs the watch (``proposal_watch``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.messages import Note
from core.proposals import (
    Proposal,
    ProposalRefusal,
    ProposalRefusedError,
    ProposalStatus,
    decision_refusal,
)
from workflows.proposal_records import PROPOSALS, ReviewDeps, mark_expired
from workflows.proposal_watch import watch_cycle

if TYPE_CHECKING:  # LangGraph is imported when a review runs, never to read proposals
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

    from workflows.proposal_review import ReviewState

    ReviewGraph = CompiledStateGraph[ReviewState, ReviewDeps, ReviewState, ReviewState]
    SaverFactory = Callable[[], AbstractAsyncContextManager[BaseCheckpointSaver[Any]]]

log = logging.getLogger(__name__)

SEQ_KEY = "proposals.seq"
AGENT_AUTHOR = "proposal_author"
OPEN = (ProposalStatus.EVALUATING, ProposalStatus.PENDING)


def thread(proposal_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": f"proposal:{proposal_id}"}}


def _refuse(code: ProposalRefusal, message: str) -> ProposalRefusedError:
    return ProposalRefusedError(code, message)


class ProposalService:
    """``saver`` opens the checkpointer (the SQLite one of ``workflows.checkpointer``) for
    the length of one call, inside the caller's event loop: the service itself holds no
    connection, so a CLI command, a chat server and a cycle can each use one."""

    def __init__(self, deps: ReviewDeps, saver: SaverFactory, expiry_days: int = 7) -> None:
        self.deps = deps
        self.saver = saver
        self.expiry_days = expiry_days

    @asynccontextmanager
    async def graph(self) -> AsyncIterator[ReviewGraph]:
        from workflows.proposal_review import build_proposal_review

        async with self.saver() as saver:
            yield build_proposal_review().compile(checkpointer=saver)

    # -- reading (expiry decided lazily) ------------------------------------------------
    def _fresh(self, p: Proposal) -> Proposal:
        if p.status in OPEN and p.expires_at is not None and self.deps.clock() >= p.expires_at:
            return mark_expired(self.deps, p)
        return p

    def _all(self) -> list[Proposal]:
        found = []
        for doc in self.deps.store.documents(PROPOSALS):
            try:
                found.append(Proposal.model_validate(doc))
            except ValueError:  # a pre-review "pending" document of an older release
                continue
        return sorted(found, key=lambda p: (p.created_at, _number(p.id)))

    def list_proposals(self, status: ProposalStatus | None = None) -> list[Proposal]:
        fresh = [self._fresh(p) for p in self._all()]
        return [p for p in fresh if status is None or p.status is status]

    def get_proposal(self, proposal_id: str) -> Proposal:
        try:
            return self._fresh(self.deps.load(proposal_id))
        except (KeyError, ValueError):
            raise _refuse(ProposalRefusal.UNKNOWN_PROPOSAL, f"proposal={proposal_id}") from None

    # -- deciding -----------------------------------------------------------------------
    async def submit(
        self,
        changes: dict[str, Any],
        reason: str,
        author: str,
        *,
        lessons: Sequence[str] = (),
        origin: str | None = None,
    ) -> Proposal:
        if not reason.strip():
            raise _refuse(ProposalRefusal.INVALID_VALUE, "reason=<empty> rule=say why")
        if not author.strip():
            raise _refuse(ProposalRefusal.INVALID_VALUE, "author=<empty> rule=say who")
        entry = self.deps.store.kv_set(SEQ_KEY, {"author": author}, actor=author)
        now = self.deps.clock()
        p = self.deps.save(
            Proposal(
                id=f"p-{entry.version}",
                status=ProposalStatus.EVALUATING,
                author=author,
                reason=reason.strip(),
                changes=dict(changes),
                lessons=list(lessons),
                origin=origin,
                created_at=now,
                expires_at=now + timedelta(days=self.expiry_days),
            )
        )
        self.deps.record(author, "submit", p, changes=dict(changes), reason=p.reason)
        async with self.graph() as app:
            await app.ainvoke({"proposal_id": p.id}, thread(p.id), context=self.deps)
        done = self.deps.load(p.id)
        if done.status is ProposalStatus.REFUSED and done.refusal:
            code = ProposalRefusal(done.refusal.split(":", 1)[0])
            raise _refuse(code, f"{done.refusal.split(': ', 1)[-1]} proposal={done.id}")
        return done

    def _decidable(self, proposal_id: str, by: str, *, approve: bool) -> Proposal:
        p = self.get_proposal(proposal_id)
        refused = decision_refusal(p, by, approve=approve)
        if refused is not None:
            raise refused
        return p

    async def _resume(self, p: Proposal, decision: dict[str, Any]) -> Proposal:
        from langgraph.types import Command

        async with self.graph() as app:
            snapshot = await app.aget_state(thread(p.id))
            if "human_review" not in snapshot.next:
                raise _refuse(
                    ProposalRefusal.NOT_PENDING,
                    f"proposal={p.id} rule=its review is not waiting for a decision",
                )
            await app.ainvoke(Command(resume=decision), thread(p.id), context=self.deps)
        return self.deps.load(p.id)

    async def approve(self, proposal_id: str, approver: str, reason: str = "") -> Proposal:
        p = self._decidable(proposal_id, approver, approve=True)
        decision = {"decision": "approve", "by": approver, "reason": reason}
        return await self._resume(p, decision)

    async def reject(self, proposal_id: str, approver: str, reason: str) -> Proposal:
        p = self._decidable(proposal_id, approver, approve=False)
        if not reason.strip():
            raise _refuse(ProposalRefusal.INVALID_VALUE, "reason=<empty> rule=say why")
        return await self._resume(p, {"decision": "reject", "by": approver, "reason": reason})

    # -- housekeeping -------------------------------------------------------------------
    async def sweep(self) -> list[str]:
        """Expire overdue proposals (closing their threads) and finish the evidence of any
        interrupted by a crash; returns the ids touched."""
        from langgraph.types import Command

        touched: list[str] = []
        async with self.graph() as app:
            for p in self._all():
                fresh = self._fresh(p)
                snapshot = await app.aget_state(thread(p.id))
                if not snapshot.next:
                    continue
                if fresh.status is ProposalStatus.EXPIRED and "human_review" in snapshot.next:
                    expire: Command[Any] = Command(resume={"decision": "expire"})
                    await app.ainvoke(expire, thread(p.id), context=self.deps)
                    touched.append(p.id)
                elif fresh.status is ProposalStatus.EVALUATING:
                    await app.ainvoke(None, thread(p.id), context=self.deps)
                    touched.append(p.id)
        return touched

    async def after_cycle(self, cycle_id: str) -> list[Proposal]:
        """Submit the proposals ``proposal_author`` journaled in this cycle (once each, none
        that repeats an open one), then watch the cycle for guard breaches."""
        made: list[Proposal] = []
        seen = {p.origin for p in self._all() if p.origin}
        open_changes = [p.changes for p in self.list_proposals() if p.status in OPEN]
        notes = [
            m
            for m in self.deps.store.messages_by_kind("note", cycle_id)
            if isinstance(m.payload, Note) and m.payload.topic == "proposal"
        ]
        for message in notes:
            data = message.payload.data  # type: ignore[union-attr]
            origin = f"{cycle_id}:{message.id}"
            changes = data.get("changes") or {}
            if origin in seen or not changes or changes in open_changes:
                continue
            try:
                made.append(
                    await self.submit(
                        changes,
                        str(data.get("reason") or "proposal_author"),
                        AGENT_AUTHOR,
                        lessons=[str(x) for x in data.get("lessons", [])],
                        origin=origin,
                    )
                )
            except ProposalRefusedError as exc:
                log.info("agent proposal refused: %s", exc)
            open_changes.append(changes)
        raised = await watch_cycle(self, cycle_id)
        return made + ([raised] if raised else [])


def _number(proposal_id: str) -> int:
    tail = proposal_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
