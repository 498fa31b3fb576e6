"""`quorum chat console` piped, and the platform-neutral rendering every transport uses."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from typer.testing import CliRunner

from adapters.chat.render import render_table, render_text
from adapters.cli.main import app
from adapters.storage.sqlite import SqliteStore
from config.secrets import audit_key
from core.audit import AuditLog
from core.proposals import ConfigVersion, Proposal, ProposalStatus
from workflows.operator import CommandResult, DenialCode, Outcome
from workflows.operator_views import (
    CommandRow,
    ConfigView,
    CycleBrief,
    CycleRunView,
    ExplainView,
    HelpView,
    ModeView,
    OrderRow,
    OrdersView,
    PnlRow,
    PnlView,
    PositionRow,
    PositionsView,
    ProposalsView,
    ProposalView,
    ReportView,
    ResultView,
    StatusView,
    TradingView,
    WhoamiView,
)

runner = CliRunner()
T = datetime(2024, 3, 1, tzinfo=UTC)


def _enrol(name: str, role: str) -> str:
    out = runner.invoke(app, ["operators", "add", name, "--role", role, "--json"])
    assert out.exit_code == 0, out.output
    return str(json.loads(out.stdout)["totp_secret"])


def test_console_when_piped_then_answers_each_line_and_exit_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = _enrol("ada", "admin")
    monkeypatch.setenv("QUORUM_OPERATORS__LOCAL_OPERATOR", "ada")
    code = pyotp.TOTP(secret).now()
    lines = [
        "status",
        "",
        "# a comment",
        'halt "news shock"',
        "resume all clear",
        f"resume all clear --totp {code}",
        "bogus",
        "exit",
        "status",  # after exit: never read
    ]
    result = runner.invoke(app, ["chat", "console"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "ada (admin) on console" in out
    assert "status: trading ACTIVE, equity unknown" in out
    assert "halt: trading HALTED (by ada)" in out
    assert "DENIED TOTP_REQUIRED: command=resume operator=ada" in out
    assert "resume: trading ACTIVE (by ada)" in out
    assert "FAILED UNKNOWN_COMMAND: command=bogus" in out
    assert out.count("status: trading") == 1
    store = SqliteStore(Path("var") / "quorum.db")
    records = store.audit_records()
    assert AuditLog(store, audit_key(None, Path("var"))).verify().ok
    commands = [
        (r.action, r.data["platform"], r.data["outcome"])
        for r in records
        if r.action.startswith("command:")
    ]
    assert commands == [
        ("command:whoami", "console", "ok"),
        ("command:status", "console", "ok"),
        ("command:halt", "console", "ok"),
        ("command:resume", "console", "denied"),
        ("command:resume", "console", "ok"),
        ("command:bogus", "console", "failed"),
    ]
    assert code not in json.dumps([r.data for r in records])
    store.close()


def test_console_when_end_of_input_then_quits_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    _enrol("vic", "viewer")
    monkeypatch.setenv("QUORUM_OPERATORS__LOCAL_OPERATOR", "vic")
    result = runner.invoke(app, ["chat", "console"], input="whoami\nkill now")
    assert result.exit_code == 0
    assert "whoami: vic (viewer) on console" in result.output
    assert "DENIED ROLE_FORBIDDEN: command=kill role=viewer needs=trader" in result.output


def test_console_when_local_user_not_enrolled_then_exit_1_with_the_enrol_command() -> None:
    result = runner.invoke(app, ["chat", "console"], input="status\n")
    assert result.exit_code == 1
    assert f"quorum operators add {getpass.getuser()} --role admin" in result.output


def test_render_table_when_mixed_cells_then_fenced_aligned_numbers_right() -> None:
    text = render_table(["sym", "qty", "stop"], [["AAPL", 10, 97.5], ["MSFT", -5, None]])
    lines = text.splitlines()
    assert lines[0] == "```" and lines[-1] == "```"
    assert lines[1] == "sym   qty   stop"
    assert lines[2] == "----  ---  -----"
    assert lines[3] == "AAPL   10  97.50"
    assert lines[4] == "MSFT   -5      -"
    assert render_table(["a"], [["x"]], fence=False).splitlines()[0] == "a"


def test_render_table_when_cell_too_wide_then_cut_with_ellipsis() -> None:
    row = render_table(["says"], [["x" * 100]], fence=False).splitlines()[2]
    assert len(row) == 60 and row.endswith("…")


VIEWS: list[ResultView] = [
    HelpView(
        role="viewer",
        commands=[
            CommandRow(
                name="status",
                usage="status",
                help="h",
                min_role="viewer",
                critical=False,
                slow=False,
            )
        ],
    ),
    StatusView(
        effective="HALTED",
        state="ACTIVE",
        kill_switch=True,
        reason="drill",
        actor="ada",
        equity=1.5e5,
    ),
    PositionsView(
        source="paper",
        cash=1.0,
        equity=2.0,
        rows=[
            PositionRow(
                symbol="AAPL",
                quantity=1,
                avg_price=1,
                last=2,
                market_value=2,
                unrealised_pnl=1,
                stop=0.5,
            )
        ],
    ),
    OrdersView(
        rows=[
            OrderRow(
                order_id="o1",
                client_ref="r",
                symbol="AAPL",
                side="BUY",
                quantity=1,
                filled=0,
                type="STP",
                status="submitted",
                stop_price=9.0,
                updated_at=T,
            )
        ]
    ),
    PnlView(
        days=1, total_pnl=5.0, rows=[PnlRow(date="2024-01-02", equity=10.0, pnl=5.0, pnl_pct=1.0)]
    ),
    CycleRunView(
        cycle=CycleBrief(cycle_id="c1", date="2024-01-02", status="finished"),
        summary={"orders": [{"order_id": "o1", "symbol": "AAPL"}]},
    ),
    ExplainView(
        order_id="o1",
        cycle_id="c1",
        explanation={
            "chain": [{"sender": "pm", "kind": "order_intent", "says": "BUY"}],
            "evidence": {"bars": []},
        },
    ),
    ReportView(
        cycle=CycleBrief(cycle_id="c1", date="d", status="finished"), path="/r/c1.html", summary={}
    ),
    TradingView(action="kill", effective="HALTED", state="ACTIVE", kill_switch=True, actor="ada"),
    ProposalsView(
        proposals=[
            Proposal(
                id="p-1",
                status=ProposalStatus.PENDING,
                author="a",
                reason="r",
                changes={"k": 1},
                created_at=T,
            )
        ]
    ),
    ProposalView(
        proposal=Proposal(
            id="p-1",
            status=ProposalStatus.PENDING,
            author="a",
            reason="r",
            changes={"k": 1},
            created_at=T,
        )
    ),
    ConfigView(
        action="history",
        versions=[ConfigVersion(version=1, values={"k": 1}, author="a", created_at=T, active=True)],
    ),
    WhoamiView(name="ada", role="admin", platform="slack", user_id="U1"),
    ModeView(
        confirmation="live",
        confirmed_by="ada",
        settings_mode="paper",
        live_confirmed=False,
        live_port=False,
        live_in_force=False,
        missing=["settings mode = live"],
    ),
]


def test_views_when_listed_then_every_result_view_kind_is_covered() -> None:
    import typing

    union = typing.get_args(typing.get_args(ResultView)[0])
    assert {type(v) for v in VIEWS} == set(union)


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.view)
def test_render_text_when_ok_view_then_headline_facts_and_table(view: ResultView) -> None:
    result = CommandResult(command=view.view, outcome=Outcome.OK, message="done", data=view)
    text = render_text(result)
    assert text.startswith(f"{view.view}: done")
    for name, value in view.facts():
        if value not in (None, ""):
            assert name in text
    table = view.table()
    if table is not None and table.rows:
        assert "```" in text and table.columns[0] in text


def test_render_text_when_denied_then_one_line_with_the_code() -> None:
    result = CommandResult(
        command="halt",
        outcome=Outcome.DENIED,
        code=DenialCode.ROLE_FORBIDDEN,
        message="ROLE_FORBIDDEN: command=halt role=viewer needs=trader",
    )
    assert render_text(result) == "DENIED ROLE_FORBIDDEN: command=halt role=viewer needs=trader"
