"""The watch after an approval: during the next ``watch_cycles`` cycles that run on the
new configuration version, a guard breach (the drawdown guard's MAX_DRAWDOWN_BREACHED or
DAILY_LOSS_LIMIT, as a state change or a denial in the cycle's journal) that the
previous version did not show in its own last ``watch_cycles`` cycles raises a rollback
proposal automatically (author ``proposal_review.watch``): the changed keys back to their
old values, through the same review (validate, evidence, a human decides).

The watch state is kv ``proposals.watch``: the watched version, the previous one, the
cycles left and the cycles already looked at (a cycle is looked at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.messages import Envelope, Rejection, RiskVerdict, StateChange
from core.proposals import Proposal, ProposalRefusedError
from core.risk import DenialCode
from workflows.proposal_records import WATCH_KEY

if TYPE_CHECKING:
    from workflows.proposal_service import ProposalService

WATCH_AUTHOR = "proposal_review.watch"
CYCLES = "cycles"  # workflows.service.CYCLES (not imported: no cycle machinery here)
GUARD_CODES = frozenset({DenialCode.MAX_DRAWDOWN_BREACHED, DenialCode.DAILY_LOSS_LIMIT})


def guard_breaches(messages: Sequence[Envelope]) -> set[str]:
    """Guard codes a cycle's journal shows: state changes the drawdown guard made, and
    denials or rejections with a guard code."""
    found: set[str] = set()
    for m in messages:
        p = m.payload
        if isinstance(p, StateChange):
            found |= {c.value for c in GUARD_CODES if p.reason.startswith(c.value)}
        elif isinstance(p, RiskVerdict | Rejection) and p.denial and p.denial.code in GUARD_CODES:
            found.add(p.denial.code.value)
    return found


def _cycles_on(service: ProposalService, version: int) -> list[dict[str, Any]]:
    docs = [d for d in service.deps.store.documents(CYCLES) if d.get("config_version") == version]
    return sorted(docs, key=lambda d: (str(d.get("as_of")), str(d.get("cycle_id"))))


async def watch_cycle(service: ProposalService, cycle_id: str) -> Proposal | None:
    """Look at one finished cycle; the rollback proposal it raised, if any."""
    store = service.deps.store
    watch = store.kv_get(WATCH_KEY)
    doc = store.get_document(CYCLES, cycle_id)
    if not isinstance(watch, dict) or watch.get("done") or doc is None:
        return None
    if doc.get("config_version") != watch["version"] or cycle_id in watch["watched"]:
        return None
    n = service.deps.watch_cycles
    new = guard_breaches(store.messages_by_cycle(cycle_id))
    old: set[str] = set()
    for before in _cycles_on(service, watch["previous"])[-n:]:
        old |= guard_breaches(store.messages_by_cycle(str(before["cycle_id"])))
    fresh = sorted(new - old)
    remaining = int(watch["remaining"]) - 1
    watch = {**watch, "watched": [*watch["watched"], cycle_id], "remaining": remaining,
             "done": remaining <= 0 or bool(fresh)}  # fmt: skip
    store.kv_set(WATCH_KEY, watch, actor=WATCH_AUTHOR)
    if not fresh:
        return None
    version = service.deps.config.version(int(watch["version"]))
    changes = {key: pair[0] for key, pair in version.diff.items()}
    reason = (
        f"watch: version {version.version} breached {','.join(fresh)} in {cycle_id};"
        f" version {watch['previous']} did not in its last {n} cycles"
    )
    try:
        return await service.submit(changes, reason, WATCH_AUTHOR, origin=f"watch:{cycle_id}")
    except ProposalRefusedError:  # e.g. the old values are already back (a rollback)
        return None
