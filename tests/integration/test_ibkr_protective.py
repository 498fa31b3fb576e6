"""Protective orders at IBKR, with the real ib_async client against the TWS simulator:
brackets (parent transmit=False, children with parentId, the last child transmits; GTC
legs in one OCA group), what a stock ib_async client sees of them, stop moves by
modification (same orderId, new auxPrice), and the crash cases."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB

from adapters.brokers.ibkr import IBKRBroker
from adapters.brokers.ibkr.client import OrderSpec
from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.brokers.ibkr_sim.book import SimOrder
from adapters.brokers.ibkr_sim.protective import end_trading_day
from adapters.storage.sqlite import SqliteStore
from core.errors import OrderError
from core.orders import OrderChange, OrderIntent, OrderSide, OrderStatus, OrderType
from tests.integration.conftest import SIM_ACCOUNT, sim_config, wait_until

pytestmark = pytest.mark.timeout(30)

ENTRY = OrderIntent(
    symbol="AAPL", side=OrderSide.BUY, quantity=20, stop_loss=180.0, take_profit=200.0
)
REF = "q-prot-1"


@pytest.fixture
async def quiet_sim() -> AsyncIterator[TwsSimulator]:
    """Orders wait for ``set_price`` (the market moves, then orders fill)."""
    sim = TwsSimulator(account=SIM_ACCOUNT, prices={"AAPL": 190.0}, fill_on_arrival=False)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def ib_broker(quiet_sim: TwsSimulator, tmp_path: Path) -> AsyncIterator[IBKRBroker]:
    store = SqliteStore(tmp_path / "ibkr.db")
    broker = IBKRBroker(sim_config(quiet_sim.port), store)
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.disconnect()
        store.close()


def at_sim(sim: TwsSimulator, ref: str) -> list[SimOrder]:
    return [o for o in sim.book.orders.values() if o.order_ref == ref]


def live(sim: TwsSimulator, ref: str) -> list[SimOrder]:
    """Orders with ``ref`` that TWS works (transmitted and not done)."""
    return [o for o in at_sim(sim, ref) if o.transmit and not o.is_done]


async def market(sim: TwsSimulator, broker: IBKRBroker, price: float, volume: Any = None) -> None:
    sim.set_price("AAPL", price, volume)
    await broker.sync()


async def stock_client_open_orders(sim: TwsSimulator) -> list[Any]:
    """What a plain ib_async client (another client id) sees through reqAllOpenOrders."""
    ib = IB()
    await ib.connectAsync("127.0.0.1", sim.port, clientId=99, timeout=5)
    try:
        trades = await ib.reqAllOpenOrdersAsync()
        assert {o.orderId for o in ib.openOrders()} >= {t.order.orderId for t in trades}
        return trades
    finally:
        ib.disconnect()


async def test_bracket_goes_out_as_parent_untransmitted_then_legs_with_parent_id(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[OrderSpec, int, int, bool]] = []
    real = ib_broker.client.place

    def spy(contract: Any, spec: OrderSpec, **kw: Any) -> None:
        sent.append((spec, kw["order_id"], kw.get("parent_id", 0), kw.get("transmit", True)))
        real(contract, spec, **kw)

    monkeypatch.setattr(ib_broker.client, "place", spy)
    await ib_broker.place(ENTRY, REF)
    (parent, p_id, _, p_transmit), *children = sent
    assert (parent.order_ref, parent.order_type, parent.tif, p_transmit) == (
        REF, "MKT", "DAY", False,
    )  # fmt: skip
    assert [(s.order_ref, s.order_type, s.tif, pid) for s, _, pid, _ in children] == [
        (REF + "#sl", "STP", "GTC", p_id),
        (REF + "#tp", "LMT", "GTC", p_id),
    ]
    assert [t for *_, t in children] == [False, True]  # the last child transmits all
    assert {(s.oca_group, s.oca_type) for s, *_ in children} == {("oca-" + REF, 2)}
    (stop,) = at_sim(quiet_sim, REF + "#sl")
    assert (stop.parent_id, stop.oca_group, stop.oca_type, stop.tif) == (
        p_id, "oca-" + REF, 2, "GTC",
    )  # fmt: skip


async def test_stock_client_sees_the_stop_child_in_all_open_orders(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker, caplog: pytest.LogCaptureFixture
) -> None:
    await ib_broker.place(ENTRY, REF)
    await market(quiet_sim, ib_broker, 190.0)
    assert (await ib_broker.positions())[0].quantity == 20
    caplog.set_level(logging.INFO)
    trades = await stock_client_open_orders(quiet_sim)
    stops = [t for t in trades if t.order.orderType == "STP"]
    assert [(t.order.orderRef, t.order.action, t.order.totalQuantity) for t in stops] == [
        (REF + "#sl", "SELL", 20.0),
    ]
    stop = stops[0].order
    assert (stop.auxPrice, stop.tif, stop.ocaGroup, stop.ocaType) == (180.0, "GTC", "oca-" + REF, 2)
    assert stop.parentId > 0 and stops[0].orderStatus.status == "Submitted"
    assert not [r for r in caplog.records if "Error handling fields" in r.getMessage()]


async def test_bracket_take_profit_fills_then_stop_cancelled_by_oca(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker
) -> None:
    await ib_broker.place(ENTRY, REF)
    await market(quiet_sim, ib_broker, 190.0)
    await market(quiet_sim, ib_broker, 201.0)
    await wait_until(lambda: ib_broker.store.order_by_client_ref(REF + "#sl").is_terminal)
    assert ib_broker.store.order_by_client_ref(REF + "#sl").status is OrderStatus.CANCELLED
    assert live(quiet_sim, REF + "#sl") == [] and quiet_sim.position("AAPL") == 0


async def test_bracket_stop_partly_fills_then_take_profit_reduced_by_as_much(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker
) -> None:
    await ib_broker.place(ENTRY, REF)
    await market(quiet_sim, ib_broker, 190.0)
    await market(quiet_sim, ib_broker, 179.0, volume=6)  # the stop sells 6 of 20
    (take,) = live(quiet_sim, REF + "#tp")
    assert take.quantity == 14
    local = ib_broker.store.order_by_client_ref(REF + "#tp")
    assert (local.intent.quantity, local.status) == (14, OrderStatus.SUBMITTED)  # adopted
    await market(quiet_sim, ib_broker, 201.0)
    assert quiet_sim.position("AAPL") == 0  # never more sold than held


async def test_modify_stop_then_same_order_id_new_aux_price_and_it_triggers_there(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker
) -> None:
    await ib_broker.place(ENTRY, REF)
    await market(quiet_sim, ib_broker, 190.0)
    stop = ib_broker.store.order_by_client_ref(REF + "#sl")
    (sim_stop,) = live(quiet_sim, REF + "#sl")
    ids = (sim_stop.order_id, sim_stop.perm_id)
    moved = await ib_broker.modify(stop.order_id, OrderChange(stop_price=185.5))
    assert (moved.order_id, moved.intent.stop_price, moved.status) == (
        stop.order_id, 185.5, OrderStatus.SUBMITTED,
    )  # fmt: skip
    assert quiet_sim.orders_placed(REF + "#sl") == 1  # modified, not cancelled + new
    (after,) = live(quiet_sim, REF + "#sl")
    assert (after.order_id, after.perm_id, after.aux_price) == (*ids, 185.5)
    (seen,) = [t for t in await stock_client_open_orders(quiet_sim) if t.order.orderType == "STP"]
    assert (seen.order.orderId, seen.order.auxPrice) == (ids[0], 185.5)
    await market(quiet_sim, ib_broker, 185.0)  # above the old 180, through the new 185.5
    assert quiet_sim.position("AAPL") == 0
    await wait_until(lambda: ib_broker.store.order_by_client_ref(REF + "#sl").is_terminal)
    assert ib_broker.store.order_by_client_ref(REF + "#sl").status is OrderStatus.FILLED


async def test_modify_when_order_filled_at_tws_meanwhile_then_refused_with_code(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker
) -> None:
    stop_intent = OrderIntent(
        symbol="AAPL", side=OrderSide.SELL, quantity=5, order_type=OrderType.STOP,
        stop_price=185.0,
    )  # fmt: skip
    quiet_sim.faults.lose_order_updates()  # TWS fills it; we never hear of it
    order = await ib_broker.place(stop_intent, "q-lost")
    quiet_sim.set_price("AAPL", 184.0)
    with pytest.raises(OrderError) as refused:
        await ib_broker.modify(order.order_id, OrderChange(stop_price=183.0))
    assert refused.value.broker_code == 104
    assert ib_broker.store.order(order.order_id).intent.stop_price == 185.0  # unchanged


async def test_modify_when_closed_locally_or_unknown_then_order_error(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker
) -> None:
    order = await ib_broker.place(OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=5), "q-m")
    await market(quiet_sim, ib_broker, 190.0)
    with pytest.raises(OrderError, match="it is filled"):
        await ib_broker.modify(order.order_id, OrderChange(quantity=9))
    with pytest.raises(OrderError, match="unknown order"):
        await ib_broker.modify("ib-0000000000000000", OrderChange(quantity=9))


async def test_crash_after_parent_sent_before_children_then_nothing_live_and_rerun_sends_once(
    quiet_sim: TwsSimulator, tmp_path: Path
) -> None:
    db = tmp_path / "ibkr.db"
    store = SqliteStore(db)
    first = IBKRBroker(sim_config(quiet_sim.port), store)
    await first.connect()
    real, calls = first.client.place, []

    def dies_after_parent(contract: Any, spec: OrderSpec, **kw: Any) -> None:
        calls.append(spec.order_ref)
        if len(calls) > 1:
            raise ConnectionError("process killed")
        real(contract, spec, **kw)

    first.client.place = dies_after_parent  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await first.place(ENTRY, REF)
    await first.sync()
    assert [o.transmit for o in at_sim(quiet_sim, REF)] == [False]  # held, never live
    assert (await stock_client_open_orders(quiet_sim)) == []
    first._closing = True
    first.client.disconnect()
    await wait_until(lambda: 7 not in quiet_sim.connected_client_ids())
    store.close()

    store = SqliteStore(db)
    again = IBKRBroker(sim_config(quiet_sim.port), store)
    await again.connect()
    try:
        await again.place(ENTRY, REF)
        await again.place(ENTRY, REF)  # and a second re-run sends nothing
        await market(quiet_sim, again, 190.0)
        assert [len(live(quiet_sim, r)) for r in (REF + "#sl", REF + "#tp")] == [1, 1]
        stops = [t for t in await stock_client_open_orders(quiet_sim) if t.order.orderType == "STP"]
        assert [t.order.orderRef for t in stops] == [REF + "#sl"]
        assert quiet_sim.position("AAPL") == 20
    finally:
        await again.disconnect()
        store.close()


async def test_restart_then_place_again_never_duplicates_the_protective_legs(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker, tmp_path: Path
) -> None:
    await ib_broker.place(ENTRY, REF)
    await market(quiet_sim, ib_broker, 190.0)
    await ib_broker.disconnect()
    await wait_until(lambda: 7 not in quiet_sim.connected_client_ids())
    store = SqliteStore(tmp_path / "ibkr.db")
    again = IBKRBroker(sim_config(quiet_sim.port), store)
    await again.connect()
    try:
        assert (await again.place(ENTRY, REF)).status is OrderStatus.FILLED
        assert [quiet_sim.orders_placed(REF + leg) for leg in ("#sl", "#tp")] == [1, 1]
        open_refs = sorted(o.client_ref for o in await again.open_orders())
        assert open_refs == [REF + "#sl", REF + "#tp"]
    finally:
        await again.disconnect()
        store.close()


async def test_end_of_day_expires_day_orders_and_keeps_the_gtc_legs(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker
) -> None:
    await ib_broker.place(ENTRY, REF)
    await market(quiet_sim, ib_broker, 190.0)
    unfilled = ENTRY.model_copy(update={"order_type": OrderType.LIMIT, "limit_price": 150.0})
    await ib_broker.place(unfilled, "q-prot-2")
    assert end_trading_day(quiet_sim) == 3  # the unfilled DAY parent and its two legs
    await ib_broker.sync()
    assert [len(live(quiet_sim, REF + leg)) for leg in ("#sl", "#tp")] == [1, 1]
    assert live(quiet_sim, "q-prot-2") == [] and live(quiet_sim, "q-prot-2#sl") == []
    assert ib_broker.store.order_by_client_ref("q-prot-2").status is OrderStatus.CANCELLED


# -- reconciliation's protection pass on the IBKR path ------------------------------------
def agent_ctx(broker: IBKRBroker, cycle_id: str = "c-prot") -> Any:
    from datetime import date

    from adapters.marketdata.files import FileMarketData
    from agents.base import AgentContext
    from core.risk import RiskLimits
    from tests.conftest import DATA_DIR

    return AgentContext(
        cycle_id=cycle_id, as_of=date(2013, 2, 27), market=FileMarketData(DATA_DIR / "us_daily"),
        store=broker.store, limits=RiskLimits(), universe=("AAPL",), broker=broker,
    )  # fmt: skip


def protection_codes(out: list[Any]) -> list[str]:
    return [m.payload.data["code"] for m in out if getattr(m.payload, "topic", "") == "protection"]


async def test_reconciliation_when_ibkr_position_has_no_stop_then_one_stp_even_after_restart(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker, tmp_path: Path
) -> None:
    from agents.execution import reconciliation

    await ib_broker.place(OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=20), "q-plain")
    await market(quiet_sim, ib_broker, 190.0)  # filled, and nothing protects it
    out = await reconciliation.run(agent_ctx(ib_broker), [])
    assert protection_codes(out) == ["PROTECTIVE_STOP_MISSING"]
    [stop] = [o for o in quiet_sim.book.orders.values() if o.order_type == "STP"]
    assert (stop.action, stop.quantity, stop.tif, stop.is_done) == ("SELL", 20.0, "GTC", False)
    assert protection_codes(await reconciliation.run(agent_ctx(ib_broker), [])) == []
    await ib_broker.disconnect()
    await wait_until(lambda: 7 not in quiet_sim.connected_client_ids())
    store = SqliteStore(tmp_path / "ibkr.db")
    again = IBKRBroker(sim_config(quiet_sim.port), store)
    await again.connect()
    try:
        out = await reconciliation.run(agent_ctx(again), [])  # the same cycle, re-run
        assert protection_codes(out) == []
        assert quiet_sim.orders_placed(stop.order_ref) == 1
        assert [o.order_type for o in quiet_sim.book.orders.values()].count("STP") == 1
    finally:
        await again.disconnect()
        store.close()


async def test_reconciliation_when_stop_manager_raises_stop_then_ibkr_order_modified(
    quiet_sim: TwsSimulator, ib_broker: IBKRBroker
) -> None:
    from agents.execution import reconciliation
    from core.messages import ToolFigures

    await ib_broker.place(ENTRY, REF)
    await market(quiet_sim, ib_broker, 190.0)
    ctx = agent_ctx(ib_broker)
    figures = {"stop_price": 184.257, "take_profit": 210.0, "close": 190.0, "exit": 0.0}
    stops = ctx.message("stop_manager", ToolFigures(tool="stops", symbol="AAPL", figures=figures))
    (before,) = live(quiet_sim, REF + "#sl")
    out = await reconciliation.run(ctx, [stops])
    (after,) = live(quiet_sim, REF + "#sl")
    assert (after.order_id, after.perm_id, after.aux_price) == (
        before.order_id, before.perm_id, 184.25,
    )  # fmt: skip
    assert quiet_sim.orders_placed(REF + "#sl") == 1
    notes = [m.payload for m in out if getattr(m.payload, "topic", "") == "reconciliation"]
    report = notes[-1].data
    assert report["protection"]["positions"]["AAPL"] == {
        "held": 20, "covered": 20, "stops": [184.25],
    }  # fmt: skip
