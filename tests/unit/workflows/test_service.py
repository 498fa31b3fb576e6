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


class FailsOnce:
    """The execution desk: raises the first time (the process "dies" there, the cycle
    stops and its checkpoint stays unfinished), places orders afterwards."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, ctx, inbox):  # type: ignore[no-untyped-def]
        from tests.unit.workflows.scripted import execution

        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("process died inside execution")
        return await execution(ctx, inbox)


@pytest.fixture
async def desk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A CycleService on the scripted agents, the paper broker and the SQLite checkpointer."""
    from dataclasses import replace

    from tests.unit.workflows.scripted import scripted_registry
    from workflows.checkpointer import sqlite_checkpointer
    from workflows.daily_cycle import build_daily_cycle
    from workflows.service import CycleService
    from workflows.state import CycleConfig

    store = SqliteStore(tmp_path / "q.db")
    broker = PaperBroker(store)
    await broker.connect()
    registry = scripted_registry()
    registry["execution"] = replace(registry["execution"], run=FailsOnce(), is_async=True)
    async with sqlite_checkpointer(tmp_path) as saver:
        yield CycleService(
            app=build_daily_cycle().compile(checkpointer=saver),
            store=store,
            market=MemoryMarket(["AAPL", "MSFT"], "2024-01-02", 70),
            registry=registry,
            universe=["AAPL", "MSFT"],
            reports_dir=tmp_path / "reports",
            broker=broker,
            config=CycleConfig(debate_rounds=1, fill_timeout_s=0.0),
        )
    store.close()


def _footprint(service) -> tuple:  # type: ignore[no-untyped-def]
    """Everything a cycle writes: the bar clock, orders, fills, journal, cycle records."""
    from workflows.service import CYCLES

    store = service.store
    return (
        store.kv_get(LAST_BAR_KEY),
        [o.model_dump() for o in store.orders()],
        [f.model_dump() for f in store.fills()],
        len(store.messages_by_cycle("c-early")) + len(store.messages_by_cycle("c-late")),
        store.get_document(CYCLES, "c-early"),
        store.latest_snapshot("paper"),
    )


async def test_run_when_date_before_the_bar_clock_then_refused_naming_both_and_nothing_written(
    desk,
) -> None:
    from core.errors import ConfigurationError
    from workflows.runner import cycle_status

    days = desk.market.dates()
    early, late = days[60], days[65]
    with pytest.raises(RuntimeError, match="process died inside execution"):
        await desk.run(late, cycle_id="c-late")
    assert (await desk.run(late, cycle_id="c-late"))["status"] == "completed"  # resumed
    before = _footprint(desk)
    with pytest.raises(ConfigurationError) as refused:
        await desk.run(early, cycle_id="c-early")
    message = str(refused.value)
    assert f"cycle date {early} is before the paper account's bar clock ({late})" in message
    assert "fresh state dir (QUORUM_STATE_DIR)" in message and f"on or after {late}" in message
    assert _footprint(desk) == before
    assert await cycle_status(desk.app, "c-early") == "new"  # no checkpoint either


async def test_run_when_unfinished_cycle_resumed_after_a_later_day_ran_then_refused(
    desk,
) -> None:
    from core.errors import ConfigurationError

    days = desk.market.dates()
    early, late = days[60], days[65]
    with pytest.raises(RuntimeError, match="process died inside execution"):
        await desk.run(early, cycle_id="c-early")  # the clock is at `early`
    await desk.run(late, cycle_id="c-late")  # someone ran a later day meanwhile
    before = _footprint(desk)
    with pytest.raises(ConfigurationError, match=f"cycle date {early} is before"):
        await desk.run(early, cycle_id="c-early")  # resuming now would mix later fills in
    assert _footprint(desk) == before


async def test_run_when_same_date_rerun_after_a_later_day_finished_then_recorded_summary(
    desk,
) -> None:
    days = desk.market.dates()
    early, late = days[60], days[65]
    desk.registry["execution"].run.calls = 1  # no crash in this case
    first = await desk.run(early, cycle_id="c-early")
    await desk.run(late, cycle_id="c-late")
    again = await desk.run(early, cycle_id="c-early")  # finished: as of its own day
    assert again == first and again["date"] == early.isoformat()
