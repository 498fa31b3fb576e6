"""Stable message ids: a step re-run after a crash journals under the same ids."""

from __future__ import annotations

from pathlib import Path

from adapters.storage.sqlite import SqliteStore
from core.messages import Envelope, Note
from workflows.agent_runner import journal, stable_ids
from workflows.state import CycleDeps


def _batch(outside: str) -> list[Envelope]:
    first = Envelope(cycle_id="c1", sender="a", payload=Note(topic="figures"))
    second = Envelope(
        cycle_id="c1", sender="a", payload=Note(topic="verdict"), causation_id=first.id
    )
    third = Envelope(cycle_id="c1", sender="a", payload=Note(topic="x"), causation_id=outside)
    return [first, second, third]


def test_stable_ids_when_same_scope_then_same_ids_and_links_inside_the_batch_follow() -> None:
    one, two = (
        stable_ids(_batch("inbox-1"), "run|c1|risk:a"),
        stable_ids(_batch("inbox-1"), "run|c1|risk:a"),
    )
    assert [m.id for m in one] == [m.id for m in two]
    assert len({m.id for m in one}) == 3
    assert one[1].causation_id == one[0].id  # rewritten with its target
    assert one[2].causation_id == "inbox-1"  # a link outside the batch is kept
    assert [m.payload for m in one] == [m.payload for m in _batch("inbox-1")]


def test_stable_ids_when_scope_differs_or_is_missing_then_ids_differ() -> None:
    batch = _batch("inbox-1")
    assert stable_ids(batch, None) == batch
    ids = {m.id for m in stable_ids(batch, "run1|c1|s")}
    assert ids.isdisjoint(m.id for m in stable_ids(batch, "run2|c1|s"))
    assert ids.isdisjoint(m.id for m in stable_ids(batch, "run1|c1|t"))


def test_journal_when_step_rerun_under_same_scope_then_journal_keeps_one_copy(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "q.db")
    deps = CycleDeps(store=store, market=None, registry={})  # type: ignore[arg-type]
    first = journal(deps, _batch("inbox-1"), "run|c1|risk_gate")
    again = journal(deps, _batch("inbox-1"), "run|c1|risk_gate")  # fresh uuids, re-run
    assert [m.id for m in again] == [m.id for m in first]
    assert len(store.messages_by_cycle("c1")) == 3
    journal(deps, _batch("inbox-1"))  # no scope: a new set of messages
    assert len(store.messages_by_cycle("c1")) == 6
    store.close()
