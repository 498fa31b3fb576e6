"""reconciliation: fills, positions and cash against the broker; keeps the agents' book.

After execution (the workflow has already waited, bounded, for fills):

1. every broker execution is saved to the store (idempotent by fill id); fills of this
   cycle's orders that were not journaled yet become ``fill`` messages;
2. each of this cycle's orders whose status moved since its last ``order_update`` gets a
   new ``order_update``;
3. the book (the last ``book`` snapshot) gets every new fill through
   ``core.portfolio.apply_fill``, is marked at the day's closes, and is compared with the
   broker's positions and cash. A difference is reported as a discrepancy and, by
   default (``adopt_broker``), the broker's positions and cash are taken as the truth;
4. the book is saved with the day's equity as the next day's loss reference;
5. every open position at the broker is checked for its protective stop
   (``agents.execution.protection_check``): stops are moved to the stop manager's level
   (modified in place), a missing one is recreated once, excess and orphaned protective
   orders are reduced or cancelled; each finding is a ``protection`` note with its code
   (``PROTECTIVE_STOP_MISSING: symbol=AAPL qty=10 ...``).
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import book_label, current_portfolio, last_closes, payloads, setting
from agents.execution.protection_check import ProtectionPass
from core.messages import Envelope, FillPayload, Note, OrderIntentPayload, OrderUpdate
from core.orders import Order
from core.portfolio import Portfolio, Position, apply_fill

NAME = "reconciliation"
CASH_TOLERANCE = 0.01


def _cycle_orders(
    ctx: AgentContext, inbox: Sequence[Envelope]
) -> dict[str, tuple[Envelope, Order | None]]:
    """client_ref → (the message that caused the order, the latest known order)."""
    known: dict[str, tuple[Envelope, Order | None]] = {}
    for env, p in payloads(inbox, OrderIntentPayload):
        known[p.client_ref] = (env, None)
    for env, u in payloads(inbox, OrderUpdate):
        if u.order.client_ref in known or u.order.client_ref.startswith(f"q-{ctx.cycle_id}-"):
            known[u.order.client_ref] = (env, u.order)
    return known


def _adopt(book: Portfolio, broker_positions: dict[str, Position], cash: float) -> Portfolio:
    positions = {
        s: Position(
            symbol=s,
            quantity=p.quantity,
            avg_price=p.avg_price,
            last_price=p.last_price or p.avg_price,
        )
        for s, p in broker_positions.items()
    }
    return book.model_copy(update={"positions": positions, "cash": cash})


async def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    if ctx.broker is None:
        return [ctx.message(NAME, Note(topic="reconciliation", data={"skipped": "no broker"}))]
    broker = ctx.broker
    fills = sorted(await broker.executions(), key=lambda f: f.ts)
    broker_positions = {p.symbol: p for p in await broker.positions() if p.quantity != 0}
    account = await broker.account()
    open_by_ref = {o.client_ref: o for o in await broker.open_orders()}
    orders = _cycle_orders(ctx, inbox)
    journaled = {p.fill.fill_id for _, p in payloads(inbox, FillPayload)} | {
        m.payload.fill.fill_id
        for m in ctx.store.messages_by_kind("fill", ctx.cycle_id)
        if isinstance(m.payload, FillPayload)
    }
    out: list[Envelope] = []
    new_saved = 0
    for fill in fills:
        new_saved += int(ctx.store.save_fill(fill))
        if fill.client_ref in orders and fill.fill_id not in journaled:
            cause, _ = orders[fill.client_ref]
            out.append(cause.reply(NAME, FillPayload(fill=fill)))
    for ref, (cause, last) in orders.items():
        current = open_by_ref.get(ref) or ctx.store.order_by_client_ref(ref)
        if current is None:
            continue
        if last is None or (current.status, current.filled_quantity) != (
            last.status,
            last.filled_quantity,
        ):
            if ctx.store.order(current.order_id) is None:
                ctx.store.save_order(current)
            out.append(cause.reply(NAME, OrderUpdate(order=current)))
    book = current_portfolio(ctx)
    for fill in fills:
        book = apply_fill(book, fill)
    symbols = sorted(set(book.open_positions) | set(broker_positions))
    closes = last_closes(ctx, inbox, symbols)
    book = book.mark(closes)
    discrepancies: list[str] = []
    for symbol in symbols:
        ours = book.quantity(symbol)
        theirs = broker_positions[symbol].quantity if symbol in broker_positions else 0
        if ours != theirs:
            discrepancies.append(f"{symbol}: book {ours} broker {theirs}")
    if abs(book.cash - account.cash) > CASH_TOLERANCE + 1e-9 * abs(account.cash):
        discrepancies.append(f"cash: book {book.cash:.2f} broker {account.cash:.2f}")
    adopted = bool(discrepancies) and bool(setting(ctx, NAME, "adopt_broker", True))
    if adopted:
        book = _adopt(book, broker_positions, account.cash).mark(closes)
    book = book.start_day()
    ctx.store.save_snapshot(book, book_label(ctx))
    protection: dict[str, object] = {}
    if bool(setting(ctx, NAME, "protect_positions", True)):
        check = ProtectionPass(ctx, broker, NAME)
        protection = {"positions": await check.run(inbox, closes)}
        protection |= {"findings": check.findings, "moved": check.moved}
        out += check.out
    report = {
        "fills_seen": len(fills),
        "fills_new_in_store": new_saved,
        "open_orders": len(open_by_ref),
        "positions_book": {s: p.quantity for s, p in book.open_positions.items()},
        "positions_broker": {s: p.quantity for s, p in broker_positions.items()},
        "cash_book": round(book.cash, 2),
        "cash_broker": round(account.cash, 2),
        "equity": round(book.equity, 2),
        "discrepancies": discrepancies,
        "adopted_broker_state": adopted,
        "protection": protection,
    }
    out.append(ctx.message(NAME, Note(topic="reconciliation", data=report)))
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.EXECUTION,
    consumes=("order_intent", "order_update", "fill", "tool_figures"),
    produces=("fill", "order_update", "note"),
    reasoning=Reasoning.DETERMINISTIC,
    run=run,
    is_async=True,
    description="fills, positions and cash against the broker",
)
