"""The watch after an approval, agents' proposals after a cycle, and the configuration
history itself (settings edits, rollback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.messages import Envelope, Note, StateChange
from core.proposals import ProposalRefusal, ProposalRefusedError, ProposalStatus
from core.risk import TradingState
from tests.unit.workflows.test_proposal_review import Kit
from workflows.config_versions import ConfigVersions
from workflows.proposal_watch import WATCH_AUTHOR, guard_breaches


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = Kit(tmp_path)
    yield k
    k.store.close()


def _cycle(kit: Kit, cycle_id: str, day: str, version: int, breach: str | None = None) -> None:
    kit.store.put_document(
        "cycles", cycle_id, {"cycle_id": cycle_id, "as_of": day, "config_version": version}
    )
    if breach:
        reason = f"{breach}: daily_loss=0.03 limit=0.02"
        kit.store.append_message(
            Envelope(cycle_id=cycle_id, sender="drawdown_guard",
                     payload=StateChange(state=TradingState.REDUCING, reason=reason))
        )  # fmt: skip


async def _approved(kit: Kit) -> None:
    await kit.service.submit({"risk.daily_loss_limit": "0.03"}, "room to breathe", "alice")
    await kit.service.approve("p-1", "bob")


async def test_watch_when_new_version_breaches_a_guard_the_old_did_not_then_rollback_proposed(
    kit: Kit,
) -> None:
    _cycle(kit, "c1", "2013-02-01", 1)
    _cycle(kit, "c2", "2013-02-04", 1)
    await _approved(kit)
    _cycle(kit, "c3", "2013-02-05", 2, breach="DAILY_LOSS_LIMIT")
    [raised] = await kit.service.after_cycle("c3")
    assert raised.author == WATCH_AUTHOR and raised.status is ProposalStatus.PENDING
    assert raised.changes == {"risk.daily_loss_limit": 0.02}  # back to version 1's value
    assert "breached DAILY_LOSS_LIMIT in c3" in raised.reason
    assert kit.store.kv_get("proposals.watch")["done"] is True
    assert await kit.service.after_cycle("c3") == []  # a cycle is looked at once
    p = await kit.service.approve(raised.id, "alice")  # the watch is not a person
    assert kit.config.version().values["risk.daily_loss_limit"] == 0.02 and p.applied_version == 3


async def test_watch_when_old_version_breached_the_same_guard_then_nothing_raised(
    kit: Kit,
) -> None:
    _cycle(kit, "c1", "2013-02-01", 1, breach="DAILY_LOSS_LIMIT")
    await _approved(kit)
    _cycle(kit, "c2", "2013-02-05", 2, breach="DAILY_LOSS_LIMIT")
    assert await kit.service.after_cycle("c2") == []
    _cycle(kit, "c3", "2013-02-06", 2)
    assert await kit.service.after_cycle("c3") == []
    assert kit.store.kv_get("proposals.watch")["done"] is True  # watch_cycles = 2 used up
    _cycle(kit, "c4", "2013-02-07", 2, breach="MAX_DRAWDOWN_BREACHED")
    assert await kit.service.after_cycle("c4") == []  # no longer watched


def test_guard_breaches_when_journal_has_guard_state_changes_then_their_codes() -> None:
    changes = [
        Envelope(cycle_id="c", sender="drawdown_guard",
                 payload=StateChange(state=TradingState.HALTED, reason=r))
        for r in ("MAX_DRAWDOWN_BREACHED: drawdown=0.06", "operator halt")
    ]  # fmt: skip
    assert guard_breaches(changes) == {"MAX_DRAWDOWN_BREACHED"}


async def test_after_cycle_when_agent_proposed_then_submitted_once_with_its_lessons(
    kit: Kit,
) -> None:
    data = {"changes": {"risk.max_position_weight": 0.27}, "reason": "calmer",
            "lessons": ["lesson:kill_switch"]}  # fmt: skip
    for _ in range(2):  # two notes with the same change: one proposal
        kit.store.append_message(
            Envelope(cycle_id="c1", sender="proposal_author",
                     payload=Note(topic="proposal", data=data))
        )  # fmt: skip
    made = await kit.service.after_cycle("c1")
    assert [(p.author, p.lessons, p.changes) for p in made] == [
        ("proposal_author", ["lesson:kill_switch"], {"risk.max_position_weight": 0.27})
    ]
    assert await kit.service.after_cycle("c1") == []  # the same cycle again: nothing new


def test_rollback_when_older_version_then_active_again_and_refusals_named(kit: Kit) -> None:
    first = kit.config.version()
    values = {**first.values, "risk.max_open_positions": 5}
    second = kit.config.create(values, "alice", "fewer", approver="bob", proposal_id="p-1")
    assert second.version == 2 and second.diff == {"risk.max_open_positions": [10, 5]}
    assert kit.config.create(values, "alice", "again", proposal_id="p-1").version == 2
    back = kit.config.rollback(1, "too few", "bob")
    assert back.version == 1 and kit.config.version().version == 1
    assert [a["version"] for a in kit.config.activations()] == [1, 2, 1]
    for number, code in ((1, ProposalRefusal.NO_CHANGE), (7, ProposalRefusal.UNKNOWN_VERSION)):
        with pytest.raises(ProposalRefusedError) as err:
            kit.config.rollback(number, "x", "bob")
        assert err.value.code is code
    assert kit.config.diff(1, 2) == {"risk.max_open_positions": [10, 5]}
    assert ("bob", "config:rollback") in kit.actions() and kit.audit.verify().ok


def test_ensure_when_settings_edited_then_recorded_as_a_version_by_settings(kit: Kit) -> None:
    assert kit.config.ensure().version == 1
    edited = {**kit.config.values(), "risk.max_drawdown": 0.04}
    desk = ConfigVersions(kit.store, kit.audit, edited, clock=kit.clock)
    v = desk.ensure()
    assert (
        v.version == 2 and v.author == "settings" and v.diff == {"risk.max_drawdown": [0.05, 0.04]}
    )
    assert desk.ensure().version == 2  # seen once: not recorded again
    desk.rollback(1, "keep 5 %", "bob")
    assert desk.ensure().version == 1  # unchanged settings leave a rollback alone
