"""Tampering with the SQLite audit table the way an attacker with file access would:
drop the append-only triggers, then edit, delete, insert or reorder rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.storage.sqlite import SqliteStore
from core.audit import AuditLog

KEY = b"secret-audit-key"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "a.db"
    store = SqliteStore(path)
    log = AuditLog(store, KEY)
    for i in range(6):
        log.append("ops", f"action{i}", {"i": i})
    store.close()
    return path


def _attack(path: Path, *sql: str) -> None:
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("DROP TRIGGER audit_no_delete")
    for stmt in sql:
        con.execute(stmt)
    con.commit()
    con.close()


def _verify(path: Path) -> tuple[bool, int | None, str | None]:
    store = SqliteStore(path)
    r = AuditLog(store, KEY).verify()
    store.close()
    return r.ok, r.first_bad_seq, r.reason


def test_untouched_chain_verifies(db: Path) -> None:
    assert _verify(db) == (True, None, None)


def test_edited_record_is_named(db: Path) -> None:
    _attack(db, "UPDATE audit SET data='{\"i\": 99}' WHERE seq=3")
    ok, bad, reason = _verify(db)
    assert (ok, bad) == (False, 3) and "edited" in (reason or "")


def test_deleted_record_is_named(db: Path) -> None:
    _attack(db, "DELETE FROM audit WHERE seq=2")
    ok, bad, _ = _verify(db)
    assert (ok, bad) == (False, 3)


def test_deleted_newest_records_are_caught_by_the_head(db: Path) -> None:
    _attack(db, "DELETE FROM audit WHERE seq>=5")
    ok, bad, reason = _verify(db)
    assert (ok, bad) == (False, 5) and "head" in (reason or "")


def test_inserted_record_is_named(db: Path) -> None:
    _attack(
        db,
        "INSERT INTO audit(pos, seq, ts, actor, action, data, prev_mac, mac) "
        "SELECT 35, 4, ts, actor, 'forged', data, prev_mac, mac FROM audit WHERE seq=3",
        "UPDATE audit SET pos = pos + 100 WHERE seq >= 4 AND action != 'forged'",
    )
    ok, bad, _ = _verify(db)
    assert (ok, bad) == (False, 4)


def test_reordered_records_are_named(db: Path) -> None:
    _attack(
        db,
        "UPDATE audit SET pos = 100 WHERE seq = 2",
        "UPDATE audit SET pos = 2 WHERE seq = 3",
        "UPDATE audit SET pos = 3 WHERE pos = 100",
    )
    ok, bad, _ = _verify(db)
    assert (ok, bad) == (False, 3)


def test_journal_is_append_only(tmp_path: Path) -> None:
    from core.messages import Envelope, Note

    store = SqliteStore(tmp_path / "j.db")
    store.append_message(Envelope(cycle_id="c", sender="s", payload=Note(topic="t")))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store._db.execute("DELETE FROM journal")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store._db.execute("UPDATE journal SET sender='x'")
    store.close()
