"""Discord pieces that need no server: signature checks, who is asking, modal values,
and how a result becomes messages (split within 2,000 characters, buttons, no pings)."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from adapters.chat.discord import (
    EPHEMERAL,
    SLASH_COMMANDS,
    caller_of,
    check_signature,
    command_options,
    load_verify_key,
    modal_values,
    result_messages,
)
from adapters.chat.split import DISCORD_MESSAGE_LIMIT, is_fence
from core.errors import ConfigurationError
from core.proposals import ProposalStatus
from tests.fixtures.chat import MemoryProposalDesk
from workflows.operator import CommandResult, DenialCode, Outcome, Platform
from workflows.operator_views import PositionRow, PositionsView, ProposalView

KEY = SigningKey(bytes(range(32)))
VERIFY = load_verify_key(KEY.verify_key.encode().hex())
NOW = 1_700_000_000.0
BODY = b'{"type":1}'


def sign(body: bytes, ts: str, key: SigningKey = KEY) -> str:
    return key.sign(ts.encode() + body).signature.hex()


def test_check_signature_when_signed_by_the_key_then_accepted() -> None:
    assert check_signature(VERIFY, sign(BODY, "1700000000"), "1700000000", BODY, NOW) is None


@pytest.mark.parametrize(
    ("signature", "ts", "body", "code"),
    [
        (None, "1700000000", BODY, "MISSING_SIGNATURE"),
        (sign(BODY, "1700000000"), None, BODY, "MISSING_SIGNATURE"),
        ("zz" * 64, "1700000000", BODY, "MALFORMED_SIGNATURE"),
        ("ab" * 10, "1700000000", BODY, "MALFORMED_SIGNATURE"),
        (sign(BODY, "1700000000", SigningKey(bytes(32))), "1700000000", BODY, "BAD_SIGNATURE"),
        (sign(BODY, "1700000000"), "1700000000", b'{"type":2}', "BAD_SIGNATURE"),
        (sign(BODY, "1700000000"), "1700000001", BODY, "BAD_SIGNATURE"),
        (sign(BODY, "1699999000"), "1699999000", BODY, "STALE_TIMESTAMP"),
        (sign(BODY, "soon"), "soon", BODY, "STALE_TIMESTAMP"),
    ],
)
def test_check_signature_when_anything_off_then_refused_with_its_code(
    signature: str | None, ts: str | None, body: bytes, code: str
) -> None:
    refusal = check_signature(VERIFY, signature, ts, body, NOW)
    assert refusal is not None and refusal.startswith(code + ":")


def test_load_verify_key_when_not_hex_then_error_names_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="QUORUM_CHAT__DISCORD_PUBLIC_KEY"):
        load_verify_key("not-a-key")
    with pytest.raises(ConfigurationError, match="64 hex"):
        load_verify_key("abcd")


def test_caller_of_when_guild_or_dm_then_member_user_or_user() -> None:
    guild = caller_of({"member": {"user": {"id": "11", "username": "ada", "global_name": "Ada"}}})
    dm = caller_of({"user": {"id": "22", "username": "bob"}})
    assert (guild.platform, guild.user_id, guild.display) == (Platform.DISCORD, "11", "Ada")
    assert (dm.user_id, dm.display) == ("22", "bob")
    assert caller_of({}).user_id == ""


def test_command_options_when_given_then_command_and_totp_else_help() -> None:
    data = {
        "options": [{"name": "command", "value": "resume ok"}, {"name": "totp", "value": "123456"}]
    }
    assert command_options(data) == ("resume ok", "123456")
    assert command_options({}) == ("help", None)
    nested = {"options": [{"type": 1, "name": "halt", "options": [
        {"type": 3, "name": "reason", "value": "news shock"}]}]}  # fmt: skip
    assert command_options(nested) == ("halt news shock", None)


def test_modal_values_when_action_rows_or_labels_then_every_input_found() -> None:
    rows = {
        "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "totp", "value": " 123456 "}]}
        ]
    }
    labels = {
        "components": [
            {"type": 18, "component": {"type": 4, "custom_id": "reason", "value": "too risky"}}
        ]
    }
    assert modal_values(rows) == {"totp": "123456"}
    assert modal_values(labels) == {"reason": "too risky"}


def test_slash_commands_when_registered_then_one_command_with_command_and_totp_options() -> None:
    [command] = SLASH_COMMANDS
    assert command["name"] == "quorum" and command["type"] == 1
    assert [(o["name"], o["type"], o["required"]) for o in command["options"]] == [
        ("command", 3, True),
        ("totp", 3, False),
    ]


def positions(n: int) -> CommandResult:
    rows = [
        PositionRow(symbol=f"S{i:03d}", quantity=i + 1, avg_price=100.0 + i, last=101.0 + i,
                    market_value=1000.0 * (i + 1), unrealised_pnl=float(i), stop=None)
        for i in range(n)
    ]  # fmt: skip
    view = PositionsView(source="paper", cash=1.0, equity=2.0, rows=rows)
    return CommandResult(command="positions", outcome=Outcome.OK, message=f"{n} positions",
                         data=view, operator="ada")  # fmt: skip


def test_result_messages_when_table_too_long_then_pieces_within_2000_each_a_closed_block() -> None:
    messages = result_messages(positions(120))
    assert len(messages) >= 5
    for message in messages:
        content = message["content"]
        assert len(content) <= DISCORD_MESSAGE_LIMIT
        assert sum(1 for line in content.split("\n") if is_fence(line)) % 2 == 0
        assert message["allowed_mentions"] == {"parse": []}
        assert "flags" not in message
    assert all(f"S{i:03d}" in "".join(m["content"] for m in messages) for i in range(120))


def test_result_messages_when_denied_then_ephemeral() -> None:
    message = "ROLE_FORBIDDEN: command=halt role=viewer needs=trader"
    denied = CommandResult(
        command="halt", outcome=Outcome.DENIED, code=DenialCode.ROLE_FORBIDDEN, message=message
    )
    [message] = result_messages(denied)
    assert message["flags"] == EPHEMERAL and "ROLE_FORBIDDEN" in message["content"]


def test_result_messages_when_pending_proposal_shown_then_buttons_on_the_last_piece() -> None:
    proposal = MemoryProposalDesk.pending("p-3")
    shown = CommandResult(command="proposals show", outcome=Outcome.OK, message="proposal p-3",
                          data=ProposalView(proposal=proposal))  # fmt: skip
    [message] = result_messages(shown)
    ids = [b["custom_id"] for b in message["components"][0]["components"]]
    assert ids == ["proposal:approve:p-3", "proposal:reject:p-3"]
    decided = proposal.model_copy(update={"status": ProposalStatus.APPROVED})
    done = shown.model_copy(update={"data": ProposalView(action="approve", proposal=decided)})
    assert "components" not in result_messages(done)[0]
