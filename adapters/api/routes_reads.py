"""GET /api/v1/...: what the operator service answers (status, positions, orders, pnl,
explain, a cycle's report, whoami, help) and the reads only the API offers (fills,
cycles, the journal, equity and drawdown, a cycle desk by desk, the data source).

Service reads go through ``OperatorService.execute`` (role checked and audited there);
the API's own reads check the role of the service command they resemble and are
audited as ``api:read`` (``ApiContext.read``). Both read the data source's store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from adapters.api.auth import Principal
from adapters.api.context import context_of, principal
from adapters.api.errors import ApiError, documented, documented_json
from adapters.api.reads import (
    BadCursorError,
    cycles_view,
    desks_view,
    equity_history,
    fills_view,
    journal_page,
    resolve_cycle,
)
from adapters.api.schemas import (
    Answer,
    ApiErrorCode,
    CyclesView,
    DesksView,
    EquityHistory,
    FillsView,
    JournalPage,
    SourceView,
)
from workflows.explain import NotFoundError
from workflows.operator_views import (
    ExplainView,
    HelpView,
    OrdersView,
    PnlView,
    PositionsView,
    ReportView,
    StatusView,
    WhoamiView,
)

Auth = Annotated[Principal, Depends(principal)]
ERROR_STATUSES = (401, 403, 404, 422, 429)
ERRORS = documented(*ERROR_STATUSES)
router = APIRouter(prefix="/api/v1", responses=ERRORS)
# A report is self-contained (inline style, the chart as a data: image), and scripts none.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
Ref = Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def not_found(exc: NotFoundError) -> ApiError:
    if isinstance(exc, BadCursorError):
        return ApiError.api(422, ApiErrorCode.INVALID_QUERY, str(exc), field="before")
    return ApiError(404, "NOT_FOUND", f"NOT_FOUND: {exc}", outcome="failed")


# -- through the operator service -----------------------------------------------------
@router.get("/status", tags=["reads"])
async def status(request: Request, who: Auth) -> Answer[StatusView]:
    """Trading state, kill switch, mode, equity, the day's P&L, the last cycle."""
    return await context_of(request).answer(who, StatusView, "status", [])


@router.get("/positions", tags=["reads"])
async def positions(request: Request, who: Auth) -> Answer[PositionsView]:
    """Open positions of the latest snapshot, each with its protective stop."""
    return await context_of(request).answer(who, PositionsView, "positions", [])


@router.get("/orders", tags=["reads"])
async def orders(
    request: Request,
    who: Auth,
    scope: Literal["open", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Answer[OrdersView]:
    """Open orders, or with ``scope=all`` the ``limit`` latest of any status."""
    return await context_of(request).answer(who, OrdersView, "orders", [scope, str(limit)])


@router.get("/pnl", tags=["reads"])
async def pnl(
    request: Request, who: Auth, days: Annotated[int, Query(ge=1, le=3660)] = 7
) -> Answer[PnlView]:
    """Daily equity and P&L over the last ``days`` days."""
    return await context_of(request).answer(who, PnlView, "pnl", [str(days)])


@router.get("/explain/{ref}", tags=["reads"])
async def explain(request: Request, who: Auth, ref: str) -> Answer[ExplainView]:
    """Why an order exists (by order id or client_ref): its causation chain and evidence."""
    return await context_of(request).answer(who, ExplainView, "explain", [ref])


@router.get("/cycles/{ref}/report", tags=["reads"])
async def report(request: Request, who: Auth, ref: str) -> Answer[ReportView]:
    """A cycle's report (``ref``: its id, its date, or ``latest``); rewritten from the
    journal when its file is gone."""
    ctx = context_of(request)
    if ref == "latest":
        return await ctx.answer(who, ReportView, "report", [])
    cycle = await run_in_threadpool(resolve_cycle, ctx.data, ref)
    return await ctx.answer(who, ReportView, "report", [cycle])


@router.get(
    "/cycles/{ref}/report.html",
    tags=["reads"],
    response_class=HTMLResponse,
    responses=documented_json(*ERROR_STATUSES),
)
async def report_html(request: Request, who: Auth, ref: str) -> HTMLResponse:
    """The report itself (self-contained HTML), as the service found or rewrote it."""
    answer = await report(request, who, ref)
    html = Path(answer.data.path).read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/whoami", tags=["reads"])
async def whoami(request: Request, who: Auth) -> Answer[WhoamiView]:
    return await context_of(request).answer(who, WhoamiView, "whoami", [])


@router.get("/help", tags=["reads"])
async def commands(request: Request, who: Auth) -> Answer[HelpView]:
    """The commands this operator may run (role, TOTP)."""
    return await context_of(request).answer(who, HelpView, "help", [])


# -- the API's own reads (plain functions: FastAPI runs them in worker threads) ----------
@router.get("/source", tags=["reads"])
def source(request: Request, who: Auth) -> Answer[SourceView]:
    """Which store the data comes from, and why (see docs/api.md, "Data source")."""
    ctx = context_of(request)
    ctx.read(who, request, like="status")
    s = ctx.source
    view = SourceView(label=s.label, kind=s.kind.value, name=s.name, path=s.path, reason=s.reason)
    return ctx.wrap(who, "source", s.reason, view)


@router.get("/fills", tags=["reads"])
def fills(
    request: Request,
    who: Auth,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    symbol: Annotated[str | None, Query(max_length=20)] = None,
) -> Answer[FillsView]:
    """The newest fills, oldest first."""
    ctx = context_of(request)
    ctx.read(who, request, like="orders")
    view = fills_view(ctx.data, limit, symbol)
    return ctx.wrap(who, "fills", f"{len(view.rows)} fills", view)


@router.get("/cycles", tags=["reads"])
def cycles(request: Request, who: Auth) -> Answer[CyclesView]:
    """Every cycle with its status, orders, fills, equity and report path."""
    ctx = context_of(request)
    ctx.read(who, request, like="report")
    view = cycles_view(ctx.data)
    return ctx.wrap(who, "cycles", f"{len(view.rows)} cycles", view)


@router.get("/journal", tags=["reads"])
def journal(
    request: Request,
    who: Auth,
    cycle: Annotated[Ref | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")] = None,
) -> Answer[JournalPage]:
    """The A2A journal, newest page first: ``next_before`` pages back."""
    ctx = context_of(request)
    ctx.read(who, request, like="explain")
    try:
        page = journal_page(ctx.data, limit=limit, cycle=cycle, kind=kind, before=before)
    except NotFoundError as exc:
        raise not_found(exc) from None
    return ctx.wrap(who, "journal", f"{len(page.messages)} messages", page)


@router.get("/equity", tags=["reads"])
def equity(request: Request, who: Auth) -> Answer[EquityHistory]:
    """Closing equity per day with the running peak and the drawdown from it."""
    ctx = context_of(request)
    ctx.read(who, request, like="pnl")
    view = equity_history(ctx.data, ctx.settings.broker.starting_cash)
    message = f"{len(view.points)} days, max drawdown {view.max_drawdown:.2%}"
    return ctx.wrap(who, "equity", message, view)


@router.get("/desks", tags=["reads"])
def desks(
    request: Request, who: Auth, cycle: Annotated[Ref | None, Query()] = None
) -> Answer[DesksView]:
    """A cycle's messages desk by desk (default: the latest cycle)."""
    ctx = context_of(request)
    ctx.read(who, request, like="report")
    try:
        view = desks_view(ctx.data, cycle)
    except NotFoundError as exc:
        raise not_found(exc) from None
    name = view.cycle.cycle_id if view.cycle else "no cycle yet"
    return ctx.wrap(who, "desks", f"{name}: {len(view.desks)} desks", view)
