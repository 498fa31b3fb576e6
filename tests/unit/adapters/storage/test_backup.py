"""`quorum backup`: an online SQLite copy taken while another connection writes, restorable
(the journal and the audit chain verify with the backed-up key), with retention, and
nothing half-written left behind when a copy fails."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.storage.backup import MANIFEST, backup, backups_in
from adapters.storage.sqlite import SqliteStore
from config.secrets import audit_key
from config.settings import load_settings
from core.audit import AuditLog
from core.errors import ConfigurationError
from core.messages import Envelope, Note

T0 = datetime(2012, 11, 19, 22, 0, tzinfo=UTC)


def note(n: int) -> Envelope:
    return Envelope(cycle_id="c", sender="s", payload=Note(topic=f"n{n}"))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    state_dir = tmp_path / "var"
    store = SqliteStore(state_dir / "quorum.db")
    log = AuditLog(store, audit_key(None, state_dir))
    for n in range(50):
        store.append_message(note(n))
    log.append("ops", "halt", {"why": "test"})
    store.close()
    return state_dir


def test_backup_when_another_connection_writes_then_the_copy_is_consistent_and_restorable(
    state: Path, tmp_path: Path
) -> None:
    settings = load_settings(state_dir=state)
    writer = SqliteStore(state / "quorum.db")
    stop = threading.Event()

    def write() -> None:
        n = 1000
        while not stop.is_set():
            writer.append_message(note(n))
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        result = backup(settings, tmp_path / "backups", keep=3, now=T0)
    finally:
        stop.set()
        thread.join()
        total = len(writer.messages_by_cycle("c"))
        writer.close()
    names = {f.name: f for f in result.files}
    assert set(names) == {"quorum.db", "audit.key"}  # no checkpoints.db yet: a note says so
    assert names["quorum.db"].integrity == "ok"
    assert any("checkpoints.db: not there yet" in n for n in result.notes)
    folder = Path(result.path)
    assert folder.name == "quorum-20121119T220000Z"
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in folder.iterdir())
    manifest = json.loads((folder / MANIFEST).read_text())
    assert [f["name"] for f in manifest["files"]] == ["quorum.db", "audit.key"]

    restored = SqliteStore(folder / "quorum.db")
    try:
        copied = restored.messages_by_cycle("c")
        assert 50 <= len(copied) <= total  # a snapshot: whatever was committed then
        assert [m.payload.topic for m in copied[:50]] == [f"n{n}" for n in range(50)]  # type: ignore[union-attr]
        verified = AuditLog(restored, (folder / "audit.key").read_bytes().strip()).verify()
        assert verified.ok
    finally:
        restored.close()


def test_backup_when_run_more_often_than_keep_then_only_the_newest_remain(
    state: Path, tmp_path: Path
) -> None:
    settings = load_settings(state_dir=state)
    dest = tmp_path / "backups"
    results = [backup(settings, dest, keep=2, now=T0 + timedelta(days=d)) for d in range(4)]
    assert [p.name for p in backups_in(dest)] == [
        "quorum-20121121T220000Z",
        "quorum-20121122T220000Z",
    ]
    assert results[2].removed == [str(dest / "quorum-20121119T220000Z")]
    assert results[3].removed == [str(dest / "quorum-20121120T220000Z")]


def test_backup_when_the_database_is_corrupt_then_refused_and_nothing_left_behind(
    tmp_path: Path,
) -> None:
    state = tmp_path / "var"
    state.mkdir()
    (state / "quorum.db").write_bytes(b"not a database" * 500)
    dest = tmp_path / "backups"
    with pytest.raises(ConfigurationError, match=r"quorum\.db: cannot back up"):
        backup(load_settings(state_dir=state), dest, keep=2, now=T0)
    assert list(dest.iterdir()) == []


def test_backup_when_no_database_yet_then_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="nothing to back up"):
        backup(load_settings(state_dir=tmp_path / "empty"), tmp_path / "b", keep=1)


def test_backup_cli_when_run_then_json_names_the_folder_and_keep_zero_is_refused(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUORUM_STATE_DIR", str(state))
    runner = CliRunner()
    done = runner.invoke(app, ["backup", "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert Path(doc["path"]).parent == state / "backups"
    assert runner.invoke(app, ["backup", "--keep", "0"]).exit_code == 2
