"""Live trading needs the operator's own `mode live` confirmation, not only settings."""

from __future__ import annotations

from pathlib import Path

from adapters.storage.sqlite import SqliteStore
from workflows.operator_actions import MODE_KEY, operator_confirmed_live


def test_confirmed_live_when_nothing_recorded_then_false(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.db")
    try:
        assert operator_confirmed_live(store) is False
    finally:
        store.close()


def test_confirmed_live_when_newest_record_says_paper_then_false(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.db")
    try:
        store.kv_set(MODE_KEY, {"mode": "live", "by": "ann"}, actor="ann")
        assert operator_confirmed_live(store) is True
        store.kv_set(MODE_KEY, {"mode": "paper", "by": "bob"}, actor="bob")
        assert operator_confirmed_live(store) is False
    finally:
        store.close()
