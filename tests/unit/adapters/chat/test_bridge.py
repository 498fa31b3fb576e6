"""The reply deadline: which commands are deferred at once, and the service's loop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.chat.bridge import ChatBridge, ServiceLoop, failed_result, result_text
from adapters.factories import make_operator_service
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from workflows.operator import Caller, CommandResult, DenialCode, Outcome, Platform
from workflows.operators import Role

TRADER = Caller(platform=Platform.SLACK, user_id="U0TRADER")
VIEWER = Caller(platform=Platform.SLACK, user_id="U0VIEWER")
ADMIN = Caller(platform=Platform.DISCORD, user_id="300000000000000001")
STRANGER = Caller(platform=Platform.SLACK, user_id="U0NOBODY")


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[ChatBridge]:
    settings = load_settings(state_dir=tmp_path)
    store = SqliteStore(tmp_path / "q.db")
    service = make_operator_service(settings, store)
    service.registry.enrol("tom", Role.TRADER, actor="t", slack_id="U0TRADER")
    service.registry.enrol("vic", Role.VIEWER, actor="t", slack_id="U0VIEWER")
    service.registry.enrol("ada", Role.ADMIN, actor="t", discord_id="300000000000000001")
    loop = ServiceLoop()
    yield ChatBridge(service=service, loop=loop)
    loop.close()
    store.close()


@pytest.mark.parametrize(
    ("caller", "text", "totp", "slow"),
    [
        (TRADER, "cycle run 2013-02-27", None, True),
        (VIEWER, "cycle run", None, False),  # refused at once: ROLE_FORBIDDEN
        (STRANGER, "report", None, False),  # refused at once: UNKNOWN_USER
        (VIEWER, "report", None, True),
        (ADMIN, "proposals approve p-1", None, False),  # no code: TOTP_REQUIRED at once
        (ADMIN, "proposals approve p-1", "123456", True),
        (ADMIN, "proposals approve p-1 --totp 123456", None, True),
        (ADMIN, "status", None, False),
        (ADMIN, "'unbalanced", None, False),
    ],
)
def test_is_slow_when_command_caller_and_code_then_deferred_only_if_it_will_run_long(
    bridge: ChatBridge, caller: Caller, text: str, totp: str | None, slow: bool
) -> None:
    assert bridge.is_slow(caller, text, totp) is slow


def test_start_text_when_empty_then_help_and_when_totp_beside_then_passed_on(
    bridge: ChatBridge,
) -> None:
    helped = bridge.start_text(VIEWER, "  ").result(10)
    assert helped.ok and helped.command == "help"
    resumed = bridge.start_text(ADMIN, "resume all clear", totp="000000").result(10)
    assert resumed.code in (DenialCode.TOTP_INVALID, DenialCode.TOTP_REUSED)


def test_may_ask_when_role_allows_then_form_else_refusal_first(bridge: ChatBridge) -> None:
    assert bridge.may_ask(ADMIN, "proposals approve") is True
    assert bridge.may_ask(VIEWER, "proposals approve") is False
    assert bridge.may_ask(STRANGER, "proposals reject") is False


def test_service_loop_when_coroutine_raises_then_failed_result_never_an_exception(
    bridge: ChatBridge,
) -> None:
    async def boom() -> CommandResult:
        raise RuntimeError("secret detail")

    result = bridge.loop.call(bridge._guard("status", boom()), timeout=10)
    assert (result.outcome, result.code) == (Outcome.FAILED, DenialCode.COMMAND_FAILED)
    assert "RuntimeError" in result.message and "secret detail" not in result.message


def test_result_text_when_command_crashed_then_headline_names_the_code() -> None:
    result = failed_result("halt", ValueError("x"))
    assert result_text(result).startswith("FAILED COMMAND_FAILED")
