"""What a finished cycle tells the operators (``core.notifications``), built from the
cycle's summary, its messages and the store; ``CycleService.run`` hands them to its
notifier. Pure: no platform, no I/O beyond reading the store.

- ``CycleFinished``: the summary (equity, orders, fills, refusals, report path);
- ``OrderFilled``: every fill the store gained during the run, the session-open fills of
  earlier orders included (the paper broker fills at the next open);
- ``OrderRejected``: this cycle's orders the broker rejected;
- ``GuardTripped``: each trading-state change journaled on the cycle's path (the drawdown
  guard, the daily-loss limit, the risk manager's halt, a kill switch seen mid-cycle).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from core.messages import Envelope, StateChange
from core.notifications import (
    CycleFinished,
    GuardTripped,
    Notification,
    Notifier,
    NullNotifier,
    OrderFilled,
    OrderRejected,
)
from core.ports import Store
from core.risk import DenialCode

log = logging.getLogger("quorum.cycle.notices")

BROKER_REJECTED = "BROKER_REJECTED"
_GUARDS = {
    DenialCode.MAX_DRAWDOWN_BREACHED.value: "drawdown_guard",
    DenialCode.DAILY_LOSS_LIMIT.value: "daily_loss",
}
WORKFLOW_SENDER = "daily_cycle"  # the graph itself: a kill switch seen mid-cycle


def fill_ids(store: Store, notifier: Notifier) -> set[str]:
    """The fills already in the store (nothing to compare when nobody listens)."""
    if isinstance(notifier, NullNotifier):
        return set()
    return {f.fill_id for f in store.fills()}


def notify_cycle(
    notifier: Notifier,
    summary: dict[str, Any],
    messages: Sequence[Envelope],
    store: Store,
    fills_before: set[str],
) -> None:
    """Hand every notice to ``notifier``; a fault here is logged, never raised into the
    cycle (the notifier itself never raises and never blocks)."""
    if isinstance(notifier, NullNotifier):
        return
    try:
        for notice in cycle_notices(summary, messages, store, fills_before):
            notifier.notify(notice)
    except Exception as exc:
        log.warning("cycle notifications not built: %s: %s", type(exc).__name__, exc)


def _code(reason: str) -> str:
    head = reason.split(":", 1)[0].strip()
    return head if head.isupper() and " " not in head else "TRADING_HALTED"


def guard_notices(messages: Iterable[Envelope]) -> list[GuardTripped]:
    out: list[GuardTripped] = []
    seen: set[tuple[str, str]] = set()
    for m in messages:
        if not isinstance(m.payload, StateChange):
            continue
        code = _code(m.payload.reason)
        guard = _GUARDS.get(code) or ("kill_switch" if m.sender == WORKFLOW_SENDER else m.sender)
        if (guard, code) in seen:
            continue
        seen.add((guard, code))
        detail = f"{m.payload.state.value}: {m.payload.reason}"
        out.append(GuardTripped(guard=guard, code=code, detail=detail, actor=m.sender))
    return out


def cycle_notices(
    summary: dict[str, Any],
    messages: Sequence[Envelope],
    store: Store,
    fills_before: set[str],
) -> list[Notification]:
    """Everything to tell about one run of a cycle, in the order it happened."""
    notices: list[Notification] = []
    for fill in store.fills():
        if fill.fill_id not in fills_before:
            notices.append(
                OrderFilled(
                    order_id=fill.order_id,
                    client_ref=fill.client_ref,
                    symbol=fill.symbol,
                    side=fill.side.value,
                    quantity=fill.quantity,
                    price=fill.price,
                )
            )
    notices.extend(guard_notices(messages))
    for row in summary.get("orders", []):
        if row.get("status") != "rejected":
            continue
        order = store.order_by_client_ref(row["client_ref"])
        reason = (order.reason if order else None) or "rejected by the broker"
        notices.append(
            OrderRejected(
                client_ref=row["client_ref"],
                symbol=row["symbol"],
                code=BROKER_REJECTED,
                reason=reason,
                order_id=row.get("order_id"),
            )
        )
    notices.append(
        CycleFinished(
            cycle_id=str(summary.get("cycle_id", "")),
            as_of=str(summary.get("date", "")),
            equity=summary.get("equity"),
            orders=len(summary.get("orders", [])),
            fills=int(summary.get("fills", 0)),
            rejections=len(summary.get("rejected", [])),
            report=summary.get("report") or None,
        )
    )
    return notices
