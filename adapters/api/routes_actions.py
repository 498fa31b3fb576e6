"""POST /api/v1/...: changes, each one ``OperatorService.execute`` (role, TOTP, audit):
the trading state (halt, reduce, kill, resume, release), proposals (submit, approve,
reject; list and show too) and configuration versions (history, show, diff, rollback).

Bodies are JSON models (``schemas``): a bad one is refused with the field named before
the service is called, so nothing changes.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from adapters.api.auth import Principal
from adapters.api.context import context_of, principal
from adapters.api.errors import documented
from adapters.api.schemas import (
    Answer,
    ApproveBody,
    RejectBody,
    RollbackBody,
    SubmitBody,
    TradingBody,
)
from core.proposals import ProposalStatus
from workflows.operator_views import ConfigView, ProposalsView, ProposalView, TradingView

Auth = Annotated[Principal, Depends(principal)]
router = APIRouter(prefix="/api/v1", responses=documented(400, 401, 403, 404, 409, 422, 429, 503))


@router.post("/trading/{action}", tags=["trading"])
async def trading(
    request: Request,
    who: Auth,
    action: Literal["halt", "reduce", "kill", "resume", "release"],
    body: TradingBody,
) -> Answer[TradingView]:
    """Change the trading state: ``halt``, ``reduce``, ``kill`` (trader), ``resume``,
    ``release`` (admin, with ``totp``). The answer is the status after the change."""
    ctx = context_of(request)
    return await ctx.answer(who, TradingView, action, [body.reason], body.totp)


@router.get("/proposals", tags=["proposals"])
async def proposals(
    request: Request, who: Auth, status: ProposalStatus | None = None
) -> Answer[ProposalsView]:
    """Change proposals, optionally of one status."""
    args = ["list", status.value] if status else ["list"]
    return await context_of(request).answer(who, ProposalsView, "proposals", args)


@router.get("/proposals/{proposal_id}", tags=["proposals"])
async def proposal(request: Request, who: Auth, proposal_id: str) -> Answer[ProposalView]:
    """One proposal with its evidence (current vs proposed, per fold and overall)."""
    return await context_of(request).answer(who, ProposalView, "proposals", ["show", proposal_id])


@router.post("/proposals", tags=["proposals"])
async def submit(request: Request, who: Auth, body: SubmitBody) -> Answer[ProposalView]:
    """Propose a configuration change (trader): validated, evidenced (a backtest or a
    simulation: this can take a while), then pending for an admin."""
    # Each value as JSON text: the service's parser reads it back as the same value.
    changes = [f"{key}={json.dumps(value)}" for key, value in body.changes.items()]
    args = ["submit", *changes, "--reason", body.reason]
    return await context_of(request).answer(who, ProposalView, "proposals", args)


@router.post("/proposals/{proposal_id}/approve", tags=["proposals"])
async def approve(
    request: Request, who: Auth, proposal_id: str, body: ApproveBody
) -> Answer[ProposalView]:
    """Approve and apply (admin, TOTP; never the proposal's author)."""
    ctx = context_of(request)
    return await ctx.answer(who, ProposalView, "proposals", ["approve", proposal_id], body.totp)


@router.post("/proposals/{proposal_id}/reject", tags=["proposals"])
async def reject(
    request: Request, who: Auth, proposal_id: str, body: RejectBody
) -> Answer[ProposalView]:
    """Reject (admin), with the reason."""
    args = ["reject", proposal_id, body.reason]
    return await context_of(request).answer(who, ProposalView, "proposals", args)


@router.get("/config/versions", tags=["config"])
async def config_history(request: Request, who: Auth) -> Answer[ConfigView]:
    """Every configuration version, the active one marked."""
    return await context_of(request).answer(who, ConfigView, "config", ["history"])


@router.get("/config/versions/{version}", tags=["config"])
async def config_show(request: Request, who: Auth, version: int) -> Answer[ConfigView]:
    """One version's values (``0``: the active one)."""
    args = ["show"] if version == 0 else ["show", str(version)]
    return await context_of(request).answer(who, ConfigView, "config", args)


@router.get("/config/diff", tags=["config"])
async def config_diff(
    request: Request,
    who: Auth,
    a: Annotated[int, Query(ge=1)],
    b: Annotated[int, Query(ge=1)],
) -> Answer[ConfigView]:
    """What changed from version ``a`` to version ``b``."""
    return await context_of(request).answer(who, ConfigView, "config", ["diff", str(a), str(b)])


@router.post("/config/versions/{version}/rollback", tags=["config"])
async def config_rollback(
    request: Request, who: Auth, version: int, body: RollbackBody
) -> Answer[ConfigView]:
    """Make an earlier version active again (admin, TOTP)."""
    args = ["rollback", str(version), body.reason]
    return await context_of(request).answer(who, ConfigView, "config", args, body.totp)
