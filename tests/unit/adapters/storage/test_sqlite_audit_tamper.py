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


def test_append_when_another_process_extended_the_chain_then_stale_record_refused(
    tmp_path: Path,
) -> None:
    from core.audit import seal
    from core.errors import AuditChainError

    path = tmp_path / "two.db"
    mine, theirs = SqliteStore(path), SqliteStore(path)
    AuditLog(mine, KEY).append("ops", "start")
    stale = seal(KEY, mine.audit_last(), "ops", "mine", {})  # sealed on seq 1 ...
    AuditLog(theirs, KEY).append("cli", "halt")  # ... but another process wrote seq 2
    with pytest.raises(AuditChainError, match="seq 2 already holds another record"):
        mine.audit_append(stale)
    wrong_link = seal(KEY, None, "ops", "forged", {}).model_copy(update={"seq": 3})
    with pytest.raises(AuditChainError, match="does not extend the head"):
        mine.audit_append(wrong_link)
    assert [r.action for r in mine.audit_records()] == ["start", "halt"]
    assert AuditLog(mine, KEY).verify().ok
    mine.close()
    theirs.close()


def test_append_when_it_loses_a_race_then_reseals_on_the_new_head(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    mine, theirs = SqliteStore(path), SqliteStore(path)
    AuditLog(mine, KEY).append("ops", "start")

    class RacingSink:
        """Reads the last record, then lets the other process append before we write."""

        raced = False

        def audit_last(self):  # type: ignore[no-untyped-def]
            last = mine.audit_last()
            if not self.raced:
                self.raced = True
                AuditLog(theirs, KEY).append("cli", "halt")
            return last

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(mine, name)

    record = AuditLog(RacingSink(), KEY).append("ops", "resume")  # type: ignore[arg-type]
    assert record.seq == 3
    assert [r.action for r in mine.audit_records()] == ["start", "halt", "resume"]
    assert AuditLog(mine, KEY).verify().ok
    mine.close()
    theirs.close()


def test_verify_with_a_different_key_names_the_first_record(db: Path) -> None:
    store = SqliteStore(db)
    result = AuditLog(store, b"another-key").verify()
    store.close()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "wrong key" in (result.reason or "")


def test_forged_record_with_the_right_link_but_no_key_is_named(db: Path) -> None:
    from core.audit import seal

    store = SqliteStore(db)
    last = store.audit_last()
    store.close()
    forged = seal(b"attacker-guess", last, "mallory", "withdraw", {"usd": 1e6})
    _attack(
        db,
        "INSERT INTO audit(seq, ts, actor, action, data, prev_mac, mac) VALUES "
        f"({forged.seq}, '{forged.ts.isoformat()}', 'mallory', 'withdraw', "
        f"'{{\"usd\": 1000000.0}}', '{forged.prev_mac}', '{forged.mac}')",
        f"UPDATE audit_head SET seq={forged.seq}, mac='{forged.mac}'",
    )
    ok, bad, reason = _verify(db)
    assert (ok, bad) == (False, 7) and "MAC mismatch" in (reason or "")


def test_audit_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    import os

    from config.secrets import audit_key
    from core.errors import ConfigurationError

    key = audit_key(None, tmp_path)
    assert key == audit_key(None, tmp_path)  # created once, then reused
    assert (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600
    os.chmod(tmp_path / "audit.key", 0o640)
    with pytest.raises(ConfigurationError, match="must be 0600"):
        audit_key(None, tmp_path)
