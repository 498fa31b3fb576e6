"""The read-only operator commands, answered from the store alone (no broker call): the
trading status, positions from the latest portfolio snapshot, orders, the equity curve,
cycle documents and reports, and the journal for ``explain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from core.orders import OrderSide, OrderType
from core.portfolio import Portfolio
from core.ports import Store, TradingStatus
from workflows.explain import NotFoundError, explain
from workflows.operator_views import (
    CycleBrief,
    ExplainView,
    OrderRow,
    OrdersView,
    PnlRow,
    PnlView,
    PositionRow,
    PositionsView,
    ReportView,
    StatusView,
    TradingView,
)

# workflows.service (CYCLES, equity_curve) is imported inside the functions: it pulls in
# LangGraph, and `quorum trading status` should not wait for that.
MAX_PNL_DAYS = 3660
DEFAULT_ORDERS = 20


def trading_view(status: TradingStatus, action: str) -> TradingView:
    return TradingView(
        action=action,
        effective=status.effective.value,
        state=status.state.value,
        kill_switch=status.kill_switch,
        reason=status.reason,
        actor=status.actor,
        changed_at=status.changed_at,
        version=status.version,
    )


def latest_portfolio(store: Store, labels: Sequence[str]) -> tuple[str, Portfolio] | None:
    """The newest snapshot under the first label that has one (the paper broker's own
    account first, then the agents' book, which reconciliation keeps for any broker)."""
    for label in labels:
        snapshot = store.latest_snapshot(label)
        if snapshot is not None:
            return label, snapshot
    return None


def cycle_brief(doc: dict[str, Any]) -> CycleBrief:
    summary = doc.get("summary") or {}
    return CycleBrief(
        cycle_id=str(doc.get("cycle_id") or summary.get("cycle_id", "")),
        date=str(doc.get("as_of") or summary.get("date", "")),
        status=str(summary.get("status", "incomplete")) if summary else "incomplete",
        orders=len(summary.get("orders") or []),
        fills=int(summary.get("fills") or 0),
        equity=summary.get("equity"),
        report=summary.get("report") or None,
    )


def last_cycle_doc(store: Store) -> dict[str, Any] | None:
    """The cycle of the latest date (the latest updated among equals)."""
    from workflows.service import CYCLES

    docs = store.documents(CYCLES)
    if not docs:
        return None
    ranked = sorted(enumerate(docs), key=lambda p: (str(p[1].get("as_of", "")), p[0]))
    return ranked[-1][1]


def status_view(
    status: TradingStatus,
    store: Store,
    *,
    mode: str,
    labels: Sequence[str],
    starting_cash: float,
) -> StatusView:
    from workflows.service import equity_curve

    found = latest_portfolio(store, labels)
    curve = equity_curve(store)
    equity: float | None = None
    source: str | None = None
    if found is not None:
        source, equity = found[0], round(found[1].equity, 2)
    elif curve:
        source, equity = "equity curve", round(curve[-1][1], 2)
    day_pnl: float | None = None
    pnl_date: str | None = None
    if curve:
        previous = curve[-2][1] if len(curve) > 1 else starting_cash
        day_pnl, pnl_date = round(curve[-1][1] - previous, 2), curve[-1][0].isoformat()
    doc = last_cycle_doc(store)
    return StatusView(
        effective=status.effective.value,
        state=status.state.value,
        kill_switch=status.kill_switch,
        reason=status.reason,
        actor=status.actor,
        changed_at=status.changed_at,
        version=status.version,
        mode=mode,
        equity=equity,
        equity_source=source,
        day_pnl=day_pnl,
        pnl_date=pnl_date,
        last_cycle=cycle_brief(doc) if doc else None,
    )


def protective_stops(store: Store) -> dict[str, list[tuple[OrderSide, float]]]:
    stops: dict[str, list[tuple[OrderSide, float]]] = {}
    for order in store.orders(open_only=True):
        intent = order.intent
        if intent.order_type is OrderType.STOP and intent.stop_price is not None:
            stops.setdefault(order.symbol, []).append((intent.side, intent.stop_price))
    return stops


def positions_view(store: Store, labels: Sequence[str]) -> PositionsView:
    found = latest_portfolio(store, labels)
    if found is None:
        return PositionsView(source="none")
    label, portfolio = found
    stops = protective_stops(store)
    rows = []
    for symbol, pos in sorted(portfolio.open_positions.items()):
        # A long is protected by a SELL stop below it (the highest is the one that fires
        # first), a short by a BUY stop above it (the lowest).
        exit_side = OrderSide.SELL if pos.quantity > 0 else OrderSide.BUY
        prices = [p for side, p in stops.get(symbol, []) if side is exit_side]
        stop = (max(prices) if pos.quantity > 0 else min(prices)) if prices else None
        rows.append(
            PositionRow(
                symbol=symbol,
                quantity=pos.quantity,
                avg_price=pos.avg_price,
                last=pos.last_price,
                market_value=pos.market_value,
                unrealised_pnl=pos.unrealized_pnl,
                stop=stop,
            )
        )
    return PositionsView(
        source=label,
        as_of=portfolio.as_of,
        cash=round(portfolio.cash, 2),
        equity=round(portfolio.equity, 2),
        rows=rows,
    )


def orders_view(store: Store, scope: str, limit: int) -> OrdersView:
    orders = store.orders(open_only=scope == "open")
    if scope == "all":
        orders = sorted(orders, key=lambda o: o.updated_at)[-limit:]
    rows = [
        OrderRow(
            order_id=o.order_id,
            client_ref=o.client_ref,
            symbol=o.symbol,
            side=o.intent.side.value,
            quantity=o.intent.quantity,
            filled=o.filled_quantity,
            type=o.intent.order_type.value,
            status=o.status.value,
            limit_price=o.intent.limit_price,
            stop_price=o.intent.stop_price,
            updated_at=o.updated_at,
        )
        for o in orders
    ]
    return OrdersView(scope="open" if scope == "open" else "all", rows=rows)


def pnl_view(store: Store, days: int, starting_cash: float) -> PnlView:
    from workflows.service import equity_curve

    curve = equity_curve(store)
    window = curve[-days:]
    before = curve[: len(curve) - len(window)]
    previous = before[-1][1] if before else starting_cash
    start = previous
    rows = []
    for day, equity in window:
        pnl = equity - previous
        rows.append(
            PnlRow(
                date=day.isoformat(),
                equity=equity,
                pnl=pnl,
                pnl_pct=pnl / previous if previous else 0.0,
            )
        )
        previous = equity
    total = (window[-1][1] - start) if window else 0.0
    return PnlView(days=days, start_equity=start if window else None, total_pnl=total, rows=rows)


def find_cycle(store: Store, ref: str | None) -> dict[str, Any]:
    """A cycle document by id or by date (``2013-02-27`` = ``cycle-2013-02-27``); the
    last cycle when ``ref`` is None. Raises ``NotFoundError``."""
    from workflows.service import CYCLES

    if ref is None:
        doc = last_cycle_doc(store)
        if doc is None:
            raise NotFoundError("no cycle has run yet")
        return doc
    for key in (ref, f"cycle-{ref}"):
        doc = store.get_document(CYCLES, key)
        if doc is not None:
            return doc
    raise NotFoundError(f"cycle={ref} not found")


def report_view(store: Store, ref: str | None, reports_dir: Path) -> ReportView:
    """The report of a cycle; written again from the journal if its file is gone."""
    doc = find_cycle(store, ref)
    summary = dict(doc.get("summary") or {})
    brief = cycle_brief(doc)
    if not summary:
        raise NotFoundError(f"cycle={brief.cycle_id} has no report: it did not finish")
    path = Path(str(summary.get("report") or ""))
    regenerated = False
    if not summary.get("report") or not path.exists():
        from workflows.report import write_cycle_report
        from workflows.service import equity_curve

        messages = store.messages_by_cycle(brief.cycle_id)
        path = write_cycle_report(reports_dir, summary, messages, equity_curve(store))
        regenerated = True
    markdown = path.with_suffix(".md")
    return ReportView(
        cycle=brief.model_copy(update={"report": str(path)}),
        path=str(path),
        markdown=str(markdown) if markdown.exists() else None,
        regenerated=regenerated,
        summary=summary,
    )


def explain_view(store: Store, ref: str) -> ExplainView:
    result = explain(store, ref)
    return ExplainView(
        order_id=str(result["order_id"]),
        cycle_id=str(result["cycle_id"]),
        symbol=result.get("symbol"),
        explanation=result,
    )


def parse_date(text: str) -> date:
    return date.fromisoformat(text)
