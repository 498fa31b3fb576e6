"""Discord's HTTP interactions endpoint over the operator service.

Requests are verified first: ``X-Signature-Ed25519`` must be the application's Ed25519
signature (PyNaCl) of ``X-Signature-Timestamp`` + the raw body, and the timestamp within
5 minutes of now (a captured request cannot be replayed later); anything else is a 401.

The command: one slash command ``/quorum`` with a string option ``command`` (any operator
command line: ``status``, ``halt news shock``, ``proposals show p-1``) and an optional
``totp`` option (the one-time code of a critical command; ``--totp CODE`` inside
``command`` works too). ``quorum chat discord register`` registers it.

- PING (1) → PONG (1).
- APPLICATION_COMMAND (2) → CHANNEL_MESSAGE_WITH_SOURCE (4) with the answer when it is
  ready within the reply budget; otherwise (and at once for a ``slow`` command)
  DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE (5), and the answer follows by
  ``PATCH /webhooks/{app}/{token}/messages/@original``. A reply longer than 2,000
  characters continues in follow-up messages (``POST /webhooks/{app}/{token}``).
- MESSAGE_COMPONENT (3): the Approve / Reject buttons of a proposal
  (``custom_id`` ``proposal:approve:<id>`` / ``proposal:reject:<id>``) open a MODAL (9)
  asking for the one-time code, or the reason; an unknown user or a role that may not
  decide gets the service's refusal at once, ephemeral.
- MODAL_SUBMIT (5) runs the decision: when it is done within the reply budget, the answer
  is UPDATE_MESSAGE (7), the proposal's message with the outcome and its buttons removed,
  or, if the decision was refused, an ephemeral CHANNEL_MESSAGE_WITH_SOURCE (4) saying why
  (the buttons stay). If it takes longer: DEFERRED_UPDATE_MESSAGE (6), then the same
  edit through the webhook (or an ephemeral follow-up with the refusal).

Denials are ephemeral (flag 64); every message suppresses mentions.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from adapters.chat.bridge import ChatBridge
from adapters.chat.delivery import deliver
from adapters.chat.discord_api import (
    APPROVE_PREFIX,
    REJECT_PREFIX,
    SLASH_COMMANDS,
    DiscordApi,
    message_payload,
    register_commands,
)
from adapters.chat.discord_payloads import (
    EPHEMERAL,
    REASON_FIELD,
    TOTP_FIELD,
    InteractionType,
    ResponseType,
    caller_of,
    command_options,
    modal_values,
    proposal_modal,
    result_messages,
)
from core.errors import ConfigurationError
from workflows.operator import CommandRequest, CommandResult

log = logging.getLogger("quorum.chat.discord")

TIMESTAMP_WINDOW_S = 300
FOLLOWUP_ATTEMPTS = 4
FOLLOWUP_BACKOFF_S = 0.5
__all__ = [  # the payload helpers and the registration, importable from here too
    "EPHEMERAL",
    "SLASH_COMMANDS",
    "DiscordInteractions",
    "caller_of",
    "check_signature",
    "command_options",
    "load_verify_key",
    "modal_values",
    "register_commands",
    "result_messages",
]


class SignatureRefusal(StrEnum):
    MISSING_SIGNATURE = "MISSING_SIGNATURE"
    MALFORMED_SIGNATURE = "MALFORMED_SIGNATURE"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    STALE_TIMESTAMP = "STALE_TIMESTAMP"


def load_verify_key(public_key_hex: str) -> VerifyKey:
    try:
        raw = bytes.fromhex(public_key_hex.strip())
        return VerifyKey(raw)
    except ValueError:
        raise ConfigurationError(
            "QUORUM_CHAT__DISCORD_PUBLIC_KEY must be the application's public key,"
            " 64 hex characters (Developer Portal → General Information)"
        ) from None


def check_signature(
    key: VerifyKey, signature: str | None, timestamp: str | None, body: bytes, now: float
) -> str | None:
    """None when the request is Discord's; else the refusal, ``CODE: context``."""
    if not signature or not timestamp:
        return f"{SignatureRefusal.MISSING_SIGNATURE}: need X-Signature-Ed25519 and -Timestamp"
    try:
        sig = bytes.fromhex(signature)
        key.verify(timestamp.encode() + body, sig)
    except BadSignatureError:
        return f"{SignatureRefusal.BAD_SIGNATURE}: the signature does not match"
    except ValueError:
        return f"{SignatureRefusal.MALFORMED_SIGNATURE}: not a 64-byte hex signature"
    try:
        age = abs(now - float(timestamp))
    except ValueError:
        return f"{SignatureRefusal.STALE_TIMESTAMP}: timestamp={timestamp[:20]!r} is not a number"
    if age > TIMESTAMP_WINDOW_S:
        return f"{SignatureRefusal.STALE_TIMESTAMP}: age_s={age:.0f} window_s={TIMESTAMP_WINDOW_S}"
    return None


class DiscordInteractions:
    def __init__(
        self,
        bridge: ChatBridge,
        api: DiscordApi,
        key: VerifyKey,
        *,
        application_id: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bridge = bridge
        self.api = api
        self.key = key
        self.application_id = application_id
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request to the interactions endpoint."""
        refusal = check_signature(
            self.key,
            headers.get("x-signature-ed25519"),
            headers.get("x-signature-timestamp"),
            body,
            self.clock(),
        )
        if refusal is not None:
            return 401, {"error": refusal}
        try:
            payload = json.loads(body)
            kind = InteractionType(int(payload["type"]))
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "BAD_INTERACTION: not an interaction object"}
        if kind is InteractionType.PING:
            return 200, {"type": ResponseType.PONG}
        if kind is InteractionType.APPLICATION_COMMAND:
            return 200, await self._command(payload)
        if kind is InteractionType.MESSAGE_COMPONENT:
            return 200, await self._component(payload)
        if kind is InteractionType.MODAL_SUBMIT:
            return 200, await self._modal(payload)
        return 400, {"error": f"BAD_INTERACTION: type={kind.value} is not handled"}

    # -- interaction kinds ---------------------------------------------------------------
    async def _command(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        text, totp = command_options(payload.get("data") or {})
        caller = caller_of(payload)
        slow = self.bridge.is_slow(caller, text, totp)
        future = self.bridge.start_text(caller, text, totp)
        result = await self.bridge.asettle(future, slow)
        if result is None:
            self._later(payload, self._deferred(payload, future))
            return {"type": ResponseType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE}
        first, *rest = result_messages(result)
        if rest:
            self._later(payload, self._send_rest(payload, rest))
        return {"type": ResponseType.CHANNEL_MESSAGE_WITH_SOURCE, "data": first}

    async def _component(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        custom_id = str((payload.get("data") or {}).get("custom_id", ""))
        approve = custom_id.startswith(APPROVE_PREFIX)
        if not approve and not custom_id.startswith(REJECT_PREFIX):
            return self._ephemeral(f"BAD_ARGUMENTS: unknown button custom_id={custom_id[:100]}")
        proposal_id = custom_id.removeprefix(APPROVE_PREFIX if approve else REJECT_PREFIX)
        caller = caller_of(payload)
        action = "approve" if approve else "reject"
        if self.bridge.may_ask(caller, f"proposals {action}"):
            return proposal_modal(custom_id, proposal_id, approve=approve)
        # Unknown user or a role that may not decide: the service refuses and audits it.
        request = CommandRequest(caller=caller, command="proposals", args=[action, proposal_id])
        result = await asyncio.wrap_future(self.bridge.start(request))
        return self._message(result)

    async def _modal(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        data = payload.get("data") or {}
        custom_id = str(data.get("custom_id", ""))
        values = modal_values(data)
        caller = caller_of(payload)
        if custom_id.startswith(APPROVE_PREFIX):
            pid = custom_id.removeprefix(APPROVE_PREFIX)
            request = CommandRequest(
                caller=caller,
                command="proposals",
                args=["approve", pid],
                totp=values.get(TOTP_FIELD) or None,
            )
        elif custom_id.startswith(REJECT_PREFIX):
            pid = custom_id.removeprefix(REJECT_PREFIX)
            reason = values.get(REASON_FIELD, "")
            request = CommandRequest(
                caller=caller, command="proposals", args=["reject", pid, *reason.split()]
            )
        else:
            return self._ephemeral(f"BAD_ARGUMENTS: unknown form custom_id={custom_id[:100]}")
        future = self.bridge.start(request)
        result = await self.bridge.asettle(future, slow=False)
        on_message = payload.get("message") is not None  # opened from a message's button
        if result is None:  # still running: acknowledge now, the outcome follows
            if on_message:
                self._later(payload, self._decided(payload, future))
                return {"type": ResponseType.DEFERRED_UPDATE_MESSAGE}
            self._later(payload, self._deferred(payload, future))
            return {"type": ResponseType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE}
        if not result.ok or not on_message:
            reply = self._message(result)
            if not result.ok:
                reply["data"]["flags"] = EPHEMERAL  # the buttons stay for another try
            return reply
        first, *rest = self._decision(payload, result)
        if rest:
            self._later(payload, self._send_rest(payload, rest))
        return {"type": ResponseType.UPDATE_MESSAGE, "data": first}

    @staticmethod
    def _decision(payload: Mapping[str, Any], result: CommandResult) -> list[dict[str, Any]]:
        """The proposal's message with the outcome under it and its buttons removed."""
        original = str((payload.get("message") or {}).get("content") or "")
        messages = result_messages(result, prefix=f"{original}\n\n" if original else "")
        messages[0]["components"] = []
        return messages

    def _message(self, result: CommandResult) -> dict[str, Any]:
        """A reply of one message (a refusal or a decision is short)."""
        return {
            "type": ResponseType.CHANNEL_MESSAGE_WITH_SOURCE,
            "data": result_messages(result)[0],
        }

    @staticmethod
    def _ephemeral(text: str) -> dict[str, Any]:
        return {
            "type": ResponseType.CHANNEL_MESSAGE_WITH_SOURCE,
            "data": message_payload(text, flags=EPHEMERAL),
        }

    # -- what follows the first reply ----------------------------------------------------
    def _later(self, payload: Mapping[str, Any], coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ids(self, payload: Mapping[str, Any]) -> tuple[str, str]:
        return str(payload.get("application_id") or self.application_id), str(payload["token"])

    async def _send(self, what: str, send: Callable[[], None]) -> None:
        await asyncio.to_thread(
            deliver, send, what=what, attempts=FOLLOWUP_ATTEMPTS, backoff_s=FOLLOWUP_BACKOFF_S
        )

    async def _send_rest(self, payload: Mapping[str, Any], rest: list[dict[str, Any]]) -> None:
        app_id, token = self._ids(payload)
        for message in rest:
            await self._send(
                "discord follow-up", functools.partial(self.api.followup, app_id, token, message)
            )

    async def _deferred(self, payload: Mapping[str, Any], future: Any) -> None:
        result = await asyncio.wrap_future(future)
        first, *rest = result_messages(result)
        app_id, token = self._ids(payload)
        await self._send(
            "discord deferred reply", lambda: self.api.edit_original(app_id, token, first)
        )
        await self._send_rest(payload, rest)

    async def _decided(self, payload: Mapping[str, Any], future: Any) -> None:
        """After a proposal's modal: edit the proposal's message, or say why not."""
        result = await asyncio.wrap_future(future)
        app_id, token = self._ids(payload)
        if not result.ok:
            messages = result_messages(result)
            for m in messages:
                m["flags"] = EPHEMERAL
            await self._send_rest(payload, messages)
            return
        first, *rest = self._decision(payload, result)
        await self._send("discord decision", lambda: self.api.edit_original(app_id, token, first))
        await self._send_rest(payload, rest)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the follow-ups still being sent (server shutdown, tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
