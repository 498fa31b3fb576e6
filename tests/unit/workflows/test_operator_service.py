"""The operator service: every role against every command, one-time passwords, unknown
users, and that each attempt (allowed or not) is one verified audit record and each
refusal changes nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapters.storage.sqlite import SqliteStore
from core.risk import TradingState
from tests.unit.workflows.operator_kit import (
    Clock,
    MemoryDesks,
    audit_text,
    build,
    code,
    console,
    enrol,
    say,
    wrong_code,
)
from workflows.operator import (
    COMMANDS,
    Caller,
    CommandRequest,
    DenialCode,
    OperatorService,
    Outcome,
    Platform,
)
from workflows.operators import Role

SUMMARY = {
    "cycle_id": "cycle-2013-02-27",
    "date": "2013-02-27",
    "status": "finished",
    "orders": [{"order_id": "paper-000001", "symbol": "AAPL", "side": "BUY", "qty": 3}],
    "rejected": [],
    "fills": 0,
    "equity": 100000.0,
    "report": "",
}
RUNS: list[date | None] = []


async def fake_cycle(as_of: date | None) -> dict[str, Any]:
    RUNS.append(as_of)
    return dict(SUMMARY)


# One line per command, with valid arguments; what an allowed caller gets back (None: OK).
LINES: dict[str, tuple[str, DenialCode | None]] = {
    "help": ("help", None),
    "whoami": ("whoami", None),
    "status": ("status", None),
    "positions": ("positions", None),
    "orders": ("orders all 5", None),
    "pnl": ("pnl 5", None),
    "explain": ("explain paper-999999", DenialCode.NOT_FOUND),
    "report": ("report", DenialCode.NOT_FOUND),
    "cycle run": ("cycle run 2013-02-27", None),
    "halt": ("halt news shock", None),
    "reduce": ("reduce vol up", None),
    "kill": ("kill flash crash", None),
    "resume": ("resume all clear", None),
    "release": ("release all clear", None),
    "proposals list": ("proposals list pending", None),
    "proposals show": ("proposals show p-1", None),
    "proposals submit": ("proposals submit risk.max_position_weight=0.2 --reason safer", None),
    "proposals approve": ("proposals approve p-1", None),
    "proposals reject": ("proposals reject p-1 not now", None),
    "config show": ("config show", None),
    "config history": ("config history", None),
    "config diff": ("config diff 1 2", None),
    "config rollback": ("config rollback 1 back to the old cap", None),
    "mode live": ("mode live go", None),
    "mode paper": ("mode paper stop", None),
}


def test_lines_when_listed_then_cover_every_command() -> None:
    assert set(LINES) == set(COMMANDS)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SqliteStore(tmp_path / "var" / "quorum.db")
    yield s
    s.close()


@pytest.fixture
def service(tmp_path: Path, store: SqliteStore, clock: Clock) -> OperatorService:
    return build(tmp_path, store, clock, desks=MemoryDesks(), cycle_runner=fake_cycle)


ROLES = [Role.VIEWER, Role.TRADER, Role.ADMIN]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_command_when_role_is_or_is_not_enough_then_runs_or_role_forbidden(
    service: OperatorService, store: SqliteStore, clock: Clock, role: Role, name: str
) -> None:
    secret = enrol(service, "op", role)
    spec = COMMANDS[name]
    line, expected = LINES[name]
    if spec.critical:
        line += f" --totp {code(secret, clock)}"
    before = service.control.status()
    result = await say(service, console("op"), line)
    assert result.command == name and result.operator == "op"
    if role.allows(spec.min_role):
        assert result.code == expected, result.message
        assert result.outcome is (Outcome.OK if expected is None else Outcome.FAILED)
    else:
        assert result.outcome is Outcome.DENIED and result.code is DenialCode.ROLE_FORBIDDEN
        assert f"needs={spec.min_role.value}" in result.message
        assert service.control.status() == before
    last = store.audit_records()[-1]
    assert last.action == f"command:{name.split(' ', maxsplit=1)[0]}" and last.actor == "op"
    assert last.data["outcome"] == result.outcome.value
    assert last.data["code"] == (result.code.value if result.code else None)
    assert service.control.audit.verify().ok
    assert secret not in audit_text(store)


async def test_halt_when_viewer_then_denied_nothing_changes_and_denial_audited(
    service: OperatorService, store: SqliteStore
) -> None:
    enrol(service, "vic", Role.VIEWER, slack_id="UVIC")
    caller = Caller(platform=Platform.SLACK, user_id="UVIC", display="Vic")
    before = service.control.status()
    result = await say(service, caller, "halt I think so")
    assert result.code is DenialCode.ROLE_FORBIDDEN
    assert result.message == "ROLE_FORBIDDEN: command=halt role=viewer needs=trader"
    assert service.control.status() == before
    rec = store.audit_records()[-1]
    assert rec.actor == "vic" and rec.action == "command:halt"
    assert rec.data["platform"] == "slack" and rec.data["user_id"] == "UVIC"
    assert rec.data["display"] == "Vic" and rec.data["args"] == ["I", "think", "so"]
    assert not [r for r in store.audit_records() if r.action.startswith("set_state")]


@pytest.mark.parametrize("platform", list(Platform))
async def test_any_command_when_user_unknown_then_denied_and_audited_as_platform_user(
    service: OperatorService, store: SqliteStore, platform: Platform
) -> None:
    enrol(service, "alice", Role.ADMIN, slack_id="UA", discord_id="1")
    for line in ("help", "status", "kill now"):
        result = await say(service, Caller(platform=platform, user_id="mallory"), line)
        assert result.outcome is Outcome.DENIED and result.code is DenialCode.UNKNOWN_USER
        assert result.operator is None
    assert service.control.status().kill_switch is False
    rec = store.audit_records()[-1]
    assert rec.actor == f"{platform.value}:mallory" and rec.data["code"] == "UNKNOWN_USER"
    assert service.control.audit.verify().ok


async def test_run_text_when_line_unparsable_then_bad_arguments_for_operator_unknown_user_else(
    service: OperatorService, store: SqliteStore
) -> None:
    enrol(service, "ada", Role.ADMIN)
    mine = await say(service, console("ada"), "resume --totp")
    assert mine.code is DenialCode.BAD_ARGUMENTS and mine.operator == "ada"
    theirs = await say(service, Caller(platform=Platform.DISCORD, user_id="9"), "'")
    assert theirs.code is DenialCode.UNKNOWN_USER
    assert [r.data["args"] for r in store.audit_records()[-2:]] == [["***"], ["***"]]
    assert store.audit_records()[-1].actor == "discord:9"


async def test_command_when_nobody_enrolled_then_unknown_user_names_the_enrol_command(
    service: OperatorService,
) -> None:
    result = await say(service, console("root"), "status")
    assert result.code is DenialCode.UNKNOWN_USER
    assert "quorum operators add root --role admin" in result.message


async def test_resume_when_no_code_wrong_code_reused_code_then_each_denied_and_state_kept(
    service: OperatorService, store: SqliteStore, clock: Clock
) -> None:
    secret = enrol(service, "ada", Role.ADMIN)
    ada = console("ada")
    assert (await say(service, ada, "halt drill")).ok
    halted = service.control.status()
    no_code = await say(service, ada, "resume all clear")
    assert no_code.code is DenialCode.TOTP_REQUIRED
    good = code(secret, clock)
    wrong = wrong_code(good)
    bad = await say(service, ada, f"resume all clear --totp {wrong}")
    assert bad.code is DenialCode.TOTP_INVALID and "remaining=4" in bad.message
    assert service.control.status() == halted
    ok = await say(service, ada, f"resume all clear --totp={good}")
    assert ok.ok and service.control.effective() is TradingState.ACTIVE
    assert (await say(service, ada, "halt again")).ok
    halted = service.control.status()
    reused = await say(service, ada, f"resume all clear --totp {good}")
    assert reused.code is DenialCode.TOTP_REUSED and service.control.status() == halted
    codes = [r.data.get("code") for r in store.audit_records() if r.action == "command:resume"]
    assert codes == ["TOTP_REQUIRED", "TOTP_INVALID", None, "TOTP_REUSED"]
    text = audit_text(store)
    assert good not in text and wrong not in text and secret not in text
    assert service.control.audit.verify().ok


async def test_resume_when_locked_after_five_wrong_codes_then_refused_until_window_passes(
    service: OperatorService, store: SqliteStore, clock: Clock
) -> None:
    secret = enrol(service, "ada", Role.ADMIN)
    ada = console("ada")
    await say(service, ada, "kill drill")
    wrong = wrong_code(code(secret, clock))
    codes = [(await say(service, ada, f"release x --totp {wrong}")).code for _ in range(5)]
    assert codes == [DenialCode.TOTP_INVALID] * 4 + [DenialCode.OPERATOR_LOCKED]
    locked = await say(service, ada, f"release x --totp {code(secret, clock)}")
    assert locked.code is DenialCode.OPERATOR_LOCKED and "locked_until=" in locked.message
    assert service.control.status().kill_switch is True
    # the lockout guards the second factor only: the kill switch and halt stay usable
    assert (await say(service, ada, "halt still here")).ok
    who = await say(service, ada, "whoami")
    assert who.data is not None and who.data.locked_until is not None  # type: ignore[union-attr]
    clock.advance(minutes=15, seconds=1)
    released = await say(service, ada, f"release over --totp {code(secret, clock)}")
    assert released.ok and service.control.status().kill_switch is False
    assert "operator:locked" in [r.action for r in store.audit_records()]
    assert service.control.audit.verify().ok


async def test_critical_when_arguments_bad_then_refused_before_the_code_is_spent(
    service: OperatorService, clock: Clock
) -> None:
    secret = enrol(service, "ada", Role.ADMIN)
    ada = console("ada")
    c = code(secret, clock)
    bad = await say(service, ada, f"config rollback one reason --totp {c}")
    assert bad.code is DenialCode.BAD_ARGUMENTS and "version='one'" in bad.message
    assert (await say(service, ada, f"config rollback 1 reason --totp {c}")).ok


@pytest.mark.parametrize(
    ("line", "code_", "outcome"),
    [
        ("proposals approve p-9", DenialCode.NOT_FOUND, Outcome.DENIED),
        ("proposals show p-9", DenialCode.NOT_FOUND, Outcome.DENIED),
        (
            "proposals submit risk.max_position_weight=0.5 --reason more",
            DenialCode.PROPOSAL_REFUSED,
            Outcome.DENIED,
        ),
        ("proposals submit risk.max_position_weight=0.2", DenialCode.BAD_ARGUMENTS, Outcome.FAILED),
        ("proposals list nonsense", DenialCode.BAD_ARGUMENTS, Outcome.FAILED),
        ("config show 9", DenialCode.NOT_FOUND, Outcome.DENIED),
        ("pnl zero", DenialCode.BAD_ARGUMENTS, Outcome.FAILED),
        ("pnl 0", DenialCode.BAD_ARGUMENTS, Outcome.FAILED),
        ("cycle run yesterday", DenialCode.BAD_ARGUMENTS, Outcome.FAILED),
        ("halt", DenialCode.BAD_ARGUMENTS, Outcome.FAILED),
        ("status extra", DenialCode.BAD_ARGUMENTS, Outcome.FAILED),
        ("frobnicate", DenialCode.UNKNOWN_COMMAND, Outcome.FAILED),
        ("proposals frobnicate", DenialCode.UNKNOWN_COMMAND, Outcome.FAILED),
        ('halt "unbalanced', DenialCode.BAD_ARGUMENTS, Outcome.FAILED),
    ],
)
async def test_command_when_refused_by_a_rule_then_named_code(
    service: OperatorService, clock: Clock, line: str, code_: DenialCode, outcome: Outcome
) -> None:
    secret = enrol(service, "ada", Role.ADMIN)
    if "approve" in line:
        line += f" --totp {code(secret, clock)}"
    result = await say(service, console("ada"), line)
    assert (result.code, result.outcome) == (code_, outcome), result.message
    assert service.control.status().version == 0


async def test_approve_when_own_proposal_then_self_approval(
    service: OperatorService, clock: Clock
) -> None:
    secret = enrol(service, "ada", Role.ADMIN)
    ada = console("ada")
    submitted = await say(service, ada, "proposals submit risk.daily_loss_limit=0.01 -r calmer")
    assert submitted.ok and submitted.data.proposal.author == "ada"  # type: ignore[union-attr]
    pid = submitted.data.proposal.id  # type: ignore[union-attr]
    own = await say(service, ada, f"proposals approve {pid} --totp {code(secret, clock)}")
    assert own.code is DenialCode.SELF_APPROVAL and own.outcome is Outcome.DENIED
    assert own.message.count("SELF_APPROVAL") == 1  # the code once, not repeated


async def test_proposals_and_config_when_desks_not_built_then_not_available(
    tmp_path: Path, store: SqliteStore, clock: Clock
) -> None:
    service = build(tmp_path, store, clock)
    enrol(service, "ada", Role.ADMIN)
    for line in ("proposals list", "proposals", "config history", "config"):
        result = await say(service, console("ada"), line)
        assert result.code is DenialCode.NOT_AVAILABLE and result.outcome is Outcome.FAILED
        assert "not built yet" in result.message


async def test_cycle_run_when_trader_then_runner_called_with_the_date_and_view_returned(
    service: OperatorService,
) -> None:
    enrol(service, "tom", Role.TRADER)
    RUNS.clear()
    result = await say(service, console("tom"), "cycle run 2013-02-27")
    assert [date(2013, 2, 27)] == RUNS
    assert result.ok and result.data is not None and result.data.view == "cycle_run"
    assert result.data.cycle.orders == 1
    await say(service, console("tom"), "cycle run")
    assert RUNS[-1] is None  # the factory's runner picks the last day with data


async def test_cycle_run_when_runner_raises_then_command_failed_with_the_reason(
    tmp_path: Path, store: SqliteStore, clock: Clock
) -> None:
    async def broken(as_of: date | None) -> dict[str, Any]:
        from core.errors import ConfigurationError

        raise ConfigurationError("--date 2030-01-01 is outside the market data")

    service = build(tmp_path, store, clock, cycle_runner=broken)
    enrol(service, "tom", Role.TRADER)
    result = await say(service, console("tom"), "cycle run 2030-01-01")
    assert result.code is DenialCode.COMMAND_FAILED and result.outcome is Outcome.FAILED
    assert "outside the market data" in result.message


async def test_mode_live_when_confirmed_then_recorded_but_live_not_in_force(
    service: OperatorService, store: SqliteStore, clock: Clock
) -> None:
    secret = enrol(service, "ada", Role.ADMIN)
    result = await say(service, console("ada"), f"mode live ready --totp {code(secret, clock)}")
    assert result.ok and result.data is not None
    view = result.data
    assert view.live_in_force is False  # type: ignore[union-attr]
    assert "settings mode = live" in view.missing  # type: ignore[union-attr]
    assert store.kv_get("operator.mode")["mode"] == "live"  # type: ignore[index]
    assert "mode:live" in [r.action for r in store.audit_records()]


async def test_execute_when_totp_field_and_args_carry_the_code_then_audit_redacts_both(
    service: OperatorService, store: SqliteStore, clock: Clock
) -> None:
    secret = enrol(service, "ada", Role.ADMIN)
    c = code(secret, clock)
    request = CommandRequest(
        caller=console("ada"), command="resume", args=["ok", c, "--totp", c], totp=c
    )
    assert (await service.execute(request)).ok
    rec = store.audit_records()[-1]
    assert rec.data["args"] == ["ok", "***", "--totp", "***"]
    assert c not in audit_text(store)
    assert rec.data["totp"] == "***"


def test_command_spec_when_group_or_subcommand_then_combined_or_exact(
    service: OperatorService,
) -> None:
    assert service.command_spec("proposals approve").critical  # type: ignore[union-attr]
    assert service.command_spec("proposals", ["list"]).critical is False  # type: ignore[union-attr]
    group = service.command_spec("proposals")
    assert group is not None and group.min_role is Role.VIEWER and group.critical
    assert service.command_spec("cycle").slow  # type: ignore[union-attr]
    assert service.command_spec("halt").min_role is Role.TRADER  # type: ignore[union-attr]
    assert service.command_spec("nope") is None
