"""What a finished cycle tells the operators: fills since the run began (the session-open
fills included), broker rejections, trading-state changes, and the cycle itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.brokers.paper.broker import PaperBroker
from adapters.storage.sqlite import SqliteStore
from core.messages import Envelope, StateChange
from core.notifications import (
    CycleFinished,
    GuardTripped,
    Notification,
    NullNotifier,
    OrderFilled,
    OrderRejected,
)
from core.orders import Order, OrderIntent, OrderSide, OrderStatus
from core.risk import TradingState
from tests.unit.workflows.scripted import MemoryMarket
from workflows.cycle_notices import cycle_notices, fill_ids, guard_notices, notify_cycle
from workflows.service import feed_bars


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Notification] = []

    def notify(self, notification: Notification) -> None:
        self.seen.append(notification)


def change(sender: str, state: TradingState, reason: str) -> Envelope:
    return Envelope(cycle_id="c1", sender=sender, payload=StateChange(state=state, reason=reason))


SUMMARY = {
    "cycle_id": "cycle-2024-01-17",
    "date": "2024-01-17",
    "orders": [],
    "rejected": [{"source": "risk_manager", "reason": "POSITION_CAP_EXCEEDED: symbol=AAPL"}],
    "fills": 1,
    "equity": 100_512.5,
    "report": "/var/reports/cycle-2024-01-17.html",
}


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = SqliteStore(tmp_path / "q.db")
    yield db
    db.close()


async def test_cycle_notices_when_an_order_filled_at_the_open_then_order_filled_and_finished(
    store: SqliteStore,
) -> None:
    broker = PaperBroker(store)
    await broker.connect()
    market = MemoryMarket(["AAPL"], "2024-01-02", 30)
    days = market.dates()
    await feed_bars(broker, market, store, ["AAPL"], days[10])
    await broker.place(OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=5), "q-r1")
    before = fill_ids(store, Recorder())
    await feed_bars(broker, market, store, ["AAPL"], days[11])
    notices = cycle_notices(SUMMARY, [], store, before)
    filled, finished = notices
    assert isinstance(filled, OrderFilled)
    assert (filled.symbol, filled.side, filled.quantity, filled.client_ref) == (
        "AAPL",
        "BUY",
        5,
        "q-r1",
    )
    assert filled.price == store.fills()[0].price
    assert isinstance(finished, CycleFinished)
    assert (finished.cycle_id, finished.as_of, finished.fills, finished.rejections) == (
        "cycle-2024-01-17",
        "2024-01-17",
        1,
        1,
    )
    assert finished.report == "/var/reports/cycle-2024-01-17.html"
    assert cycle_notices(SUMMARY, [], store, fill_ids(store, Recorder()))[:-1] == []


def test_cycle_notices_when_broker_rejected_an_order_then_order_rejected_with_its_reason(
    store: SqliteStore,
) -> None:
    intent = OrderIntent(symbol="MSFT", side=OrderSide.SELL, quantity=3)
    store.save_order(
        Order(
            order_id="o-9",
            client_ref="q-r9",
            intent=intent,
            status=OrderStatus.REJECTED,
            reason="201: no shortable shares",
        )
    )
    summary = {
        **SUMMARY,
        "orders": [
            {"order_id": "o-9", "client_ref": "q-r9", "symbol": "MSFT", "status": "rejected"},
            {"order_id": "o-8", "client_ref": "q-r8", "symbol": "IBM", "status": "submitted"},
        ],
    }
    rejected = [n for n in cycle_notices(summary, [], store, set()) if isinstance(n, OrderRejected)]
    assert len(rejected) == 1
    assert (rejected[0].code, rejected[0].reason, rejected[0].order_id) == (
        "BROKER_REJECTED",
        "201: no shortable shares",
        "o-9",
    )


def test_guard_notices_when_state_changes_journaled_then_one_per_guard_and_code() -> None:
    messages = [
        change(
            "drawdown_guard", TradingState.HALTED, "MAX_DRAWDOWN_BREACHED: drawdown=0.06 limit=0.05"
        ),
        change(
            "risk_manager", TradingState.HALTED, "MAX_DRAWDOWN_BREACHED: drawdown=0.06 limit=0.05"
        ),
        change(
            "drawdown_guard", TradingState.REDUCING, "DAILY_LOSS_LIMIT: daily_loss=0.03 limit=0.02"
        ),
        change("daily_cycle", TradingState.HALTED, "kill switch or halt engaged during the cycle"),
    ]
    notices = guard_notices(messages)
    assert [(n.guard, n.code, n.actor) for n in notices] == [
        ("drawdown_guard", "MAX_DRAWDOWN_BREACHED", "drawdown_guard"),
        ("daily_loss", "DAILY_LOSS_LIMIT", "drawdown_guard"),
        ("kill_switch", "TRADING_HALTED", "daily_cycle"),
    ]
    assert notices[0].detail.startswith("HALTED: MAX_DRAWDOWN_BREACHED")
    assert all(isinstance(n, GuardTripped) for n in notices)


def test_notify_cycle_when_null_notifier_then_store_not_even_read(store: SqliteStore) -> None:
    assert fill_ids(store, NullNotifier()) == set()
    notify_cycle(NullNotifier(), {"broken": True}, [], store, set())  # nothing to build


def test_notify_cycle_when_notices_cannot_be_built_then_logged_never_raised(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    notify_cycle(recorder, {**SUMMARY, "orders": [{"status": "rejected"}]}, [], store, set())
    assert recorder.seen == []
    assert "cycle notifications not built" in caplog.text


def test_notify_cycle_when_listening_then_every_notice_handed_over(store: SqliteStore) -> None:
    recorder = Recorder()
    halt = change("drawdown_guard", TradingState.HALTED, "MAX_DRAWDOWN_BREACHED: drawdown=0.07")
    notify_cycle(recorder, SUMMARY, [halt], store, set())
    assert [n.type.value for n in recorder.seen] == ["guard_tripped", "cycle_finished"]
