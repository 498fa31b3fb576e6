from __future__ import annotations

import json
from pathlib import Path

import pyotp
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.state.memory import MemorySharedState
from adapters.storage.sqlite import SqliteStore
from core.audit import AuditLog
from core.risk import TradingState
from workflows.control import TradingControl, most_restrictive

KEY = b"audit-key"


def _control(path: Path, shared: MemorySharedState | None = None) -> TradingControl:
    store = SqliteStore(path)
    return TradingControl(store, AuditLog(store, KEY), shared)


def test_kill_switch_wins_over_state_and_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    control = _control(db)
    assert control.effective() is TradingState.ACTIVE
    control.engage_kill_switch("flash crash", "ops")
    control.set_state(TradingState.ACTIVE, "someone resumes", "ops2")
    assert control.effective() is TradingState.HALTED  # the switch still holds
    again = _control(db)  # a new process on the same store
    status = again.status()
    assert status.kill_switch and status.effective is TradingState.HALTED
    again.release_kill_switch("all clear", "ops")
    assert again.effective() is TradingState.ACTIVE
    assert [r.action for r in SqliteStore(db).audit_records()] == [
        "kill_switch:engage",
        "set_state:ACTIVE",
        "kill_switch:release",
    ]
    assert AuditLog(SqliteStore(db), KEY).verify().ok


def test_shared_state_tightens_but_never_loosens_the_stored_one(tmp_path: Path) -> None:
    shared = MemorySharedState()
    control = _control(tmp_path / "q.db", shared)
    control.set_state(TradingState.REDUCING, "risk off", "ops")
    shared.set_state(TradingState.ACTIVE, "another process resumed", "bot")
    assert control.effective() is TradingState.REDUCING
    shared.engage_kill_switch("another process pulled the switch", "bot")
    assert control.effective() is TradingState.HALTED
    assert control.status().actor == "bot"


def test_changes_reach_the_shared_state(tmp_path: Path) -> None:
    shared = MemorySharedState()
    _control(tmp_path / "q.db", shared).engage_kill_switch("stop", "ops")
    assert shared.status().effective is TradingState.HALTED


def test_most_restrictive_orders_halted_over_reducing_over_active() -> None:
    a, r, h = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
    assert most_restrictive(a, r) is r
    assert most_restrictive(h, a, r) is h
    assert most_restrictive(a) is a


def test_cli_kill_then_status_json_then_release() -> None:
    runner = CliRunner()
    enrol = runner.invoke(app, ["operators", "add", "alice", "--role", "admin", "--json"])
    assert enrol.exit_code == 0, enrol.output
    secret = json.loads(enrol.stdout)["totp_secret"]
    res = runner.invoke(app, ["trading", "kill", "--reason", "drill", "--actor", "alice"])
    assert res.exit_code == 0, res.output
    out = runner.invoke(app, ["trading", "status", "--json", "--actor", "alice"])
    status = json.loads(out.stdout)
    assert status["effective"] == "HALTED" and status["kill_switch"] is True
    assert status["actor"] == "alice" and status["reason"] == "drill"
    no_code = runner.invoke(app, ["trading", "release", "-r", "done", "--actor", "alice"])
    assert no_code.exit_code == 1 and "TOTP_REQUIRED" in no_code.output
    code = pyotp.TOTP(secret).now()
    released = runner.invoke(
        app, ["trading", "release", "-r", "done", "--actor", "alice", "--totp", code]
    )
    assert released.exit_code == 0, released.output
    reduced = runner.invoke(app, ["trading", "reduce", "-r", "vol", "--json", "--actor", "alice"])
    assert json.loads(reduced.stdout)["effective"] == "REDUCING"
    missing = runner.invoke(app, ["trading", "halt", "--actor", "alice"])
    assert missing.exit_code != 0  # a reason is required


def test_cli_trading_when_no_operator_enrolled_then_refused_with_the_enrol_command() -> None:
    res = CliRunner().invoke(app, ["trading", "kill", "-r", "drill", "--actor", "bob"])
    assert res.exit_code == 1
    assert "UNKNOWN_USER" in res.output
    assert "quorum operators add bob --role admin" in res.output
