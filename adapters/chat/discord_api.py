"""Discord's REST API, the few calls Quorum makes (httpx, sync; base URL configurable).

- interaction follow-ups: ``PATCH {api}/webhooks/{application_id}/{token}/messages/@original``
  (the deferred reply) and ``POST {api}/webhooks/{application_id}/{token}`` (further
  pieces); the interaction token authorises these, no bot token needed;
- channel messages (notifications): ``POST {api}/channels/{id}/messages`` with
  ``Authorization: Bot <token>``;
- slash-command registration: ``PUT {api}/applications/{id}/commands`` (global) or
  ``.../guilds/{guild}/commands`` (one server, visible at once) of ``SLASH_COMMANDS``:
  ``/quorum`` with a string option ``command`` and an optional ``totp``.

Every message we send sets ``allowed_mentions: {"parse": []}``: nothing in a reply or a
notification can ping anyone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from adapters.chat.delivery import PermanentError, TransientError, http_call
from core.errors import ConfigurationError

if TYPE_CHECKING:
    from config.settings import Settings

NO_MENTIONS: dict[str, Any] = {"parse": []}
APPROVE_PREFIX = "proposal:approve:"  # custom_id of a button, and of the modal it opens
REJECT_PREFIX = "proposal:reject:"
BUTTON_SUCCESS, BUTTON_DANGER = 3, 4
USER_AGENT = "DiscordBot (https://github.com/quorum, 1.0) Quorum"

COMMAND_NAME = "quorum"
SLASH_COMMANDS: list[dict[str, Any]] = [
    {
        "name": COMMAND_NAME,
        "type": 1,  # CHAT_INPUT
        "description": "Run a Quorum operator command (try: help)",
        "options": [
            {
                "type": 3,  # STRING
                "name": "command",
                "description": "The command line, e.g. status, halt news shock, proposals list",
                "required": True,
                "max_length": 1000,
            },
            {
                "type": 3,
                "name": "totp",
                "description": "Your one-time code (resume, release, approve, rollback, live)",
                "required": False,
                "min_length": 6,
                "max_length": 8,
            },
        ],
    }
]


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


def register_commands(settings: Settings, guild_id: str | None = None) -> list[dict[str, Any]]:
    """``quorum chat discord register``: PUT the slash commands (globally, or to one
    server, where they show at once). Returns what Discord registered."""
    chat = settings.chat
    missing = [
        name
        for name, value in (
            ("QUORUM_CHAT__DISCORD_APPLICATION_ID", chat.discord_application_id),
            ("QUORUM_CHAT__DISCORD_BOT_TOKEN", chat.discord_bot_token),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(f"registering the Discord commands needs {', '.join(missing)}")
    assert chat.discord_bot_token is not None
    api = DiscordApi(chat.discord_api_url, chat.discord_bot_token.get_secret_value())
    try:
        return api.put_commands(chat.discord_application_id, SLASH_COMMANDS, guild_id)
    except (TransientError, PermanentError) as exc:
        raise ConfigurationError(f"Discord refused the command registration: {exc}") from None
    finally:
        api.close()
