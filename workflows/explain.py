"""``quorum explain ORDER_ID``: why an order exists, from the journal alone.

The causation chain runs from the order's newest journaled message (its execution update,
else its intent) back through ``causation_id`` to the root. Around it, the evidence of the
same cycle for the order's symbol: the bars published, the tool figures and the LLM
outputs the agents produced.
"""

from __future__ import annotations

from typing import Any

from core.errors import QuorumError
from core.messages import (
    Assessment,
    BarsPublished,
    Envelope,
    FillPayload,
    Note,
    OrderIntentPayload,
    OrderUpdate,
    Rejection,
    RiskVerdict,
    SignalPayload,
    StateChange,
    ToolFigures,
    TradeIdeaPayload,
)
from core.orders import bracket_parent_ref
from core.ports import Store


class NotFoundError(QuorumError):
    """No order (or message) with that id in the journal."""


def describe(m: Envelope) -> str:
    """One line saying what a message says."""
    p = m.payload
    if isinstance(p, OrderUpdate):
        o = p.order
        what = f"{o.intent.side.value} {o.intent.quantity} {o.symbol}"
        return f"order {o.order_id} {o.status.value}: {what}"
    if isinstance(p, OrderIntentPayload):
        i = p.intent
        return (
            f"intent {i.side.value} {i.quantity} {i.symbol} {i.order_type.value} ref={p.client_ref}"
        )
    if isinstance(p, TradeIdeaPayload):
        idea = p.idea
        cited = f" lessons={','.join(idea.lessons)}" if idea.lessons else ""
        return (
            f"idea {idea.direction.value} {idea.symbol} conviction={idea.conviction:.2f}{cited}:"
            f" {idea.rationale[:120]}"
        )
    if isinstance(p, RiskVerdict):
        return f"risk {p.checked_by}: {p.symbol} " + ("approved" if p.approved else str(p.denial))
    if isinstance(p, Assessment):
        return f"{p.topic} {p.symbol or ''} score={p.score:+.2f}: {p.text[:120]}"
    if isinstance(p, SignalPayload):
        s = p.signal
        return f"signal {s.strategy} {s.symbol} {s.direction.value} strength={s.strength:+.2f}"
    if isinstance(p, ToolFigures):
        figures = ", ".join(f"{k}={v:.4g}" for k, v in list(p.figures.items())[:8])
        return f"tool {p.tool} {p.symbol or ''}: {figures}"
    if isinstance(p, BarsPublished):
        return f"bars {p.bars} for {', '.join(p.symbols[:8])} as of {p.as_of.date()} ({p.source})"
    if isinstance(p, Rejection):
        return f"rejected by {p.source}: {p.denial} {p.detail[:80]}"
    if isinstance(p, StateChange):
        return f"trading {p.state.value}: {p.reason}"
    if isinstance(p, FillPayload):
        f = p.fill
        return f"fill {f.side.value} {f.quantity} {f.symbol} @ {f.price:.4f}"
    if isinstance(p, Note):
        return f"note {p.topic}: {str(p.data)[:120]}"
    return m.kind


def node(m: Envelope) -> dict[str, Any]:
    return {
        "id": m.id,
        "kind": m.kind,
        "sender": m.sender,
        "created_at": m.created_at.isoformat(),
        "causation_id": m.causation_id,
        "says": describe(m),
        "llm": None if m.llm is None else m.llm.model_dump(mode="json"),
        "payload": m.payload.model_dump(mode="json"),
    }


def _symbol_of(m: Envelope) -> str | None:
    p = m.payload
    for attr in ("symbol",):
        if isinstance(getattr(p, attr, None), str):
            return str(getattr(p, attr))
    for inner in ("signal", "idea", "intent", "order", "fill"):
        obj = getattr(p, inner, None)
        if obj is not None and isinstance(getattr(obj, "symbol", None), str):
            return str(obj.symbol)
    return None


def _order_message(store: Store, order_id: str) -> tuple[Envelope, dict[str, Any] | None]:
    order = store.order(order_id)
    updates = [
        (m, m.payload.order)
        for m in store.messages_by_kind("order_update")
        if isinstance(m.payload, OrderUpdate) and m.payload.order.order_id == order_id
    ]
    if updates:
        message, last = updates[-1]
        return message, (order or last).model_dump(mode="json")
    if order is not None:
        # A bracket leg never updated since it was placed has no message of its own:
        # its parent's intent (``<ref>#sl`` / ``<ref>#tp``) is why it exists.
        refs = {order.client_ref, bracket_parent_ref(order.client_ref)}
        intents = [
            m
            for m in store.messages_by_kind("order_intent")
            if isinstance(m.payload, OrderIntentPayload) and m.payload.client_ref in refs
        ]
        if intents:
            return intents[-1], order.model_dump(mode="json")
    found = store.message(order_id)
    if found is not None:
        return found, None
    raise NotFoundError(f"no order or message {order_id!r} in the journal")


def explain(store: Store, order_id: str) -> dict[str, Any]:
    """The causation chain of an order, named by its order id or by its ``client_ref``
    (reports show the client_ref; the broker's order id may differ)."""
    by_ref = store.order_by_client_ref(order_id)
    if by_ref is not None and store.order(order_id) is None:
        order_id = by_ref.order_id
    start, order = _order_message(store, order_id)
    chain = store.causation_chain(start.id)
    symbol = _symbol_of(start)
    in_chain = {m.id for m in chain}
    evidence: dict[str, list[dict[str, Any]]] = {"bars": [], "tool_figures": [], "llm_outputs": []}
    for m in store.messages_by_cycle(start.cycle_id):
        if m.id in in_chain:
            continue
        about = _symbol_of(m)
        if isinstance(m.payload, BarsPublished) and (symbol is None or symbol in m.payload.symbols):
            evidence["bars"].append(node(m))
        elif isinstance(m.payload, ToolFigures) and about in (symbol, None):
            evidence["tool_figures"].append(node(m))
        elif m.llm is not None and about in (symbol, None):
            evidence["llm_outputs"].append(node(m))
    cycle = store.get_document("cycles", start.cycle_id) or {}
    lessons = sorted(
        {
            lid
            for m in chain
            if isinstance(m.payload, TradeIdeaPayload)
            for lid in m.payload.idea.lessons
        }
    )
    return {
        "order_id": order_id,
        "cycle_id": start.cycle_id,
        "symbol": symbol,
        "order": order,
        # the configuration version the cycle ran on, and the lessons its idea cited
        "config_version": cycle.get("config_version"),
        "lessons": lessons,
        "chain": [node(m) for m in chain],
        "evidence": evidence,
    }
