"""Slack message payloads as plain dicts (Block Kit): text, sections, buttons, modals.

No Slack SDK here: slack.py (Bolt listeners) and notify.py (chat.postMessage) both build
their payloads with these functions.

Limits enforced (Slack's documented ones):
- a section block's ``text``: at most 3,000 characters (``SLACK_SECTION_LIMIT``);
- a message: at most 50 blocks; we put at most 13 sections in one message, so its ``text``
  (the same words, the notification fallback) stays within the 40,000-character limit;
  a longer reply becomes several messages.
Text is escaped as Slack asks (``&`` ``<`` ``>``), which also means nothing in a reply can
mention a user or ``@channel``; lengths are counted after escaping.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.chat.split import SLACK_SECTION_LIMIT, split_texts

SLACK_TEXT_LIMIT = 40_000
SLACK_BLOCKS_PER_MESSAGE = 50
SECTIONS_PER_MESSAGE = 13  # 13 x 3,000 + newlines < 40,000, and + 1 actions block <= 50

APPROVE_ACTION = "quorum_proposal_approve"
REJECT_ACTION = "quorum_proposal_reject"
APPROVE_VIEW = "quorum_proposal_approve_view"
REJECT_VIEW = "quorum_proposal_reject_view"
TOTP_BLOCK, TOTP_INPUT = "totp", "code"
REASON_BLOCK, REASON_INPUT = "reason", "text"


def escape(text: str) -> str:
    """Slack's three control characters, escaped (character by character)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def messages(text: str, actions: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The messages that carry ``text`` (one or more), each ``{"text", "blocks"}``;
    ``actions`` (an actions block) goes at the end of the last one."""
    sections = split_texts(text, SLACK_SECTION_LIMIT, escape=escape) or [escape(" ")]
    out: list[dict[str, Any]] = []
    for i in range(0, len(sections), SECTIONS_PER_MESSAGE):
        chunk = sections[i : i + SECTIONS_PER_MESSAGE]
        out.append({"text": "\n".join(chunk), "blocks": [section(s) for s in chunk]})
    if actions is not None:
        out[-1]["blocks"].append(actions)
    return out


def proposal_actions(proposal_id: str) -> dict[str, Any]:
    """Approve / Reject buttons; each carries the proposal id as its value."""
    return {
        "type": "actions",
        "block_id": f"proposal:{proposal_id}"[:255],
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": proposal_id,
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "value": proposal_id,
            },
        ],
    }


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def proposal_modal(
    proposal_id: str, *, approve: bool, response_url: str | None, channel: str | None
) -> dict[str, Any]:
    """The modal a button opens: approving asks for the one-time code (approval is a
    critical command), rejecting asks for the reason. ``private_metadata`` carries the
    proposal id and where to post the outcome."""
    meta = json.dumps({"proposal": proposal_id, "response_url": response_url, "channel": channel})
    if approve:
        prompt = f"Approve proposal *{escape(proposal_id)}*? Approval needs your one-time code."
        field = {
            "type": "input",
            "block_id": TOTP_BLOCK,
            "label": _plain("One-time code (TOTP)"),
            "element": {
                "type": "plain_text_input",
                "action_id": TOTP_INPUT,
                "min_length": 6,
                "max_length": 8,
                "placeholder": _plain("123456"),
            },
        }
    else:
        prompt = f"Reject proposal *{escape(proposal_id)}*: say why (it goes into the audit)."
        field = {
            "type": "input",
            "block_id": REASON_BLOCK,
            "label": _plain("Reason"),
            "element": {
                "type": "plain_text_input",
                "action_id": REASON_INPUT,
                "min_length": 3,
                "max_length": 500,
                "multiline": True,
            },
        }
    return {
        "type": "modal",
        "callback_id": APPROVE_VIEW if approve else REJECT_VIEW,
        "title": _plain("Approve proposal" if approve else "Reject proposal"),
        "submit": _plain("Approve" if approve else "Reject"),
        "close": _plain("Cancel"),
        "private_metadata": meta,
        "blocks": [section(prompt), field],
    }


def modal_input(view: dict[str, Any], block_id: str, action_id: str) -> str:
    """The value typed into one input of a submitted modal ('' when absent)."""
    values = view.get("state", {}).get("values", {})
    value = values.get(block_id, {}).get(action_id, {}).get("value")
    return str(value or "").strip()
