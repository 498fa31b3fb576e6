"""One ASGI app (Starlette) for the chat platforms' webhooks; ``quorum chat serve``.

- ``POST /slack/events``: the Slack Bolt app (slash commands, buttons, modals,
  ``url_verification``). Bolt is synchronous and waits up to 3 s for an ack, so each
  request is dispatched in a worker thread, never on the server's event loop.
- ``POST /discord/interactions``: Discord's interactions endpoint.
- ``GET /healthz``: which platforms are configured.

A platform whose settings are missing answers 503 with a JSON error naming the setting
(``QUORUM_CHAT__SLACK_SIGNING_SECRET``, ``QUORUM_CHAT__DISCORD_PUBLIC_KEY``); a body over
1 MiB is refused (413). A request refused for its signature or timestamp (401) never
reaches the operator service, and is recorded in the audit chain
(``chat:request_refused`` with the platform and the refusal code).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.chat.bridge import ChatBridge, ServiceLoop
from adapters.chat.discord import DiscordInteractions, load_verify_key
from adapters.chat.discord_api import DiscordApi
from core.errors import ConfigurationError

if TYPE_CHECKING:
    from config.settings import Settings
    from core.audit import AuditLog
    from core.ports import Store
    from workflows.operator import OperatorService

log = logging.getLogger("quorum.chat.server")

MAX_BODY = 1 << 20
SLACK_PATH = "/slack/events"
DISCORD_PATH = "/discord/interactions"
SLACK_SETTING = "QUORUM_CHAT__SLACK_SIGNING_SECRET"
DISCORD_SETTING = "QUORUM_CHAT__DISCORD_PUBLIC_KEY"
_TIMESTAMP = re.compile(r"^\d{1,12}$")
SLACK_WINDOW_S = 300
# Imported by the operator service's first status / report call: loaded at startup so
# the first slash command is answered within the platforms' 3 seconds.
WARM_IMPORTS = ("workflows.service", "workflows.report")


def slack_refusal(stamp: str, request: Request) -> str:
    """Why Bolt refused a request, as a code for the audit (Bolt only says 401)."""
    if not stamp or not request.headers.get("x-slack-signature"):
        return "MISSING_SIGNATURE"
    return "STALE_TIMESTAMP" if abs(time.time() - int(stamp)) > SLACK_WINDOW_S else "BAD_SIGNATURE"


def not_configured(platform: str, setting: str) -> JSONResponse:
    return JSONResponse(
        {"error": f"NOT_CONFIGURED: {platform} is not set up on this server; set {setting}"},
        status_code=503,
    )


@dataclass
class ChatServer:
    """The app and what it owns (the service loop, the store it opened, the clients)."""

    bridge: ChatBridge
    slack: App | None
    discord: DiscordInteractions | None
    store: Store | None = None  # opened here, closed at shutdown
    closers: list[Any] = field(default_factory=list)
    audit: AuditLog | None = None

    def refused(self, platform: str, code: str, request: Request) -> None:
        """One audit record per request refused before the service saw it."""
        if self.audit is None:
            return
        client = request.client.host if request.client else ""
        data = {"platform": platform, "code": code, "path": request.url.path, "client": client}
        try:
            self.audit.append(f"{platform}:unverified", "chat:request_refused", data)
        except Exception as exc:  # the 401 stands even if the audit store is down
            log.warning("refused request not audited: %s", type(exc).__name__)

    def configured(self) -> dict[str, bool]:
        return {"slack": self.slack is not None, "discord": self.discord is not None}

    async def _body(self, request: Request) -> bytes | Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return JSONResponse({"error": "BODY_TOO_LARGE: limit_bytes=1048576"}, 413)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "BODY_TOO_LARGE: limit_bytes=1048576"}, 413)
        return body

    async def slack_events(self, request: Request) -> Response:
        if self.slack is None:
            return not_configured("slack", SLACK_SETTING)
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        stamp = request.headers.get("x-slack-request-timestamp", "")
        # Bolt parses the timestamp with int(); a malformed one must be a 401, not a 500.
        # A missing one goes on to Bolt (its ssl_check answer comes first, then a 401).
        if stamp and not _TIMESTAMP.match(stamp):
            self.refused("slack", "MALFORMED_TIMESTAMP", request)
            return JSONResponse({"error": "invalid request"}, 401)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return JSONResponse({"error": "BAD_REQUEST: body is not UTF-8"}, 400)
        bolt_response = await run_in_threadpool(self.slack.dispatch, to_bolt_request(request, body))
        if bolt_response.status == 401:  # Bolt's RequestVerification said no
            self.refused("slack", slack_refusal(stamp, request), request)
        return to_starlette_response(bolt_response)

    async def discord_interactions(self, request: Request) -> Response:
        if self.discord is None:
            return not_configured("discord", DISCORD_SETTING)
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        status, payload = await self.discord.handle(body, request.headers)
        if status == 401:
            self.refused("discord", str(payload.get("error", "")).split(":", 1)[0], request)
        return JSONResponse(payload, status_code=status)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"ok": True, **self.configured()})

    async def close(self) -> None:
        if self.discord is not None:
            await self.discord.drain()
        self.bridge.loop.close()
        for closer in self.closers:
            with contextlib.suppress(Exception):
                closer()
        if self.store is not None:
            self.store.close()

    def asgi(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.close()

        return Starlette(
            routes=[
                Route(SLACK_PATH, self.slack_events, methods=["POST"]),
                Route(DISCORD_PATH, self.discord_interactions, methods=["POST"]),
                Route("/healthz", self.healthz, methods=["GET"]),
            ],
            lifespan=lifespan,
        )


def build_chat_server(
    settings: Settings,
    *,
    service: OperatorService | None = None,
    require_platform: bool = True,
) -> ChatServer:
    """Everything ``quorum chat serve`` runs. Without ``service`` the configured store is
    opened and the operator service built on it, with the chat notifier."""
    chat = settings.chat
    if require_platform and chat.slack_signing_secret is None and not chat.discord_public_key:
        raise ConfigurationError(
            f"no chat platform is configured: set {SLACK_SETTING} (Slack) and/or"
            f" {DISCORD_SETTING} (Discord)"
        )
    key = load_verify_key(chat.discord_public_key) if chat.discord_public_key else None
    for module in WARM_IMPORTS:
        importlib.import_module(module)
    store: Store | None = None
    if service is None:
        from adapters.chat.notify import make_notifier
        from adapters.factories import make_operator_service, make_store

        store = make_store(settings)
        service = make_operator_service(settings, store, notifier=make_notifier(settings))
    bridge = ChatBridge(service=service, loop=ServiceLoop())
    slack = None
    if chat.slack_signing_secret is not None:
        from adapters.chat.slack import build_slack_app

        slack = build_slack_app(settings, bridge)
    discord = None
    closers: list[Any] = []
    if key is not None:
        token = chat.discord_bot_token
        api = DiscordApi(chat.discord_api_url, token.get_secret_value() if token else None)
        closers.append(api.close)
        discord = DiscordInteractions(bridge, api, key, application_id=chat.discord_application_id)
    return ChatServer(
        bridge=bridge,
        slack=slack,
        discord=discord,
        store=store,
        closers=closers,
        audit=service.control.audit,
    )


def build_chat_app(settings: Settings, **kwargs: Any) -> Starlette:
    return build_chat_server(settings, **kwargs).asgi()


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the chat endpoints on uvicorn until interrupted."""
    import uvicorn

    # httpx logs every request URL at INFO; a Discord follow-up's URL carries the
    # interaction token, which must not reach the logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    server = build_chat_server(settings)
    where = f"{host or settings.chat.host}:{port or settings.chat.port}"
    log.info("chat endpoints on http://%s (%s)", where, server.configured())
    uvicorn.run(
        server.asgi(),
        host=host or settings.chat.host,
        port=port or settings.chat.port,
        log_level="info",
    )
