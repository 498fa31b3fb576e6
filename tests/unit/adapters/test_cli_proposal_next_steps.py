"""What a first-time user meets in `quorum proposals` / `quorum config`: a decision that is
bound to fail is refused before the admin's one-time code is spent (so the retry is not
TOTP_REUSED), every refusal says what to do next, a loosening refusal is JSON under
--json and audited, reads print one line without a class name, and reading proposals
or the configuration history never imports LangGraph, pandas or Numba."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.storage.sqlite import SqliteStore

runner = CliRunner()
HEAVY = ("langgraph", "langchain_core", "pandas", "numba", "matplotlib")


@pytest.fixture(autouse=True)
def short_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUM_PROPOSALS__BACKTEST_FOLDS", "2")
    monkeypatch.setenv("QUORUM_PROPOSALS__BACKTEST_FOLD_BARS", "40")


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _json(*args: str) -> Any:
    code, out, err = _run(*args, "--json")
    assert code == 0, out + err
    return json.loads(out)


def _enrol(name: str, role: str = "admin") -> str:
    return str(_json("operators", "add", name, "--role", role)["totp_secret"])


def _submit(key_value: str, actor: str) -> str:
    made = _json("proposals", "submit", "--set", key_value, "-r", "test", "--actor", actor)
    return str(made["id"])


def test_decisions_when_bound_to_fail_then_refused_before_the_code_is_spent() -> None:
    bob = _enrol("bob")
    _enrol("carol")
    own = _submit("strategy.momentum.lookback=40", "bob")
    other = _submit("strategy.momentum.threshold=0.01", "carol")
    code = pyotp.TOTP(bob).now()
    doomed = [
        (["proposals", "approve", own], "SELF_APPROVAL"),
        (["proposals", "approve", "p-9"], "UNKNOWN_PROPOSAL: proposal=p-9"),
        (["config", "rollback", "9", "-r", "x"], "UNKNOWN_VERSION: version=9"),
        (["config", "rollback", "1", "-r", "x"], "NO_CHANGE: version=1"),
    ]
    for args, needle in doomed:
        exit_code, _, err = _run(*args, "--actor", "bob", "--totp", code)
        assert exit_code == 1 and needle in err and "TOTP" not in err, err
    approved = _json("proposals", "approve", other, "--actor", "bob", "--totp", code)
    assert approved["status"] == "approved" and approved["applied_version"] == 2
    assert _json("proposals", "show", own)["status"] == "pending"


def test_approve_when_own_proposal_then_the_refusal_names_the_other_admin_and_the_command() -> None:
    bob = _enrol("bob")
    _enrol("carol")
    pid = _submit("strategy.momentum.lookback=40", "bob")
    exit_code, _, err = _run("proposals", "approve", pid, "--actor", "bob", "--totp",
                             pyotp.TOTP(bob).now())  # fmt: skip
    assert exit_code == 1 and err.count("SELF_APPROVAL") == 1
    assert "another admin (carol) decides it" in err
    assert f"quorum proposals approve {pid} --actor carol --totp CODE" in err


def test_approve_when_no_other_admin_then_the_refusal_says_to_enrol_one() -> None:
    ada = _enrol("ada")
    pid = _submit("strategy.momentum.lookback=40", "ada")
    _, _, err = _run("proposals", "approve", pid, "--actor", "ada", "--totp", pyotp.TOTP(ada).now())
    assert "no other admin is enrolled" in err and "quorum operators add NAME --role admin" in err
    withdrawn = _json("proposals", "reject", pid, "-r", "mine after all", "--actor", "ada")
    assert withdrawn["status"] == "rejected"  # an author may still withdraw their own


def test_decide_when_trader_then_role_forbidden_names_an_admin_who_may() -> None:
    _enrol("bob")
    _enrol("tom", "trader")
    pid = _submit("strategy.momentum.lookback=40", "tom")
    _, _, err = _run("proposals", "reject", pid, "-r", "no", "--actor", "tom")
    assert "ROLE_FORBIDDEN" in err
    assert f"an admin (bob) decides it: quorum proposals reject {pid} --reason R --actor bob" in err


def test_totp_when_missing_reused_or_wrong_then_the_refusal_says_what_to_do() -> None:
    bob = _enrol("bob")
    _enrol("carol")
    first = _submit("strategy.momentum.lookback=40", "carol")
    second = _submit("strategy.momentum.threshold=0.01", "carol")
    _, _, err = _run("proposals", "approve", first, "--actor", "bob")
    assert "TOTP_REQUIRED" in err and "add --totp CODE" in err
    totp = pyotp.TOTP(bob)
    valid = {totp.at(time.time() + drift) for drift in (-60, -30, 0, 30, 60)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    _, _, err = _run("proposals", "approve", first, "--actor", "bob", "--totp", wrong)
    assert "TOTP_INVALID" in err and "remaining=4" in err and "authenticator app shows now" in err
    code = totp.now()
    assert _json("proposals", "approve", first, "--actor", "bob", "--totp", code)["status"] == (
        "approved"
    )
    _, _, err = _run("proposals", "approve", second, "--actor", "bob", "--totp", code)
    assert "TOTP_REUSED" in err and "wait for the next one (every 30 s)" in err


def test_submit_when_loosening_with_json_then_json_refusal_audited_nothing_recorded() -> None:
    _enrol("bob")
    exit_code, out, err = _run(
        "proposals", "submit", "--set", "risk.max_position_pct=0.5", "-r", "test", "--json"
    )
    assert exit_code == 1 and "30 % hard cap" in err
    refused = json.loads(out)
    assert refused["status"] == "refused" and refused["code"] == "LOOSENS_HARD_CAP"
    assert "cap=0.30 (the 30 % hard cap)" in refused["refusal"]
    assert _json("proposals", "list") == []
    store = SqliteStore(Path("var") / "quorum.db")
    try:
        actions = [r.action for r in store.audit_records()]
    finally:
        store.close()
    assert "proposal:refused" in actions
    exit_code, out, _ = _run("audit", "verify")
    assert exit_code == 0, out


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["config", "diff", "1", "7"], "error: UNKNOWN_VERSION: version=7 known=1..1"),
        (["config", "show", "--version", "0"], "error: UNKNOWN_VERSION: version=0"),
        (["proposals", "show", "p-9"], "error: UNKNOWN_PROPOSAL: proposal=p-9"),
    ],
)
def test_reads_when_unknown_then_one_line_led_by_the_code(args: list[str], line: str) -> None:
    exit_code, _, err = _run(*args)
    assert exit_code == 1 and err.startswith(line) and "Error:" not in err, err


def test_reads_when_proposals_and_versions_exist_then_no_heavy_import(tmp_path: Path) -> None:
    _enrol("bob")
    _enrol("carol")
    pid = _submit("strategy.momentum.lookback=40", "carol")
    reads = [["proposals", "list"], ["proposals", "show", pid], ["config", "history"],
             ["config", "show", "--version", "1"], ["config", "diff", "1", "1"]]  # fmt: skip
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from adapters.cli.main import app\n"
        f"codes = [CliRunner().invoke(app, a).exit_code for a in {reads!r}]\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"codes": [0] * len(reads), "heavy": []}, out.stderr[-800:]
