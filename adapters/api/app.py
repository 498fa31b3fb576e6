"""``quorum serve``: the REST API (``/api/v1``), its OpenAPI document (``/openapi.json``)
and the dashboard (``/``) in one FastAPI app on uvicorn.

``create_app(settings)`` opens the main store, picks the data source
(``adapters/api/source.py``), and builds the operator service with
``make_operator_service`` exactly as chat does (same operators, roles, TOTP, audit),
reading from the chosen source. Importing this module stays light: the heavy parts
(LangGraph, the agents) come with the service, and what its first reads import is
loaded in a background thread once the server has started (``WARM_IMPORTS``).
No page loads anything from another origin (Swagger UI is off: it comes from a CDN).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.api import dashboard, feed, routes_actions, routes_reads
from adapters.api.auth import Authenticator, RateLimits, Sessions
from adapters.api.context import ApiContext, FeedOptions
from adapters.api.errors import ApiError, CrashGuard, error_response, install
from adapters.api.schemas import ApiErrorCode
from adapters.api.source import AUTO, SourceKind, choose_source
from adapters.chat.bridge import ServiceLoop
from core.notifications import Notifier
from workflows.operators import TOKENS, utc_now

if TYPE_CHECKING:
    from config.settings import Settings
    from core.ports import Store

log = logging.getLogger("quorum.api")
# What the first status / equity / desks request would import: loaded after startup.
WARM_IMPORTS = ("workflows.service", "workflows.report", "agents.registry")
# The largest body a client has reason to send (a proposal's changes, a reason of 500
# characters) is a few KiB; anything over this is refused before a byte of it is read.
MAX_BODY_BYTES = 64 * 1024
# The dashboard loads nothing from another origin, and this says so to the browser.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class SecurityHeaders:
    """Every response: not sniffed, not cached, no referrer, never framed; an HTML page
    without its own policy gets ``PAGE_CSP``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Cache-Control", "no-store")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", PAGE_CSP)
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """A request body over ``limit`` bytes gets ``413 PAYLOAD_TOO_LARGE`` before the app
    reads it: at once by its ``Content-Length``, or for a chunked body as soon as what
    has arrived passes the limit (a chunked body is collected, at most ``limit`` bytes,
    and handed on whole). Nothing of a refused body is parsed or kept, whoever sent it."""

    def __init__(self, app: ASGIApp, source: str | None, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.source = source
        self.limit = limit

    async def refuse(self, scope: Scope, receive: Receive, send: Send, size: str) -> None:
        context = f"{size} limit_bytes={self.limit}"
        err = ApiError.api(413, ApiErrorCode.PAYLOAD_TOO_LARGE, context)
        err.headers["Connection"] = "close"  # the rest of the body is never read
        await error_response(err, self.source)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > self.limit:
            await self.refuse(scope, receive, send, f"content_length={length}")
            return
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            await self.app(scope, receive, send)  # the server holds it to Content-Length
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away mid-body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self.refuse(scope, receive, send, f"received_bytes>{self.limit}")
                return
            if not message.get("more_body", False):
                break
        whole: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)


def build_context(
    settings: Settings,
    *,
    source: str = AUTO,
    clock: Callable[[], datetime] | None = None,
    feed_options: FeedOptions | None = None,
    notifier: Notifier | None = None,
) -> ApiContext:
    """The store, the data source, the operator service and the authenticator.
    Raises ``ConfigurationError`` (an unknown ``--source``, an unreachable store)."""
    from adapters.factories import make_operator_service, make_store
    from adapters.storage.sqlite import SqliteStore

    store = make_store(settings)
    closers: list[Callable[[], object]] = [store.close]
    try:
        chosen = choose_source(settings.state_dir, store, source)
        data: Store = store
        if chosen.kind is SourceKind.SIMULATION and chosen.path:
            data = SqliteStore(chosen.path)
            closers.append(data.close)
        service = make_operator_service(
            settings,
            store,
            notifier=notifier,
            clock=clock,
            data_store=None if data is store else data,
        )
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
        raise
    auth = Authenticator(
        service.registry,
        service.control.audit,
        RateLimits(settings.api.requests_per_minute),
        Sessions(clock=clock or utc_now),
    )
    return ApiContext(
        settings=settings,
        store=store,
        data=data,
        source=chosen,
        service=service,
        auth=auth,
        loop=ServiceLoop("quorum-api-service"),
        feed=feed_options or FeedOptions(),
        closers=closers,
    )


def warm() -> None:
    for module in WARM_IMPORTS:
        try:
            importlib.import_module(module)
        except Exception as exc:  # the request that needs it will say what is wrong
            log.warning("warm import of %s failed: %s", module, type(exc).__name__)


def create_app(settings: Settings, *, context: ApiContext | None = None, **kw: object) -> FastAPI:
    """The app; ``kw`` goes to ``build_context`` (``source``, ``clock``, ...) when no
    ``context`` is given. The context is closed when the app shuts down."""
    ctx = context or build_context(settings, **kw)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=warm, name="quorum-api-warm", daemon=True).start()
        log.info("serving source=%s (%s)", ctx.label, ctx.source.reason)
        if not any(not d.get("revoked_at") for d in ctx.store.documents(TOKENS)):
            log.warning("no operator has an API token yet: quorum operators token NAME")
        try:
            yield
        finally:
            ctx.close()

    app = FastAPI(
        title="Quorum",
        summary="REST API over the Quorum operator service",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    install(app, ctx.label)
    app.add_middleware(BodyLimit, source=ctx.label)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(CrashGuard, source=ctx.label)  # outermost: added last
    for module in (routes_reads, routes_actions, feed, dashboard):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    return app


def listen_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything slow runs, so a port in use or a host
    that does not resolve is a one-line ``ConfigurationError`` at once (uvicorn says so
    only once the app is built, in several log lines). Uvicorn listens on it."""
    from core.errors import ConfigurationError

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigurationError(f"--host {host}: {exc.strerror} (api.host)") from None
    family, kind, proto, _, address = found[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = (
            " (another quorum serve? pick another --port)" if exc.errno == errno.EADDRINUSE else ""
        )
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"cannot listen on {host}:{port}: {reason}{hint}") from None
    return sock


def serve(
    settings: Settings, host: str | None = None, port: int | None = None, source: str = AUTO
) -> None:
    """Run the API and the dashboard on uvicorn until interrupted. Uvicorn logs through
    Quorum's redacting root handler (``log_config=None``)."""
    import uvicorn

    from adapters.chat.notify import make_notifier

    host, port = host or settings.api.host, port or settings.api.port
    sock = listen_socket(host, port)
    try:
        app = create_app(settings, source=source, notifier=make_notifier(settings))
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "quorum.api"):
            logging.getLogger(name).setLevel(logging.INFO)
        config = uvicorn.Config(app, log_config=None, timeout_graceful_shutdown=3)
        shown = f"[{host}]" if ":" in host else host
        log.info("listening on http://%s:%d (Ctrl-C stops)", shown, port)
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C: uvicorn re-raises the SIGINT it shut down for
        pass
    finally:
        sock.close()
