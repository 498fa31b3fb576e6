"""The read commands answer from the store: status with equity and the last day's P&L,
positions with their protective stops, orders, P&L over days, reports (written again
when the file is gone) and explain."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.storage.sqlite import SqliteStore
from core.messages import Envelope, Note, OrderIntentPayload
from core.orders import Order, OrderIntent, OrderSide, OrderStatus, OrderType
from core.portfolio import Portfolio, Position
from tests.unit.workflows.operator_kit import Clock, build, console, enrol, say
from workflows.operator import DenialCode, OperatorService
from workflows.operator_views import ExplainView, PnlView, PositionsView, ReportView, StatusView
from workflows.operators import Role
from workflows.service import CYCLES, EQUITY_KEY

CURVE = [("2024-01-02", 100_500.0), ("2024-01-03", 100_200.0), ("2024-01-04", 101_000.0)]


def _stop(oid: str, symbol: str, side: OrderSide, price: float, status: OrderStatus) -> Order:
    intent = OrderIntent(
        symbol=symbol, side=side, quantity=5, order_type=OrderType.STOP, stop_price=price
    )
    return Order(order_id=oid, client_ref=f"ref-{oid}", intent=intent, status=status)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SqliteStore(tmp_path / "var" / "quorum.db")
    book = Portfolio(
        cash=50_000.0,
        positions={
            "AAPL": Position(symbol="AAPL", quantity=10, avg_price=100.0, last_price=110.0),
            "MSFT": Position(symbol="MSFT", quantity=-5, avg_price=300.0, last_price=290.0),
            "IBM": Position(symbol="IBM", quantity=0, avg_price=0.0, last_price=150.0),
        },
    )
    s.save_snapshot(book, "paper")
    s.save_snapshot(Portfolio.open(1.0), "book")  # the paper account wins over the book
    open_ = OrderStatus.SUBMITTED
    for order in (
        _stop("o1", "AAPL", OrderSide.SELL, 95.0, open_),
        _stop("o2", "AAPL", OrderSide.SELL, 97.0, open_),  # the higher sell stop fires first
        _stop("o3", "AAPL", OrderSide.BUY, 130.0, open_),  # not protective for a long
        _stop("o4", "AAPL", OrderSide.SELL, 99.0, OrderStatus.CANCELLED),  # not open
        _stop("o5", "MSFT", OrderSide.BUY, 320.0, open_),
        _stop("o6", "MSFT", OrderSide.BUY, 310.0, open_),  # the lower buy stop fires first
    ):
        s.save_order(order)
    for day, equity in CURVE:
        s.kv_set(EQUITY_KEY, {"date": day, "equity": equity, "cycle_id": f"cycle-{day}"})
    yield s
    s.close()


@pytest.fixture
def service(tmp_path: Path, store: SqliteStore) -> OperatorService:
    service = build(tmp_path, store, Clock())
    enrol(service, "vic", Role.VIEWER)
    return service


async def test_positions_when_stops_open_then_each_position_shows_its_protective_stop(
    service: OperatorService,
) -> None:
    result = await say(service, console("vic"), "positions")
    view = result.data
    assert isinstance(view, PositionsView) and view.source == "paper"
    rows = {r.symbol: r for r in view.rows}
    assert set(rows) == {"AAPL", "MSFT"}  # the flat IBM is not a position
    assert rows["AAPL"].stop == 97.0 and rows["MSFT"].stop == 310.0
    assert rows["AAPL"].unrealised_pnl == pytest.approx(100.0)
    assert rows["MSFT"].market_value == pytest.approx(-1450.0)
    assert view.equity == pytest.approx(50_000 + 1100 - 1450)
    table = view.table()
    assert table.columns[-1] == "stop" and len(table.rows) == 2


async def test_status_when_curve_and_snapshot_then_equity_and_last_day_pnl(
    service: OperatorService, store: SqliteStore
) -> None:
    store.put_document(
        CYCLES, "cycle-2024-01-03", {"cycle_id": "cycle-2024-01-03", "as_of": "2024-01-03"}
    )
    store.put_document(
        CYCLES,
        "cycle-2024-01-04",
        {
            "cycle_id": "cycle-2024-01-04",
            "as_of": "2024-01-04",
            "summary": {"status": "finished", "fills": 2},
        },
    )
    store.put_document(
        CYCLES, "cycle-2024-01-02", {"cycle_id": "cycle-2024-01-02", "as_of": "2024-01-02"}
    )
    view = (await say(service, console("vic"), "status")).data
    assert isinstance(view, StatusView)
    assert view.effective == "ACTIVE" and view.equity == pytest.approx(49_650.0)
    assert view.day_pnl == pytest.approx(800.0) and view.pnl_date == "2024-01-04"
    assert view.last_cycle is not None and view.last_cycle.cycle_id == "cycle-2024-01-04"
    assert view.last_cycle.status == "finished" and view.last_cycle.fills == 2


async def test_status_when_nothing_ran_then_unknown_equity_and_no_cycle(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "empty.db")
    service = build(tmp_path, store, Clock())
    enrol(service, "vic", Role.VIEWER)
    result = await say(service, console("vic"), "status")
    assert result.ok and result.message == "trading ACTIVE, equity unknown"
    view = result.data
    assert isinstance(view, StatusView) and view.last_cycle is None and view.day_pnl is None
    store.close()


async def test_pnl_when_days_fewer_than_curve_then_window_measured_from_the_day_before(
    service: OperatorService,
) -> None:
    view = (await say(service, console("vic"), "pnl 2")).data
    assert isinstance(view, PnlView)
    assert [r.date for r in view.rows] == ["2024-01-03", "2024-01-04"]
    assert [r.pnl for r in view.rows] == pytest.approx([-300.0, 800.0])
    assert view.total_pnl == pytest.approx(500.0) and view.start_equity == 100_500.0
    full = (await say(service, console("vic"), "pnl")).data
    assert isinstance(full, PnlView) and full.rows[0].pnl == pytest.approx(500.0)  # vs cash


async def test_orders_when_open_then_only_open_and_all_then_newest_n(
    service: OperatorService,
) -> None:
    open_view = (await say(service, console("vic"), "orders")).data
    assert open_view is not None and len(open_view.table().rows) == 5  # type: ignore[union-attr]
    latest = (await say(service, console("vic"), "orders all 2")).data
    assert latest is not None and [r.order_id for r in latest.rows] == ["o5", "o6"]  # type: ignore[union-attr]


async def test_report_when_file_missing_then_written_again_from_the_journal(
    service: OperatorService, store: SqliteStore, tmp_path: Path
) -> None:
    summary = {
        "cycle_id": "cycle-2024-01-04",
        "date": "2024-01-04",
        "status": "finished",
        "ideas": 0,
        "orders": [],
        "rejected": [],
        "fills": 0,
        "equity": 101_000.0,
        "llm": {"calls": 0, "tokens": 0, "cost_usd": 0.0, "fallbacks": 0},
        "report": str(tmp_path / "gone" / "cycle-2024-01-04.html"),
    }
    store.put_document(
        CYCLES,
        "cycle-2024-01-04",
        {"cycle_id": "cycle-2024-01-04", "as_of": "2024-01-04", "summary": summary},
    )
    first = await say(service, console("vic"), "report 2024-01-04")
    view = first.data
    assert isinstance(view, ReportView) and view.regenerated
    assert Path(view.path).exists() and Path(view.path).parent == tmp_path / "var" / "reports"
    assert view.markdown is not None and Path(view.markdown).exists()
    store.put_document(
        CYCLES,
        "cycle-2024-01-04",
        {
            "cycle_id": "cycle-2024-01-04",
            "as_of": "2024-01-04",
            "summary": {**summary, "report": view.path},
        },
    )
    again = (await say(service, console("vic"), "report")).data
    assert isinstance(again, ReportView) and not again.regenerated and again.path == view.path
    missing = await say(service, console("vic"), "report 1999-01-01")
    assert missing.code is DenialCode.NOT_FOUND and "cycle=1999-01-01" in missing.message


async def test_explain_when_client_ref_given_then_chain_from_the_journal(
    service: OperatorService, store: SqliteStore
) -> None:
    root = Envelope(cycle_id="c1", sender="research_manager", payload=Note(topic="idea"))
    intent = OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=3)
    child = Envelope(
        cycle_id="c1",
        sender="portfolio_manager",
        payload=OrderIntentPayload(intent=intent, client_ref="ref-x"),
        causation_id=root.id,
    )
    store.append_message(root)
    store.append_message(child)
    store.save_order(Order(order_id="paper-000009", client_ref="ref-x", intent=intent))
    result = await say(service, console("vic"), "explain ref-x")
    assert result.ok, result.message
    view = result.data
    assert isinstance(view, ExplainView) and view.order_id == "paper-000009"
    assert [row[0] for row in view.table().rows] == ["portfolio_manager", "research_manager"]
