"""The session clock around the graph: bars fed to the paper broker once each, in date
order, so orders fill at the next session's open and never on a bar already seen."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from adapters.brokers.paper.broker import PaperBroker
from adapters.storage.sqlite import SqliteStore
from core.orders import OrderIntent, OrderSide, OrderStatus
from tests.unit.workflows.scripted import MemoryMarket
from workflows.service import LAST_BAR_KEY, feed_bars


@pytest.fixture
async def account(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path / "q.db")
    broker = PaperBroker(store)
    await broker.connect()
    yield store, broker
    store.close()


async def test_feed_bars_when_same_day_fed_twice_then_second_feed_is_a_no_op(account) -> None:
    store, broker = account
    market = MemoryMarket(["AAPL"], "2024-01-02", 30)
    day = market.dates()[10]
    assert await feed_bars(broker, market, store, ["AAPL"], day) == 0
    order = await broker.place(OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=5), "r1")
    assert await feed_bars(broker, market, store, ["AAPL"], day) == 0  # bar already seen
    assert (await broker.open_orders())[0].order_id == order.order_id
    assert store.kv_get(LAST_BAR_KEY) == day.isoformat()


async def test_feed_bars_when_days_skipped_then_order_fills_at_the_first_next_open(
    account,
) -> None:
    store, broker = account
    market = MemoryMarket(["AAPL"], "2024-01-02", 30)
    days = market.dates()
    await feed_bars(broker, market, store, ["AAPL"], days[10])
    await broker.place(OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=5), "r1")
    assert await feed_bars(broker, market, store, ["AAPL"], days[13]) == 1  # 11, 12, 13 fed
    [fill] = store.fills()
    next_open = float(market.bars("AAPL").open[11])
    assert fill.price == pytest.approx(next_open * (1 + 5e-4))
    assert fill.ts.date() == days[11]
    assert store.order_by_client_ref("r1").status is OrderStatus.FILLED  # type: ignore[union-attr]


async def test_feed_bars_when_no_bar_on_that_day_then_nothing_fed(account) -> None:
    store, broker = account
    market = MemoryMarket(["AAPL"], "2024-01-02", 30)
    assert await feed_bars(broker, market, store, ["AAPL"], date(2024, 1, 6)) == 0  # Saturday


class IgnoresRange(MemoryMarket):
    def bars(self, symbol, start=None, end=None, adjusted=True):  # type: ignore[no-untyped-def]
        return super().bars(symbol)


async def test_feed_bars_when_source_ignores_the_range_then_only_the_range_is_fed(
    account,
) -> None:
    store, broker = account
    market = IgnoresRange(["AAPL"], "2024-01-02", 30)
    days = market.dates()
    await feed_bars(broker, market, store, ["AAPL"], days[10])
    await broker.place(OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=5), "r1")
    assert await feed_bars(broker, market, store, ["AAPL"], days[10]) == 0
    assert await feed_bars(broker, market, store, ["AAPL"], days[11]) == 1
    assert store.fills()[0].ts.date() == days[11]


async def test_write_report_when_rerun_after_a_crash_then_one_llm_usage_note(
    account, tmp_path: Path
) -> None:
    from adapters.llm.budget import BudgetedReasoner
    from adapters.llm.offline import OfflineReasoner
    from tests.unit.workflows.scripted import scripted_registry
    from workflows.service import CycleService

    store, broker = account
    service = CycleService(
        app=None,  # type: ignore[arg-type]  # write_report does not run the graph
        store=store,
        market=MemoryMarket(["AAPL"], "2024-01-02", 30),
        registry=scripted_registry(),
        universe=["AAPL"],
        reports_dir=tmp_path / "reports",
        broker=broker,
        reasoner=BudgetedReasoner(OfflineReasoner(), 1.0),
    )
    state = {"cycle_id": "c1", "run_id": "r1", "as_of": "2024-01-10", "messages": []}
    for _ in range(2):  # the report step ran, the process died before its checkpoint
        await service.write_report(state, service.deps())  # type: ignore[arg-type]
    notes = [m for m in store.messages_by_kind("note", "c1") if m.payload.topic == "llm_usage"]
    assert len(notes) == 1
    await service.write_report({**state, "run_id": "r2"}, service.deps())  # type: ignore[arg-type]
    notes = [m for m in store.messages_by_kind("note", "c1") if m.payload.topic == "llm_usage"]
    assert len(notes) == 2  # a new run of the cycle is a new record
