"""Discord's REST API, the few calls Quorum makes (httpx, sync; base URL configurable).

- interaction follow-ups: ``PATCH {api}/webhooks/{application_id}/{token}/messages/@original``
  (the deferred reply) and ``POST {api}/webhooks/{application_id}/{token}`` (further
  pieces); the interaction token authorises these, no bot token needed;
- channel messages (notifications): ``POST {api}/channels/{id}/messages`` with
  ``Authorization: Bot <token>``;
- slash-command registration: ``PUT {api}/applications/{id}/commands`` (global) or
  ``.../guilds/{guild}/commands`` (one server, visible at once).

Every message we send sets ``allowed_mentions: {"parse": []}``: nothing in a reply or a
notification can ping anyone.
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.chat.delivery import http_call

NO_MENTIONS: dict[str, Any] = {"parse": []}
APPROVE_PREFIX = "proposal:approve:"  # custom_id of a button, and of the modal it opens
REJECT_PREFIX = "proposal:reject:"
BUTTON_SUCCESS, BUTTON_DANGER = 3, 4
USER_AGENT = "DiscordBot (https://github.com/quorum, 1.0) Quorum"


def message_payload(content: str, **extra: Any) -> dict[str, Any]:
    return {"content": content, "allowed_mentions": NO_MENTIONS, **extra}


def proposal_buttons(proposal_id: str) -> list[dict[str, Any]]:
    """One action row: Approve (green) / Reject (red); ``custom_id`` names the proposal."""
    return [
        {
            "type": 1,
            "components": [
                {
                    "type": 2,
                    "style": BUTTON_SUCCESS,
                    "label": "Approve",
                    "custom_id": f"{APPROVE_PREFIX}{proposal_id}",
                },
                {
                    "type": 2,
                    "style": BUTTON_DANGER,
                    "label": "Reject",
                    "custom_id": f"{REJECT_PREFIX}{proposal_id}",
                },
            ],
        }
    ]


class DiscordApi:
    def __init__(
        self,
        base_url: str,
        bot_token: str | None = None,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._bot_token = bot_token
        self._client = httpx.Client(
            timeout=timeout_s, headers={"User-Agent": USER_AGENT}, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def _bot_headers(self) -> dict[str, str]:
        if not self._bot_token:
            raise ValueError("a Discord bot token is needed (QUORUM_CHAT__DISCORD_BOT_TOKEN)")
        return {"Authorization": f"Bot {self._bot_token}"}

    def edit_original(self, application_id: str, token: str, payload: dict[str, Any]) -> None:
        url = f"{self.base_url}/webhooks/{application_id}/{token}/messages/@original"
        http_call(lambda: self._client.patch(url, json=payload))

    def followup(self, application_id: str, token: str, payload: dict[str, Any]) -> None:
        url = f"{self.base_url}/webhooks/{application_id}/{token}"
        http_call(lambda: self._client.post(url, json=payload))

    def channel_message(self, channel_id: str, payload: dict[str, Any]) -> None:
        url = f"{self.base_url}/channels/{channel_id}/messages"
        headers = self._bot_headers()
        http_call(lambda: self._client.post(url, json=payload, headers=headers))

    def put_commands(
        self, application_id: str, commands: list[dict[str, Any]], guild_id: str | None = None
    ) -> list[dict[str, Any]]:
        where = f"/guilds/{guild_id}" if guild_id else ""
        url = f"{self.base_url}/applications/{application_id}{where}/commands"
        headers = self._bot_headers()
        response = http_call(lambda: self._client.put(url, json=commands, headers=headers))
        body = response.json()
        return body if isinstance(body, list) else []
