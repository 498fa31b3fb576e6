"""What the operator service tests share: a clock they move, a service on a real SQLite
store wired by ``make_operator_service``, enrolment, fresh TOTP codes, and in-memory
proposal / config desks that keep the ports' rules (self-approval, unknown ids)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp

from adapters.factories import make_operator_service
from config.settings import load_settings
from core.ports import Store
from core.proposals import (
    ConfigVersion,
    Proposal,
    ProposalRefusal,
    ProposalRefusedError,
    ProposalStatus,
)
from workflows.operator import Caller, CommandResult, OperatorService, Platform
from workflows.operators import Role

T0 = datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class MemoryDesks:
    """ProposalDesk and ConfigDesk in memory, keeping the ports' refusals."""

    proposals: dict[str, Proposal] = field(default_factory=dict)
    versions: list[ConfigVersion] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.proposals["p-1"] = Proposal(
            id="p-1",
            status=ProposalStatus.PENDING,
            author="proposal_author",
            reason="tighter cap after a loss",
            changes={"risk.max_position_weight": 0.25},
            current={"risk.max_position_weight": 0.3},
            created_at=T0,
        )
        for n, weight in ((1, 0.3), (2, 0.25)):
            self.versions.append(
                ConfigVersion(
                    version=n,
                    values={"risk.max_position_weight": weight},
                    author="seed",
                    created_at=T0,
                    active=n == 2,
                )
            )

    def _proposal(self, pid: str) -> Proposal:
        if pid not in self.proposals:
            raise ProposalRefusedError(ProposalRefusal.UNKNOWN_PROPOSAL, f"id={pid}")
        return self.proposals[pid]

    def list_proposals(self, status: ProposalStatus | None = None) -> list[Proposal]:
        return [p for p in self.proposals.values() if status is None or p.status is status]

    def get_proposal(self, proposal_id: str) -> Proposal:
        return self._proposal(proposal_id)

    async def submit(self, changes: dict[str, Any], reason: str, author: str) -> Proposal:
        if changes.get("risk.max_position_weight", 0) > 0.3:
            raise ProposalRefusedError(
                ProposalRefusal.LOOSENS_HARD_CAP, "key=risk.max_position_weight cap=0.30"
            )
        pid = f"p-{len(self.proposals) + 1}"
        p = Proposal(
            id=pid,
            status=ProposalStatus.PENDING,
            author=author,
            reason=reason,
            changes=changes,
            created_at=T0,
        )
        self.proposals[pid] = p
        return p

    async def approve(self, proposal_id: str, approver: str) -> Proposal:
        p = self._proposal(proposal_id)
        if p.author == approver:
            raise ProposalRefusedError(ProposalRefusal.SELF_APPROVAL, f"approver={approver}")
        done = p.model_copy(update={"status": ProposalStatus.APPROVED, "decided_by": approver})
        self.proposals[proposal_id] = done
        return done

    async def reject(self, proposal_id: str, approver: str, reason: str) -> Proposal:
        p = self._proposal(proposal_id)
        done = p.model_copy(
            update={
                "status": ProposalStatus.REJECTED,
                "decided_by": approver,
                "decision_reason": reason,
            }
        )
        self.proposals[proposal_id] = done
        return done

    def history(self) -> list[ConfigVersion]:
        return list(self.versions)

    def version(self, number: int | None = None) -> ConfigVersion:
        for v in self.versions:
            if (number is None and v.active) or v.version == number:
                return v
        raise ProposalRefusedError(ProposalRefusal.UNKNOWN_VERSION, f"version={number}")

    def diff(self, a: int, b: int) -> dict[str, list[Any]]:
        va, vb = self.version(a).values, self.version(b).values
        return {
            k: [va.get(k), vb.get(k)] for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)
        }

    def rollback(self, number: int, reason: str, actor: str) -> ConfigVersion:
        old = self.version(number)
        self.versions = [v.model_copy(update={"active": False}) for v in self.versions]
        new = old.model_copy(
            update={
                "version": len(self.versions) + 1,
                "active": True,
                "author": actor,
                "reason": reason,
            }
        )
        self.versions.append(new)
        return new


def build(
    tmp_path: Path,
    store: Store,
    clock: Clock,
    *,
    desks: MemoryDesks | None = None,
    cycle_runner: Any = None,
) -> OperatorService:
    """The factory's control, audit and registry, with the given desks (None: proposal
    review not wired) and cycle runner (None: none wired)."""
    settings = load_settings(state_dir=tmp_path / "var")
    wired = make_operator_service(settings, store, clock=clock)
    return OperatorService(
        store=store,
        control=wired.control,
        registry=wired.registry,
        audit=wired.control.audit,
        options=wired.options,
        cycle_runner=cycle_runner,
        proposals=desks,
        config=desks,
    )


def enrol(service: OperatorService, name: str, role: Role, **ids: str) -> str:
    """Enrol ``name``; returns the TOTP secret."""
    return service.registry.enrol(name, role, actor="test", **ids).secret


def code(secret: str, clock: Clock, offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now, counter_offset=offset)


def console(name: str) -> Caller:
    return Caller(platform=Platform.CONSOLE, user_id=name)


async def say(service: OperatorService, caller: Caller, text: str) -> CommandResult:
    return await service.run_text(caller, text)


def audit_text(store: Store) -> str:
    """Everything the audit records say (actor, action, data), without their MACs and
    timestamps, whose digits could contain any six-digit code by chance."""
    return json.dumps([[r.actor, r.action, r.data] for r in store.audit_records()])


def wrong_code(right: str) -> str:
    return "482913" if right != "482913" else "482914"
