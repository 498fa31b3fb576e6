"""`quorum operators ...` and `quorum trading ...` through the operator service, on the
state dir of the test (QUORUM_STATE_DIR unset: ./var under tmp_path)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pyotp
import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.storage.sqlite import SqliteStore
from config.secrets import audit_key
from core.audit import AuditLog

runner = CliRunner()


def _quorum(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _audit() -> tuple[list[tuple[str, str]], bool, str]:
    store = SqliteStore(Path("var") / "quorum.db")
    try:
        records = store.audit_records()
        ok = AuditLog(store, audit_key(None, Path("var"))).verify().ok
        text = json.dumps([[r.actor, r.action, r.data] for r in records])
        return [(r.actor, r.action) for r in records], ok, text
    finally:
        store.close()


def test_add_when_json_then_secret_uri_and_operator_and_audited_by_login_name() -> None:
    out = _json("operators", "add", "alice", "--role", "admin", "--slack-id", "U1")
    assert isinstance(out, dict)
    secret = out["totp_secret"]
    assert out["otpauth_uri"] == pyotp.TOTP(secret).provisioning_uri(
        name="alice", issuer_name="Quorum"
    )
    assert out["operator"]["role"] == "admin" and out["operator"]["slack_id"] == "U1"
    actions, ok, text = _audit()
    assert actions == [(f"cli:{getpass.getuser()}", "operator:enrol")] and ok
    assert secret not in text


def test_add_when_not_json_then_prints_secret_uri_and_a_terminal_qr_code() -> None:
    code, output = _quorum("operators", "add", "bob", "--role", "viewer")
    assert code == 0, output
    assert "secret: " in output and "otpauth://totp/Quorum:bob?secret=" in output
    assert "█" in output or "▀" in output  # segno's compact terminal QR code


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["operators", "add", "carol", "--role", "boss"], "--role must be viewer, trader or admin"),
        (["operators", "add", "-x", "--role", "viewer"], "No such option"),
        (["operators", "add", "a b", "--role", "viewer"], "INVALID_NAME"),
        (["operators", "remove", "ghost"], "UNKNOWN_OPERATOR: name=ghost"),
        (["operators", "rotate-totp", "ghost"], "UNKNOWN_OPERATOR"),
        (["operators", "token", "ghost"], "UNKNOWN_OPERATOR"),
        (["operators", "token", "ghost", "--revoke"], "UNKNOWN_OPERATOR"),
    ],
)
def test_operators_when_input_bad_then_one_line_error_and_nothing_enrolled(
    args: list[str], needle: str
) -> None:
    code, output = _quorum(*args)
    assert code != 0 and needle in output
    assert _json("operators", "list") == []


def test_add_when_name_taken_then_duplicate_refused() -> None:
    _json("operators", "add", "alice", "--role", "admin")
    code, output = _quorum("operators", "add", "alice", "--role", "viewer")
    assert code == 1 and "DUPLICATE_OPERATOR: name=alice" in output
    # the line starts with its code, not the exception class ("error: OperatorError: ...")
    assert output.strip().splitlines()[-1] == "error: DUPLICATE_OPERATOR: name=alice"


def test_list_remove_rotate_token_when_json_then_each_change_shows_and_is_audited() -> None:
    first = _json("operators", "add", "alice", "--role", "admin")
    _json("operators", "add", "tom", "--role", "trader", "--discord-id", "77")
    listed = _json("operators", "list")
    assert [(o["name"], o["role"], o["discord_id"]) for o in listed] == [
        ("alice", "admin", None),
        ("tom", "trader", "77"),
    ]
    rotated = _json("operators", "rotate-totp", "alice")
    assert rotated["totp_secret"] != first["totp_secret"]
    token = _json("operators", "token", "tom")["token"]
    assert token.startswith("qrm_")
    assert _json("operators", "token", "tom", "--revoke") == {"name": "tom", "revoked": 1}
    assert _json("operators", "remove", "tom")["removed"]["name"] == "tom"
    assert [o["name"] for o in _json("operators", "list")] == ["alice"]
    actions, ok, text = _audit()
    assert [a for _, a in actions] == [
        "operator:enrol",
        "operator:enrol",
        "operator:rotate_totp",
        "operator:token_issue",
        "operator:token_revoke",
        "operator:remove",
    ]
    assert ok
    for secret in (first["totp_secret"], rotated["totp_secret"], token):
        assert secret not in text


def test_list_when_nobody_enrolled_then_says_how_to_enrol() -> None:
    code, output = _quorum("operators", "list")
    assert code == 0 and f"quorum operators add {getpass.getuser()} --role admin" in output


def test_trading_when_local_operator_set_then_acts_as_it_and_viewer_cannot_halt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _json("operators", "add", "vic", "--role", "viewer")
    monkeypatch.setenv("QUORUM_OPERATORS__LOCAL_OPERATOR", "vic")
    code, output = _quorum("trading", "halt", "-r", "try")
    assert code == 1 and "ROLE_FORBIDDEN: command=halt role=viewer needs=trader" in output
    status = _json("trading", "status")
    assert status["effective"] == "ACTIVE" and status["version"] == 0
    actions, ok, _ = _audit()
    assert ("vic", "command:halt") in actions and ok


def test_trading_resume_when_code_wrong_then_refused_and_right_code_resumes() -> None:
    secret = _json("operators", "add", "ada", "--role", "admin")["totp_secret"]
    assert _json("trading", "halt", "-r", "drill", "--actor", "ada")["effective"] == "HALTED"
    right = pyotp.TOTP(secret).now()
    wrong = "482913" if right != "482913" else "482914"
    code, output = _quorum("trading", "resume", "-r", "ok", "--actor", "ada", "--totp", wrong)
    assert code == 1 and "TOTP_INVALID" in output
    resumed = _json("trading", "resume", "-r", "ok", "--actor", "ada", "--totp", right)
    assert resumed["effective"] == "ACTIVE" and resumed["actor"] == "ada"
    _, ok, text = _audit()
    assert ok and right not in text and wrong not in text
