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
import importlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.api import dashboard, feed, routes_actions, routes_reads
from adapters.api.auth import Authenticator, RateLimits, Sessions
from adapters.api.context import ApiContext, FeedOptions
from adapters.api.errors import CrashGuard, install
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
    app.add_middleware(SecurityHeaders)
    app.add_middleware(CrashGuard, source=ctx.label)  # outermost: added last
    for module in (routes_reads, routes_actions, feed, dashboard):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    return app


def serve(
    settings: Settings, host: str | None = None, port: int | None = None, source: str = AUTO
) -> None:
    """Run the API and the dashboard on uvicorn until interrupted. Uvicorn logs through
    Quorum's redacting root handler (``log_config=None``)."""
    import uvicorn

    from adapters.chat.notify import make_notifier

    app = create_app(settings, source=source, notifier=make_notifier(settings))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "quorum.api"):
        logging.getLogger(name).setLevel(logging.INFO)
    uvicorn.run(
        app,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,
        timeout_graceful_shutdown=3,
    )
