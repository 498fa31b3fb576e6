"""The reads only the API offers (the operator service has no command for them): fills,
the list of cycles, the journal page by page, the equity and drawdown series, and a
cycle's messages desk by desk. Plain functions on the data store.

``workflows.service`` (CYCLES, equity_curve) and ``agents.registry`` are imported inside
the functions: they pull in LangGraph and every agent, which the app loads once in the
background at startup rather than on import (``adapters.api.app.WARM_IMPORTS``).
"""

from __future__ import annotations

import re
from functools import cache

from adapters.api.schemas import (
    CyclesView,
    DeskGroup,
    DesksView,
    EquityHistory,
    EquityPoint,
    FillsView,
    JournalMessage,
    JournalPage,
)
from core.messages import Envelope
from core.ports import Store
from workflows.explain import NotFoundError, describe
from workflows.operator_reads import cycle_brief, find_cycle, last_cycle_doc

WORKFLOW_DESK = "workflow"  # messages the workflow itself journals (notes, risk gate)
DESK_MESSAGES = 25  # the newest messages shown per desk
TAIL_WINDOW = 256  # the first journal window searched for a ?before= cursor
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BadCursorError(NotFoundError):
    """``?before=`` names no message of this journal selection."""


@cache
def _desks() -> dict[str, str]:
    from agents.registry import REGISTRY

    return {name: spec.desk.value for name, spec in REGISTRY.items()}


def desk_order() -> list[str]:
    from agents.base import Desk

    return [d.value for d in Desk] + [WORKFLOW_DESK]


def desk_of(sender: str) -> str:
    return _desks().get(sender, WORKFLOW_DESK)


def message_row(m: Envelope) -> JournalMessage:
    return JournalMessage(
        id=m.id,
        cycle_id=m.cycle_id,
        sender=m.sender,
        desk=desk_of(m.sender),
        recipient=m.recipient,
        kind=m.kind,
        says=describe(m),
        causation_id=m.causation_id,
        created_at=m.created_at,
    )


def fills_view(store: Store, limit: int, symbol: str | None = None) -> FillsView:
    """The newest ``limit`` fills (of ``symbol``), oldest first."""
    fills = sorted(store.fills(), key=lambda f: (f.ts, f.fill_id))
    if symbol:
        fills = [f for f in fills if f.symbol == symbol.upper()]
    return FillsView(rows=fills[-limit:])


def cycles_view(store: Store) -> CyclesView:
    """Every cycle, oldest first (by date, then as recorded)."""
    from workflows.service import CYCLES

    docs = sorted(enumerate(store.documents(CYCLES)), key=lambda p: (str(p[1].get("as_of")), p[0]))
    return CyclesView(rows=[cycle_brief(doc) for _, doc in docs])


def resolve_cycle(store: Store, ref: str) -> str:
    """A cycle reference as the operator service finds it: a date (``2013-02-27``) that
    is no cycle id names the latest cycle recorded for that day, whatever its id
    (a simulation's are ``sim-<name>-<date>``); anything else is kept as it is."""
    from workflows.service import CYCLES

    if not DATE.match(ref) or store.get_document(CYCLES, f"cycle-{ref}") is not None:
        return ref
    same_day = [d for d in store.documents(CYCLES) if str(d.get("as_of")) == ref]
    return str(same_day[-1].get("cycle_id") or ref) if same_day else ref


def journal_page(
    store: Store,
    *,
    limit: int,
    cycle: str | None = None,
    kind: str | None = None,
    before: str | None = None,
) -> JournalPage:
    """Up to ``limit`` messages (oldest first) of one cycle and/or kind, or of the whole
    journal, ending just before the message ``before`` (the newest when None)."""
    if cycle or kind:
        if cycle and kind:
            selected = store.messages_by_kind(kind, cycle)
        elif cycle:
            selected = store.messages_by_cycle(cycle)
        else:
            selected = store.messages_by_kind(str(kind))
        end = _index(selected, before) if before else len(selected)
        start = max(0, end - limit)
        more = start > 0
        page = selected[start:end]
    else:
        page, more = _journal_before(store, limit, before)
    return JournalPage(
        cycle=cycle,
        kind=kind,
        limit=limit,
        messages=[message_row(m) for m in page],
        next_before=page[0].id if page and more else None,
    )


def _index(messages: list[Envelope], before: str) -> int:
    for i, m in enumerate(messages):
        if m.id == before:
            return i
    raise BadCursorError(f"before={before} is not a message of this journal selection")


def _journal_before(store: Store, limit: int, before: str | None) -> tuple[list[Envelope], bool]:
    """A page of the whole journal. The store gives the newest ``n`` messages: the window
    grows until it holds the cursor (or the whole journal, which then lacks it)."""
    if before is None:
        window = store.tail(limit + 1)
        return window[-limit:], len(window) > limit
    n = max(TAIL_WINDOW, 2 * limit)
    while True:
        window = store.tail(n)
        whole = len(window) < n
        try:
            end = _index(window, before)
        except BadCursorError:
            if whole:
                raise
            n *= 4
            continue
        start = max(0, end - limit)
        if start == 0 and not whole and end < limit:
            n *= 4  # the page runs past the window: widen it
            continue
        return window[start:end], start > 0 or not whole


def equity_history(store: Store, starting_cash: float) -> EquityHistory:
    """One point per day: closing equity, the running peak (from the starting cash) and
    the drawdown from it."""
    from workflows.service import equity_curve

    peak = starting_cash
    points: list[EquityPoint] = []
    for day, equity in equity_curve(store):
        peak = max(peak, equity)
        points.append(EquityPoint(date=day, equity=equity, peak=peak, drawdown=equity / peak - 1))
    worst = min((p.drawdown for p in points), default=0.0)
    return EquityHistory(starting_cash=starting_cash, points=points, max_drawdown=worst)


def desks_view(store: Store, ref: str | None = None) -> DesksView:
    """A cycle's messages grouped by the sender's desk (default: the latest cycle)."""
    if ref is None and last_cycle_doc(store) is None:
        return DesksView(cycle=None, desks=[])
    doc = find_cycle(store, resolve_cycle(store, ref) if ref else None)
    brief = cycle_brief(doc)
    groups: dict[str, list[JournalMessage]] = {}
    for m in store.messages_by_cycle(brief.cycle_id):
        row = message_row(m)
        groups.setdefault(row.desk, []).append(row)
    desks = []
    for desk in desk_order():
        rows = groups.get(desk, [])
        if not rows:
            continue
        agents = list(dict.fromkeys(r.sender for r in rows))
        desks.append(
            DeskGroup(desk=desk, agents=agents, count=len(rows), messages=rows[-DESK_MESSAGES:])
        )
    return DesksView(cycle=brief, desks=desks)
