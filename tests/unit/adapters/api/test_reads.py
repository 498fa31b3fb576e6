"""The API's own reads on a real SQLite store: the journal paged back across a window
the store has to widen, filters, a bad cursor; equity with its running peak; a cycle's
messages by desk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.api.reads import (
    TAIL_WINDOW,
    BadCursorError,
    desks_view,
    equity_history,
    fills_view,
    journal_page,
)
from adapters.storage.sqlite import SqliteStore
from core.messages import Envelope, Note
from workflows.service import CYCLES, EQUITY_KEY


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "quorum.db")
    yield db
    db.close()


def journal(store: SqliteStore, count: int, cycles: int = 3) -> list[str]:
    ids = []
    for i in range(count):
        sender = ("market_data", "risk_manager", "daily_cycle")[i % 3]
        m = Envelope(
            id=f"m{i:05d}",
            cycle_id=f"cycle-{i % cycles}",
            sender=sender,
            payload=Note(topic=f"t{i}"),
        )
        store.append_message(m)
        ids.append(m.id)
    return ids


def test_journal_when_paged_back_past_the_first_window_then_every_message_once(
    store: SqliteStore,
) -> None:
    ids = journal(store, TAIL_WINDOW * 3 + 17)
    seen: list[str] = []
    before = None
    while True:
        page = journal_page(store, limit=97, before=before)
        seen = [m.id for m in page.messages] + seen
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == ids


def test_journal_when_filtered_by_cycle_and_kind_then_only_those_and_paged(
    store: SqliteStore,
) -> None:
    ids = journal(store, 60)
    wanted = [i for n, i in enumerate(ids) if n % 3 == 1]
    first = journal_page(store, limit=8, cycle="cycle-1", kind="note")
    second = journal_page(store, limit=100, cycle="cycle-1", before=first.next_before)
    assert [m.id for m in second.messages + first.messages] == wanted
    assert second.next_before is None
    assert {m.cycle_id for m in first.messages} == {"cycle-1"}
    assert journal_page(store, limit=5, kind="bars_published").messages == []


def test_journal_when_cursor_unknown_then_bad_cursor_error(store: SqliteStore) -> None:
    journal(store, 10)
    with pytest.raises(BadCursorError, match="before=zzz"):
        journal_page(store, limit=5, before="zzz")
    with pytest.raises(BadCursorError):
        journal_page(store, limit=5, cycle="cycle-0", before="m00001")  # of cycle-1


def test_desks_when_cycle_has_messages_then_grouped_by_sender_desk(store: SqliteStore) -> None:
    journal(store, 30, cycles=1)
    store.put_document(CYCLES, "cycle-0", {"cycle_id": "cycle-0", "as_of": "2013-02-28"})
    view = desks_view(store)
    assert [(d.desk, d.agents, d.count) for d in view.desks] == [
        ("data", ["market_data"], 10),
        ("risk", ["risk_manager"], 10),
        ("workflow", ["daily_cycle"], 10),
    ]
    assert view.cycle is not None and view.cycle.status == "incomplete"


def test_desks_when_no_cycle_yet_then_empty(store: SqliteStore) -> None:
    assert desks_view(store).desks == [] and desks_view(store).cycle is None


def test_equity_when_curve_dips_then_peak_from_starting_cash_and_drawdown(
    store: SqliteStore,
) -> None:
    for day, equity in (
        ("2013-02-25", 99_000.0),
        ("2013-02-26", 101_000.0),
        ("2013-02-27", 98_980.0),
    ):
        store.kv_set(EQUITY_KEY, {"date": day, "equity": equity})
    view = equity_history(store, 100_000.0)
    assert [(p.peak, round(p.drawdown, 4)) for p in view.points] == [
        (100_000.0, -0.01),
        (101_000.0, 0.0),
        (101_000.0, -0.02),
    ]
    assert round(view.max_drawdown, 4) == -0.02


def test_equity_and_fills_when_nothing_ran_then_empty(store: SqliteStore) -> None:
    view = equity_history(store, 100_000.0)
    assert view.points == [] and view.max_drawdown == 0.0
    assert fills_view(store, 10).rows == []
