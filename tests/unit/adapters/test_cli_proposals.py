"""`quorum proposals` and `quorum config` through the operator service, on the state dir
of the test (./var under tmp_path), with a short walk-forward backtest as evidence."""

from __future__ import annotations

import json
from typing import Any

import pyotp
import pytest
from typer.testing import CliRunner

from adapters.cli.main import app

runner = CliRunner()
SUBMIT = ["proposals", "submit", "--set", "strategy.momentum.lookback=40", "--reason", "slower"]


@pytest.fixture(autouse=True)
def short_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUM_PROPOSALS__BACKTEST_FOLDS", "2")
    monkeypatch.setenv("QUORUM_PROPOSALS__BACKTEST_FOLD_BARS", "40")


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _json(*args: str) -> Any:
    code, output = _run(*args, "--json")
    assert code == 0, output
    return json.loads(output)


def _admin(name: str) -> str:
    return str(_json("operators", "add", name, "--role", "admin")["totp_secret"])


def test_approve_when_the_author_decides_then_self_approval_and_another_admin_rejects() -> None:
    bob = _admin("bob")
    _admin("carol")
    p = _json(*SUBMIT, "--actor", "bob")
    assert p["id"] == "p-1" and p["status"] == "pending" and p["author"] == "bob"
    [section] = p["evidence"]["sections"]
    assert section["method"] == "backtest" and len(section["folds"]) == 2
    code, output = _run("proposals", "approve", "p-1", "--actor", "bob", "--totp",
                        pyotp.TOTP(bob).now())  # fmt: skip
    assert code == 1 and "SELF_APPROVAL" in output and "--actor carol" in output
    rejected = _json("proposals", "reject", "p-1", "--reason", "keep 20", "--actor", "carol")
    assert rejected["status"] == "rejected" and rejected["decided_by"] == "carol"
    assert [p["id"] for p in _json("proposals", "list", "--status", "rejected")] == ["p-1"]
    assert [v["version"] for v in _json("config", "history")["versions"]] == [1]
    code, output = _run("proposals", "show", "p-1")
    assert code == 0 and "REJECTED" in output and "backtest (momentum)" in output


def test_approve_when_no_totp_then_refused_and_nothing_applied() -> None:
    _admin("bob")
    _json("operators", "add", "alice", "--role", "trader")
    _json(*SUBMIT, "--actor", "alice")
    code, output = _run("proposals", "approve", "p-1", "--actor", "bob")
    assert code == 1 and "TOTP_REQUIRED" in output
    assert _json("proposals", "show", "p-1")["status"] == "pending"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["proposals", "submit", "--set", "risk.max_drawdown", "--reason", "x"], "KEY=VALUE"),
        (["proposals", "submit", "--set", "risk.nope=1", "--reason", "x"], "UNKNOWN_KEY"),
        (["proposals", "list", "--status", "maybe"], "--status must be one of"),
        (["proposals", "show", "p-9"], "UNKNOWN_PROPOSAL: proposal=p-9"),
        (["config", "show", "--version", "9"], "UNKNOWN_VERSION: version=9"),
        (["proposals", "submit", "--set", "llm.debate_rounds=1", "--reason", "x"], "UNKNOWN_USER"),
    ],
)
def test_commands_when_input_bad_then_one_line_error_exit_1(args: list[str], needle: str) -> None:
    code, output = _run(*args)
    assert code == 1 and needle in output


def test_config_when_fresh_then_version_one_from_the_settings() -> None:
    v = _json("config", "show")
    assert v["version"] == 1 and v["active"] and v["author"] == "settings"
    assert v["values"]["risk.max_position_weight"] == 0.3
    assert _json("config", "diff", "1", "1") == {}
