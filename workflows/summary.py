"""What a cycle did, as one plain dict: the ``quorum cycle run --json`` document.

Built from the final graph state (the messages of the path that ran) and the store (the
orders the broker recorded under this cycle's client refs), so a resumed cycle reports
each order once even if a node ran twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.messages import (
    Envelope,
    FillPayload,
    OrderIntentPayload,
    OrderUpdate,
    Rejection,
    RiskVerdict,
    TradeIdeaPayload,
)
from core.orders import Order, OrderStatus
from core.ports import Store
from core.risk import DenialCode

EMPTY_LLM = {"calls": 0, "tokens": 0, "cost_usd": 0.0, "fallbacks": 0}


def cycle_orders(messages: Sequence[Envelope], store: Store) -> list[Order]:
    """This cycle's orders, one per client ref, in the order their intents were made."""
    latest: dict[str, Order] = {}
    for m in messages:
        if isinstance(m.payload, OrderUpdate):
            latest[m.payload.order.client_ref] = m.payload.order
    orders: list[Order] = []
    seen: set[str] = set()
    for m in messages:
        if not isinstance(m.payload, OrderIntentPayload) or m.payload.client_ref in seen:
            continue
        ref = m.payload.client_ref
        seen.add(ref)
        order = store.order_by_client_ref(ref) or latest.get(ref)
        if order is not None:
            orders.append(order)
    return orders


def rejections(messages: Sequence[Envelope], orders: Sequence[Order]) -> list[dict[str, str]]:
    """Every refusal: LLM outputs and agent vetoes, risk denials, broker rejections."""
    out: list[dict[str, str]] = []
    for m in messages:
        if isinstance(m.payload, Rejection):
            reason = str(m.payload.denial)
            if m.payload.detail:
                reason += f" ({m.payload.detail})"
            out.append({"source": m.payload.source, "reason": reason})
        elif isinstance(m.payload, RiskVerdict) and not m.payload.approved:
            denial = m.payload.denial
            out.append(
                {
                    "source": m.payload.checked_by,
                    "reason": str(denial) if denial else f"denied: symbol={m.payload.symbol}",
                }
            )
    for order in orders:
        if order.status is OrderStatus.REJECTED:
            out.append({"source": "broker", "reason": f"{order.symbol}: {order.reason or ''}"})
    return out


def order_row(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "client_ref": order.client_ref,
        "symbol": order.symbol,
        "side": order.intent.side.value,
        "qty": order.intent.quantity,
        "type": order.intent.order_type.value,
        "status": order.status.value,
    }


def llm_usage(messages: Sequence[Envelope], ledger: dict[str, Any] | None) -> dict[str, Any]:
    """Calls, tokens, cost and fallbacks: from the reasoner's ledger when there is one,
    else from the usage carried on journaled LLM messages."""
    if ledger:
        return {k: ledger.get(k, EMPTY_LLM[k]) for k in EMPTY_LLM}
    used = [m.llm for m in messages if m.llm is not None]
    llm_rejections = sum(
        1
        for m in messages
        if isinstance(m.payload, Rejection)
        and m.payload.denial.code is DenialCode.LLM_OUTPUT_REJECTED
    )
    return {
        "calls": len(used),
        "tokens": sum(u.input_tokens + u.output_tokens for u in used),
        "cost_usd": round(sum(u.cost_usd for u in used), 6),
        "fallbacks": llm_rejections,
    }


def build_summary(
    state: dict[str, Any],
    store: Store,
    *,
    equity: float | None,
    ledger: dict[str, Any] | None = None,
    opening_fills: int = 0,
) -> dict[str, Any]:
    """``opening_fills``: fills of earlier orders at this session's open, fed before the
    graph ran (the paper broker's next-open fills)."""
    messages: list[Envelope] = list(state.get("messages", []))
    orders = cycle_orders(messages, store)
    fills = sum(len(store.fills(order_id=o.order_id)) for o in orders)
    fills = max(fills, sum(1 for m in messages if isinstance(m.payload, FillPayload)))
    fills += opening_fills
    return {
        "cycle_id": state.get("cycle_id", ""),
        "date": state.get("as_of", ""),
        "status": state.get("status", "unknown"),
        "ideas": sum(1 for m in messages if isinstance(m.payload, TradeIdeaPayload)),
        "orders": [order_row(o) for o in orders],
        "rejected": rejections(messages, orders),
        "fills": fills,
        "equity": None if equity is None else round(equity, 2),
        "llm": llm_usage(messages, ledger),
        "report": state.get("report_path", ""),
    }


def intents_of(messages: Sequence[Envelope]) -> list[dict[str, Any]]:
    """A cycle's order intents without their cycle-specific client refs, one per ref, in
    the order they were made: what ``cycle replay`` compares."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m.payload, OrderIntentPayload) and m.payload.client_ref not in seen:
            seen.add(m.payload.client_ref)
            out.append(m.payload.intent.model_dump(mode="json"))
    return out


def describe_intent(intent: dict[str, Any]) -> str:
    """``BUY 12 AAPL MKT`` plus any price it carries."""
    text = (
        f"{intent['side'].upper()} {intent['quantity']} {intent['symbol']} {intent['order_type']}"
    )
    prices = [
        f"{name} {intent[name]}"
        for name in ("limit_price", "stop_price", "stop_loss", "take_profit")
        if intent.get(name) is not None
    ]
    return f"{text} ({', '.join(prices)})" if prices else text


def intent_differences(
    original: Sequence[dict[str, Any]], replayed: Sequence[dict[str, Any]]
) -> list[str]:
    """What ``cycle replay`` found changed, one line each: an intent only one side made,
    or the fields that differ between the n-th intents for the same symbol and side."""

    def keyed(intents: Sequence[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
        seen: dict[tuple[str, str], int] = {}
        out: dict[tuple[str, str, int], dict[str, Any]] = {}
        for intent in intents:
            pair = (str(intent["symbol"]), str(intent["side"]))
            seen[pair] = seen.get(pair, 0) + 1
            out[(*pair, seen[pair])] = intent
        return out

    before, after = keyed(original), keyed(replayed)
    lines: list[str] = []
    for key in [*before, *(k for k in after if k not in before)]:
        a, b = before.get(key), after.get(key)
        if b is None and a is not None:
            lines.append(f"only in the original: {describe_intent(a)}")
        elif a is None and b is not None:
            lines.append(f"only in the replay: {describe_intent(b)}")
        elif a is not None and b is not None and a != b:
            changed = [
                f"{name} {a.get(name)} -> {b.get(name)}"
                for name in sorted(set(a) | set(b))
                if a.get(name) != b.get(name)
            ]
            lines.append(f"{key[0]} {key[1].upper()}: {', '.join(changed)}")
    if not lines and list(original) != list(replayed):
        lines.append("the same intents, made in a different order")
    return lines
