"""The web dashboard at ``/``: server-rendered Jinja2 panels plus one small script
(``static/dashboard.js``), no build step, no external asset.

- ``GET /``: the login form, or (with a live session) every panel rendered.
- ``POST /login`` (JSON ``{"token": ...}``): resolves the API token and sets the session
  cookie (``adapters/api/auth.py`` says why a cookie); ``POST /logout`` ends it.
- ``GET /ui/panels/{name}``: one panel's HTML, which the script swaps in after an action
  or on its refresh timer. Every panel reads through the operator service or the API's
  own reads, as the logged-in operator: role checks and audit as for the JSON API.
- Buttons and forms call the JSON API (``/api/v1/...``); the feed is an EventSource on
  ``/api/v1/feed``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from adapters.api.auth import SESSION_COOKIE, SESSION_TTL, Principal, token_key
from adapters.api.charts import equity_charts
from adapters.api.context import ApiContext, context_of, principal
from adapters.api.errors import ApiError, rate_limited
from adapters.api.reads import desks_view, equity_history
from adapters.api.schemas import ApiErrorCode, LoginBody, SessionView
from core.proposals import ProposalStatus
from workflows.operator_views import PositionsView, ProposalsView, StatusView

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
RECENT_DECIDED = 5  # decided proposals shown under the pending ones
router = APIRouter(include_in_schema=False)
Auth = Annotated[Principal, Depends(principal)]


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda v: "-" if v is None else f"{v:,.2f}"
    env.filters["pct"] = lambda v: "-" if v is None else f"{v:+.2%}"
    env.filters["pct0"] = lambda v: "-" if v is None else f"{v:.2%}"
    env.filters["plural"] = lambda n, noun: f"{n} {noun}" + ("" if n == 1 else "s")
    env.filters["num"] = lambda v: (
        "-" if v is None else (f"{v:,.4g}" if isinstance(v, float) else v)
    )
    return env


ENV = environment()


def render(template: str, **values: Any) -> str:
    return ENV.get_template(template).render(**values)


# -- panels -------------------------------------------------------------------------------
async def state_panel(ctx: ApiContext, request: Request, who: Principal) -> str:
    status = (await ctx.answer(who, StatusView, "status", [])).data
    return render("panels/state.html", status=status, role=who.operator.role.value)


async def charts_panel(ctx: ApiContext, request: Request, who: Principal) -> str:
    def read() -> Any:
        ctx.read(who, request, like="pnl")
        return equity_history(ctx.data, ctx.settings.broker.starting_cash)

    history = await run_in_threadpool(read)
    return render("panels/charts.html", history=history, charts=equity_charts(history))


async def positions_panel(ctx: ApiContext, request: Request, who: Principal) -> str:
    positions = (await ctx.answer(who, PositionsView, "positions", [])).data
    return render("panels/positions.html", positions=positions)


async def desks_panel(ctx: ApiContext, request: Request, who: Principal) -> str:
    def read() -> Any:
        ctx.read(who, request, like="report")
        return desks_view(ctx.data)

    return render("panels/desks.html", desks=await run_in_threadpool(read))


async def proposals_panel(ctx: ApiContext, request: Request, who: Principal) -> str:
    listed = (await ctx.answer(who, ProposalsView, "proposals", ["list"])).data.proposals
    pending = [p for p in listed if p.status is ProposalStatus.PENDING]
    decided = [p for p in reversed(listed) if p.status is not ProposalStatus.PENDING]
    return render(
        "panels/proposals.html",
        pending=pending,
        decided=decided[:RECENT_DECIDED],
        role=who.operator.role.value,
        operator=who.operator.name,
    )


Panel = Callable[[ApiContext, Request, Principal], Awaitable[str]]
PANELS: dict[str, Panel] = {
    "state": state_panel,
    "charts": charts_panel,
    "positions": positions_panel,
    "desks": desks_panel,
    "proposals": proposals_panel,
}


async def panel_html(ctx: ApiContext, request: Request, who: Principal, name: str) -> str:
    """A panel, or its refusal (the code and the one-line message) in its place."""
    try:
        return await PANELS[name](ctx, request, who)
    except ApiError as err:
        return render("panels/error.html", name=name, error=err.detail)


# -- pages --------------------------------------------------------------------------------
def page(ctx: ApiContext, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = render(template, source=ctx.source, **values)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    ctx = context_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid or ctx.auth.sessions.get(sid) is None:
        return page(ctx, "login.html")
    try:
        who = await run_in_threadpool(ctx.auth.authenticate, request)
    except ApiError as err:
        if err.status == 429:
            return page(ctx, "login.html", 429, error=err.detail)
        return page(ctx, "login.html", error=err.detail)
    panels = {name: await panel_html(ctx, request, who, name) for name in PANELS}
    return page(ctx, "dashboard.html", panels=panels, who=who.operator)


@router.get("/ui/panels/{name}", response_class=HTMLResponse)
async def one_panel(request: Request, who: Auth, name: str) -> HTMLResponse:
    ctx = context_of(request)
    if name not in PANELS:
        raise ApiError.api(404, ApiErrorCode.NOT_FOUND, f"panel={name} have={','.join(PANELS)}")
    html = await panel_html(ctx, request, who, name)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith("application/x-www-form-urlencoded")


async def login_token(request: Request) -> str:
    """The token of a login: JSON ``{"token": ...}`` (the page's script) or a plain form
    post (no script: the form still posts its body, never a URL with the token in it)."""
    body = await request.body()
    try:
        if is_form(request):
            values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)
            return LoginBody(token=values.get("token", [""])[0]).token
        return LoginBody.model_validate_json(body).token
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise ApiError.api(400, ApiErrorCode.MALFORMED_JSON, "the body is not JSON") from None
        rule = f"field=token rule={first['msg']}"
        raise ApiError.api(422, ApiErrorCode.INVALID_BODY, rule, field="token") from None


@router.post("/login")
async def login(request: Request) -> Response:
    """Exchange an API token for a session cookie (HttpOnly, SameSite=Strict): JSON in,
    JSON out for the script; a form post gets a redirect to ``/`` (or the login page
    with the refusal)."""
    ctx = context_of(request)
    auth = ctx.auth
    try:
        token = await login_token(request)
        operator = await run_in_threadpool(auth.registry.resolve_token, token)
        if operator is None:
            raise auth.refuse(request, ApiErrorCode.INVALID_TOKEN, "the token is unknown")
        wait, _ = auth.limits.take(token_key(token))
        if wait:
            raise rate_limited(wait, auth.limits.per_minute)
    except ApiError as err:
        if is_form(request):
            return page(ctx, "login.html", err.status, error=err.detail)
        raise
    sid, session = auth.sessions.open(token, operator.name)
    auth.audit.append(operator.name, "api:login", {"client": auth.client(request)})
    view = SessionView(
        operator=operator.name,
        role=operator.role.value,
        expires_at=session.expires_at,
        source=ctx.label,
    )
    response: Response = JSONResponse(view.model_dump(mode="json"))
    if is_form(request):
        response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    ctx = context_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        session = ctx.auth.sessions.get(sid)
        ctx.auth.sessions.close(sid)
        if session is not None:
            ctx.auth.audit.append(session.operator, "api:logout", {})
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
