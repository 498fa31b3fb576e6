"""Discord interaction payloads as plain dicts: who is asking, the command line in the
options, modal values, and how a result becomes messages (split within 2,000 characters,
denials ephemeral, proposal buttons, no mentions)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from adapters.chat.bridge import is_public, pending_proposal, result_text
from adapters.chat.discord_api import COMMAND_NAME, message_payload, proposal_buttons
from adapters.chat.split import DISCORD_MESSAGE_LIMIT, split_texts
from workflows.operator import Caller, CommandResult, Platform

EPHEMERAL = 64
TOTP_FIELD, REASON_FIELD = "totp", "reason"


class InteractionType(IntEnum):
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class ResponseType(IntEnum):
    PONG = 1
    CHANNEL_MESSAGE_WITH_SOURCE = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    MODAL = 9


def caller_of(payload: Mapping[str, Any]) -> Caller:
    """In a server the user is ``member.user``; in a DM it is ``user``."""
    user = (payload.get("member") or {}).get("user") or payload.get("user") or {}
    display = user.get("global_name") or user.get("username") or ""
    return Caller(platform=Platform.DISCORD, user_id=str(user.get("id", "")), display=display)


def command_options(data: Mapping[str, Any]) -> tuple[str, str | None]:
    """(command line, totp) from the options: ours (``command``, ``totp``), or any shape
    that spells the command out (sub-command names and option values, in order). A slash
    command named after an operator command (``/status``, ``/halt reason:...``) starts
    the line with its name."""
    name = str(data.get("name") or "").strip()
    words: list[str] = [name] if name and name != COMMAND_NAME else []
    totp: str | None = None

    def walk(options: Any) -> None:
        nonlocal totp
        for option in options or []:
            if option.get("type") in (1, 2):  # SUB_COMMAND, SUB_COMMAND_GROUP
                words.append(str(option.get("name", "")))
                walk(option.get("options"))
            elif option.get("name") == "totp":
                totp = str(option.get("value") or "") or None
            elif option.get("value") not in (None, ""):
                words.append(str(option["value"]))

    walk(data.get("options"))
    return " ".join(words).strip() or "help", totp


def modal_values(data: Mapping[str, Any]) -> dict[str, str]:
    """Every text input of a submitted modal, ``custom_id`` → value (action rows, and the
    newer label components that wrap one ``component``)."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "custom_id" in node and "value" in node:
                found[str(node["custom_id"])] = str(node["value"] or "").strip()
            for child in (node.get("components"), node.get("component")):
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(data.get("components"))
    return found


def messages_for(text: str, *, public: bool) -> list[dict[str, Any]]:
    pieces = split_texts(text, DISCORD_MESSAGE_LIMIT) or ["(no output)"]
    extra = {} if public else {"flags": EPHEMERAL}
    return [message_payload(p, **extra) for p in pieces]


def result_messages(result: CommandResult, prefix: str = "") -> list[dict[str, Any]]:
    out = messages_for(prefix + result_text(result), public=is_public(result))
    proposal = pending_proposal(result)
    if proposal is not None:
        out[-1]["components"] = proposal_buttons(proposal)
    return out


def text_input(
    custom_id: str, label: str, *, style: int, min_len: int, max_len: int
) -> dict[str, Any]:
    return {
        "type": 1,
        "components": [
            {
                "type": 4,  # TEXT_INPUT
                "custom_id": custom_id,
                "label": label,
                "style": style,  # 1 short, 2 paragraph
                "min_length": min_len,
                "max_length": max_len,
                "required": True,
            }
        ],
    }


def proposal_modal(custom_id: str, proposal_id: str, *, approve: bool) -> dict[str, Any]:
    field = (
        text_input(TOTP_FIELD, "One-time code (TOTP)", style=1, min_len=6, max_len=8)
        if approve
        else text_input(REASON_FIELD, "Reason", style=2, min_len=3, max_len=500)
    )
    title = f"{'Approve' if approve else 'Reject'} proposal {proposal_id}"
    return {
        "type": ResponseType.MODAL,
        "data": {"custom_id": custom_id, "title": title[:45], "components": [field]},
    }
