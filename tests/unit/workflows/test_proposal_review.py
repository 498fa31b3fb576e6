"""Proposal review: the graph and ``ProposalService`` on a real store and the SQLite
checkpointer, with a recorded evidence step (the evidence itself is tested apart)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.audit import AuditLog
from core.notifications import Notification, ProposalPending
from core.proposals import Proposal, ProposalRefusal, ProposalRefusedError, ProposalStatus
from workflows.checkpointer import sqlite_checkpointer
from workflows.config_keys import settings_values
from workflows.config_versions import ConfigVersions
from workflows.proposal_review import ReviewDeps, build_proposal_review
from workflows.proposal_service import ProposalService, thread

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SYMBOLS = frozenset({"AAPL", "MSFT", "IBM", "GOOG"})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def notify(self, notification: Notification) -> None:
        self.sent.append(notification)


class Kit:
    def __init__(self, tmp_path: Path) -> None:
        self.store = SqliteStore(tmp_path / "q.db")
        self.clock = Clock()
        self.audit = AuditLog(self.store, b"k" * 32)
        baseline = settings_values(load_settings(state_dir=tmp_path))
        self.config = ConfigVersions(self.store, self.audit, baseline, clock=self.clock)
        self.notifier = Recorder()
        self.evidence_calls: list[dict[str, Any]] = []

        async def evidence(p: Proposal, current: dict[str, Any], proposed: dict[str, Any]) -> dict:
            self.evidence_calls.append({k: proposed[k] for k in p.changes})
            return {"sections": [], "recorded": True}

        self.deps = ReviewDeps(self.store, self.config, evidence, self.audit, self.notifier,
                               self.clock, SYMBOLS, watch_cycles=2)  # fmt: skip
        self.service = ProposalService(self.deps, lambda: sqlite_checkpointer(tmp_path), 7)

    def actions(self) -> list[tuple[str, str]]:
        return [(r.actor, r.action) for r in self.store.audit_records()]


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = Kit(tmp_path)
    yield k
    k.store.close()


async def test_submit_when_valid_then_pending_with_evidence_notified_and_audited(kit: Kit) -> None:
    p = await kit.service.submit({"risk.max_position_pct": "0.25"}, "smaller bets", "alice")
    assert p.status is ProposalStatus.PENDING and p.id == "p-1"
    assert p.changes == {"risk.max_position_weight": 0.25}  # the alias, canonical
    assert p.current == {"risk.max_position_weight": 0.3} and p.base_version == 1
    assert p.evidence == {"sections": [], "recorded": True}
    assert p.expires_at == T0 + timedelta(days=7)
    [note] = kit.notifier.sent
    assert isinstance(note, ProposalPending) and note.proposal_id == "p-1"
    assert kit.actions() == [("alice", "proposal:submit"), ("alice", "proposal:pending")]
    assert kit.config.version().version == 1  # nothing applied yet


async def test_submit_when_loosening_past_the_cap_then_refused_at_validate_naming_it(
    kit: Kit,
) -> None:
    with pytest.raises(ProposalRefusedError) as err:
        await kit.service.submit({"risk.max_position_pct": 0.5}, "bigger bets", "alice")
    assert err.value.code is ProposalRefusal.LOOSENS_HARD_CAP
    assert "key=risk.max_position_pct value=0.5 cap=0.30 (the 30 % hard cap)" in str(err.value)
    p = kit.service.get_proposal("p-1")
    assert p.status is ProposalStatus.REFUSED and p.refusal.startswith("LOOSENS_HARD_CAP")
    assert kit.evidence_calls == [] and kit.notifier.sent == []  # ended at validate
    async with kit.service.graph() as app:
        assert (await app.aget_state(thread("p-1"))).next == ()


async def test_approve_when_by_the_author_then_self_approval_and_still_pending(kit: Kit) -> None:
    await kit.service.submit({"risk.max_position_pct": "0.25"}, "r", "alice")
    with pytest.raises(ProposalRefusedError) as err:
        await kit.service.approve("p-1", "alice")
    assert err.value.code is ProposalRefusal.SELF_APPROVAL
    assert kit.service.get_proposal("p-1").status is ProposalStatus.PENDING
    assert kit.config.version().version == 1


async def test_approve_when_another_operator_then_new_version_audited_and_watched(
    kit: Kit,
) -> None:
    await kit.service.submit({"risk.max_position_pct": "0.25"}, "smaller", "alice")
    kit.clock.now = T0 + timedelta(hours=2)
    p = await kit.service.approve("p-1", "bob", "looks safer")
    assert p.status is ProposalStatus.APPROVED and p.decided_by == "bob"
    assert p.applied_version == 2 and p.decided_at == kit.clock.now
    v = kit.config.version()
    assert v.version == 2 and v.active and v.approver == "bob" and v.author == "alice"
    assert v.diff == {"risk.max_position_weight": [0.3, 0.25]} and v.proposal_id == "p-1"
    assert ("bob", "proposal:approve") in kit.actions() and (
        "bob",
        "config:version",
    ) in kit.actions()
    watch = kit.store.kv_get("proposals.watch")
    assert watch["version"] == 2 and watch["previous"] == 1 and watch["remaining"] == 2
    with pytest.raises(ProposalRefusedError) as err:  # a decided proposal stays decided
        await kit.service.approve("p-1", "carol")
    assert err.value.code is ProposalRefusal.NOT_PENDING
    assert kit.audit.verify().ok


async def test_reject_when_pending_then_rejected_and_configuration_unchanged(kit: Kit) -> None:
    await kit.service.submit({"llm.debate_rounds": "1"}, "cheaper", "alice")
    with pytest.raises(ProposalRefusedError):
        await kit.service.reject("p-1", "bob", "  ")  # a reason is required
    p = await kit.service.reject("p-1", "bob", "debate matters")
    assert p.status is ProposalStatus.REJECTED and p.decision_reason == "debate matters"
    assert kit.config.version().version == 1 and len(kit.config.history()) == 1


async def test_expiry_when_clock_passes_the_window_then_expired_on_read_and_swept(
    kit: Kit,
) -> None:
    await kit.service.submit({"strategy.momentum.lookback": "30"}, "slower", "alice")
    kit.clock.now = T0 + timedelta(days=7)
    assert [p.status for p in kit.service.list_proposals()] == [ProposalStatus.EXPIRED]
    with pytest.raises(ProposalRefusedError) as err:
        await kit.service.approve("p-1", "bob")
    assert err.value.code is ProposalRefusal.EXPIRED
    assert await kit.service.sweep() == ["p-1"]  # its waiting thread is closed
    assert await kit.service.sweep() == []
    assert kit.service.get_proposal("p-1").decided_by == "proposal_review.expiry"
    assert kit.config.version().version == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"risk.nope": 1}, ProposalRefusal.UNKNOWN_KEY),
        ({"risk.max_drawdown": 0.05}, ProposalRefusal.NO_CHANGE),
        ({"strategy.ma_crossover.fast": "30"}, ProposalRefusal.INVALID_VALUE),  # = slow
        ({"universe.symbols": "AAPL,TSLA"}, ProposalRefusal.INVALID_VALUE),  # no bars
    ],
)
async def test_submit_when_rule_broken_then_refused_with_its_code(
    kit: Kit, changes: dict[str, Any], code: ProposalRefusal
) -> None:
    with pytest.raises(ProposalRefusedError) as err:
        await kit.service.submit(changes, "r", "alice")
    assert err.value.code is code
    assert kit.service.get_proposal("p-1").status is ProposalStatus.REFUSED


async def test_get_when_unknown_then_unknown_proposal(kit: Kit) -> None:
    with pytest.raises(ProposalRefusedError) as err:
        kit.service.get_proposal("p-404")
    assert err.value.code is ProposalRefusal.UNKNOWN_PROPOSAL


async def test_graph_when_run_then_nodes_in_order_and_waits_at_human_review(kit: Kit) -> None:
    app = build_proposal_review().compile(checkpointer=InMemorySaver())
    p = Proposal(id="p-9", status=ProposalStatus.EVALUATING, author="alice", reason="r",
                 changes={"risk.daily_loss_limit": 0.01}, created_at=T0)  # fmt: skip
    kit.store.put_document("proposals", "p-9", p.model_dump(mode="json"))
    cfg = {"configurable": {"thread_id": "t"}}
    steps = [n async for c in app.astream({"proposal_id": "p-9"}, cfg, context=kit.deps,
                                          stream_mode="updates") for n in c]  # fmt: skip
    assert steps == ["validate", "evidence", "__interrupt__"]
    bad = Command(resume={"decision": "approve", "by": "alice"})  # the author: asked again
    steps = [n async for c in app.astream(bad, cfg, context=kit.deps, stream_mode="updates")
             for n in c]  # fmt: skip
    assert steps == ["human_review", "__interrupt__"]
    good = Command(resume={"decision": "approve", "by": "bob"})
    steps = [n async for c in app.astream(good, cfg, context=kit.deps, stream_mode="updates")
             for n in c]  # fmt: skip
    assert steps == ["human_review", "apply"]
    assert kit.config.version().values["risk.daily_loss_limit"] == 0.01
