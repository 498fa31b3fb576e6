"""Slack payloads: escaped text, sections within 3,000 characters, at most 13 sections
(and 50 blocks) a message, buttons carrying the proposal id, the modals."""

from __future__ import annotations

import json

from adapters.chat import slack_blocks as blocks
from adapters.chat.slack import slack_messages
from adapters.chat.split import SLACK_SECTION_LIMIT
from tests.fixtures.chat import MemoryProposalDesk
from workflows.operator import CommandResult, DenialCode, Outcome
from workflows.operator_views import ProposalView


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_messages_when_text_has_control_characters_then_escaped_so_nobody_is_pinged() -> None:
    [message] = blocks.messages("<!channel> & <@U123> a>b")
    assert message["text"] == "&lt;!channel&gt; &amp; &lt;@U123&gt; a&gt;b"
    assert message["blocks"] == [blocks.section(message["text"])]


def test_messages_when_very_long_then_sections_and_messages_within_slack_limits() -> None:
    text = "\n".join(f"line {i} " + "<&>" * 40 for i in range(2_000))
    messages = blocks.messages(text, blocks.proposal_actions("p-1"))
    assert len(messages) > 1
    sections = [b for m in messages for b in m["blocks"] if b["type"] == "section"]
    for message in messages:
        assert len(message["blocks"]) <= blocks.SLACK_BLOCKS_PER_MESSAGE
        assert len(message["text"]) <= blocks.SLACK_TEXT_LIMIT
        assert sum(b["type"] == "section" for b in message["blocks"]) <= blocks.SECTIONS_PER_MESSAGE
    assert all(len(s["text"]["text"]) <= SLACK_SECTION_LIMIT for s in sections)
    assert "".join(unescape(s["text"]["text"]) for s in sections) == text
    assert messages[-1]["blocks"][-1]["type"] == "actions"
    assert all(b["type"] != "actions" for m in messages[:-1] for b in m["blocks"])


def test_proposal_modal_when_approve_then_asks_for_the_code_and_keeps_where_to_answer() -> None:
    view = blocks.proposal_modal("p-1", approve=True, response_url="https://hooks/x", channel="C1")
    assert view["type"] == "modal" and view["callback_id"] == blocks.APPROVE_VIEW
    assert json.loads(view["private_metadata"]) == {
        "proposal": "p-1", "response_url": "https://hooks/x", "channel": "C1",
    }  # fmt: skip
    field = view["blocks"][1]
    assert (field["block_id"], field["element"]["action_id"]) == ("totp", "code")
    reject = blocks.proposal_modal("p-1", approve=False, response_url=None, channel=None)
    assert reject["blocks"][1]["block_id"] == "reason"
    assert len(view["title"]["text"]) <= 24


def test_modal_input_when_submitted_then_value_else_empty() -> None:
    view = {"state": {"values": {"totp": {"code": {"type": "plain_text_input", "value": " 42 "}}}}}
    assert blocks.modal_input(view, "totp", "code") == "42"
    assert blocks.modal_input({}, "totp", "code") == ""


def test_slack_messages_when_denied_then_ephemeral_and_when_pending_proposal_then_buttons() -> None:
    denied = CommandResult(
        command="resume", outcome=Outcome.DENIED, code=DenialCode.TOTP_REQUIRED,
        message="TOTP_REQUIRED: command=resume operator=ada",
    )  # fmt: skip
    assert [m["response_type"] for m in slack_messages(denied)] == ["ephemeral"]
    shown = CommandResult(
        command="proposals show", outcome=Outcome.OK, message="proposal p-2 pending",
        data=ProposalView(proposal=MemoryProposalDesk.pending("p-2")),
    )  # fmt: skip
    [message] = slack_messages(shown)
    assert message["response_type"] == "in_channel"
    assert message["blocks"][-1] == blocks.proposal_actions("p-2")
