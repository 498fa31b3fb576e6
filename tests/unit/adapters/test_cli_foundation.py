from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.storage.sqlite import SqliteStore
from core.messages import Envelope, Note

HEAVY = ("langgraph", "langchain", "langchain_core", "anthropic", "numba", "pandas")


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys; sys.argv=['quorum','--help']\n"
        "from adapters.cli.main import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        f"bad=[m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]\n"
        "print('HEAVY', bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout[-500:]
    assert "Usage" in out.stdout


def test_version_json() -> None:
    res = CliRunner().invoke(app, ["version", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["quorum"]


def test_journal_tail_json_lists_messages_of_a_cycle() -> None:
    store = SqliteStore(Path("var") / "quorum.db")
    for cycle in ("c1", "c2"):
        store.append_message(Envelope(cycle_id=cycle, sender="s", payload=Note(topic=cycle)))
    store.close()
    res = CliRunner().invoke(app, ["journal", "tail", "--cycle", "c2", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["cycle_id"] for r in rows] == ["c2"]
    assert rows[0]["payload"]["topic"] == "c2"


def test_audit_verify_ok_then_broken_names_first_bad_record() -> None:
    import sqlite3

    from config.secrets import audit_key
    from core.audit import AuditLog

    store = SqliteStore(Path("var") / "quorum.db")
    log = AuditLog(store, audit_key(None, Path("var")))
    for i in range(3):
        log.append("ops", "halt", {"i": i})
    store.close()
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    con = sqlite3.connect(Path("var") / "quorum.db")
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit SET actor='mallory' WHERE seq=2")
    con.commit()
    con.close()
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "seq 2" in bad.output


def test_secrets_encrypt_then_settings_read_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    from config.settings import load_settings

    monkeypatch.setenv("QUORUM_MASTER_KEY", Fernet.generate_key().decode())
    Path(".env").write_text("QUORUM_SECRETS__SLACK_BOT_TOKEN=xoxb-secret-value\n")
    runner = CliRunner()
    res = runner.invoke(app, ["secrets", "encrypt", ".env", "--remove-plain"])
    assert res.exit_code == 0, res.output
    assert not Path(".env").exists() and Path(".env.enc").exists()
    token = load_settings().secrets.slack_bot_token
    assert token is not None and token.get_secret_value() == "xoxb-secret-value"
    listed = runner.invoke(app, ["secrets", "decrypt"])
    assert "QUORUM_SECRETS__SLACK_BOT_TOKEN=***" in listed.stdout
    assert "xoxb-secret-value" not in listed.stdout
    as_json = runner.invoke(app, ["secrets", "decrypt", "--json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == {"QUORUM_SECRETS__SLACK_BOT_TOKEN": "***"}


def test_secrets_encrypt_missing_file_fails_clearly(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    monkeypatch.setenv("QUORUM_MASTER_KEY", Fernet.generate_key().decode())
    res = CliRunner().invoke(app, ["secrets", "encrypt", "nope.env"])
    assert res.exit_code == 2 and "nope.env: no such file" in res.output


def test_journal_tail_when_state_dir_cannot_be_created_then_one_line_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    Path("blocker").write_text("a file, not a folder")
    monkeypatch.setenv("QUORUM_STATE_DIR", "blocker/state")
    res = CliRunner().invoke(app, ["journal", "tail"])
    assert res.exit_code == 2
    assert "error: blocker" in res.output and "Not a directory" in res.output
    assert "Traceback" not in res.output


def test_audit_verify_when_database_file_is_not_sqlite_then_names_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    Path("var").mkdir()
    Path("var/quorum.db").write_bytes(b"this is not a database" * 100)
    res = CliRunner().invoke(app, ["audit", "verify"])
    assert res.exit_code == 2
    assert "quorum.db: cannot open as a Quorum store" in res.output
    assert Path("var/quorum.db").read_bytes() == b"this is not a database" * 100


def test_group_help_when_docstrings_wrap_then_each_command_listed_as_one_sentence() -> None:
    # typer's rich help kept a docstring's line breaks in a group's command list:
    # "Approve a pending proposal (admin, --totp; never its own author): it is applied as"
    # then, on a line of its own, "a new configuration version, audited, ...".
    result = CliRunner().invoke(app, ["proposals", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "it is applied as a new configuration version, audited" in result.stdout
    result = CliRunner().invoke(app, ["daemon", "--help"], env={"COLUMNS": "200"})
    assert "missed sessions and the recent events" in result.stdout
