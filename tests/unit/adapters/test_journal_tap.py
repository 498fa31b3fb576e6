from __future__ import annotations

from pathlib import Path

from adapters.bus.journal_tap import tapped
from adapters.bus.memory import InMemoryBus
from adapters.storage.sqlite import SqliteStore
from core import topics
from core.errors import TemporaryError
from core.messages import Envelope, Note


def _msg(i: int) -> Envelope:
    return Envelope(cycle_id="c1", sender="agent", payload=Note(topic=f"n{i}"))


def test_each_journaled_message_is_published_once_in_order(tmp_path: Path) -> None:
    bus = InMemoryBus()
    store = tapped(SqliteStore(tmp_path / "q.db"), bus)
    sent = [_msg(i) for i in range(3)]
    for m in sent:
        store.append_message(m)
    got = bus.consume(topics.A2A, "followers", "f1", count=10)
    assert [d.message.id for d in got] == [m.id for m in sent]
    assert [m.id for m in store.messages_by_cycle("c1")] == [m.id for m in sent]


class _DownBus(InMemoryBus):
    def publish(self, topic: str, message: Envelope) -> str:
        raise TemporaryError("redis unreachable")


def test_publish_failure_never_loses_the_journal_entry(tmp_path: Path) -> None:
    inner = SqliteStore(tmp_path / "q.db")
    store = tapped(inner, _DownBus())
    store.append_message(_msg(1))
    assert len(inner.messages_by_cycle("c1")) == 1
    assert store.publish_failures == 1  # type: ignore[attr-defined]
