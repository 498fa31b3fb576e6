"""End to end, offline, on the shipped data: after daily cycles every open position holds a
protective stop at the broker covering all of it — with the paper broker over successive
sessions (entries fill at the next open, their GTC legs take over, the stop manager's moves
modify them in place), and with the IBKR broker against the simulator, where a stock
ib_async client sees the STP legs in ``reqAllOpenOrders``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB

from adapters.brokers.ibkr import IBKRBroker
from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.brokers.paper import PaperBroker
from adapters.runtime import cycle_service
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.messages import Note
from core.orders import Order, OrderSide, OrderStatus, OrderType, bracket_parent_ref
from core.ports import Broker, Store
from tests.integration.conftest import SIM_ACCOUNT, sim_config

pytestmark = pytest.mark.timeout(300)

DAYS = [date(2013, 2, 27), date(2013, 2, 28), date(2013, 3, 1)]
PRICES = {"AAPL": 61.9, "MSFT": 25.3, "IBM": 183.0, "GOOG": 401.1}  # closes of 2013-02-27


def covering_stops(store: Store, orders: list[Order], symbol: str, qty: int) -> list[Order]:
    """Working exit-side stops of ``symbol`` that can trade now (a bracket leg only once
    its entry has filled)."""
    side = OrderSide.SELL if qty > 0 else OrderSide.BUY
    found = []
    for o in orders:
        kind = (o.symbol, o.intent.side, o.intent.order_type)
        if kind != (symbol, side, OrderType.STOP):
            continue
        parent_ref = bracket_parent_ref(o.client_ref)
        parent = store.order_by_client_ref(parent_ref) if parent_ref else None
        if parent is None or parent.status is OrderStatus.FILLED:
            found.append(o)
    return found


async def assert_every_position_covered(broker: Broker, store: Store) -> dict[str, list[Order]]:
    positions = {p.symbol: p.quantity for p in await broker.positions() if p.quantity}
    orders = await broker.open_orders()
    covered: dict[str, list[Order]] = {}
    for symbol, qty in positions.items():
        stops = covering_stops(store, orders, symbol, qty)
        assert sum(o.remaining for o in stops) >= abs(qty), f"{symbol} {qty} uncovered: {stops}"
        assert all(o.intent.tif.value == "GTC" for o in stops)
        covered[symbol] = stops
    return covered


def protection_codes(store: Store, cycle_id: str) -> list[str]:
    return [
        str(m.payload.data.get("code"))
        for m in store.messages_by_kind("note", cycle_id)
        if isinstance(m.payload, Note) and m.payload.topic == "protection"
    ]


async def test_paper_cycles_then_every_open_position_has_its_stop_and_moves_modify_it(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path / "var")
    seen: dict[str, tuple[str, float]] = {}  # stop order id -> (symbol, price) last cycle
    held_days = 0
    for day in DAYS:
        async with cycle_service(settings) as service:
            summary = await service.run(day)
            assert summary["status"] == "completed"
            broker = service.broker
            assert isinstance(broker, PaperBroker)
            covered = await assert_every_position_covered(broker, service.store)
            held_days += bool(covered)
            for symbol, stops in covered.items():
                for stop in stops:
                    before = seen.get(stop.order_id)
                    if before is not None:  # the same order, never loosened
                        assert stop.intent.stop_price is not None
                        assert stop.intent.stop_price >= before[1] - 1e-9, (symbol, stop)
                    seen[stop.order_id] = (symbol, stop.intent.stop_price or 0.0)
            codes = protection_codes(service.store, summary["cycle_id"])
            assert "PROTECTIVE_STOP_MISSING" not in codes  # the brackets covered every fill
            assert "PROTECTIVE_STOP_FAILED" not in codes
    assert held_days >= 2, "the offline desk holds positions from 2013-02-28 on"


async def test_ibkr_cycle_on_simulator_then_stock_client_sees_a_stop_for_each_position(
    tmp_path: Path,
) -> None:
    simulator = TwsSimulator(prices=PRICES, account=SIM_ACCOUNT, starting_cash=100_000.0)
    await simulator.start()
    store = SqliteStore(tmp_path / "var" / "quorum.db")
    broker = IBKRBroker(sim_config(simulator.port), store)
    try:
        await broker.connect()
        settings = load_settings(state_dir=tmp_path / "var")
        async with cycle_service(settings, store=store, broker=broker) as service:
            summary = await service.run(DAYS[0])
        assert summary["orders"] and all(o["status"] == "filled" for o in summary["orders"])
        covered = await assert_every_position_covered(broker, store)
        assert covered, "the offline desk trades on this day"
        ib = IB()
        await ib.connectAsync("127.0.0.1", simulator.port, clientId=42, timeout=5)
        try:
            trades: list[Any] = await ib.reqAllOpenOrdersAsync()
            positions = {p.contract.symbol: p.position for p in ib.positions()}
        finally:
            ib.disconnect()
        stops = [t for t in trades if t.order.orderType == "STP"]
        for symbol, qty in positions.items():
            mine = [t for t in stops if t.contract.symbol == symbol]
            assert sum(t.order.totalQuantity for t in mine) == abs(qty), symbol
            assert all(t.order.tif == "GTC" and t.order.parentId > 0 for t in mine)
            assert all(t.order.action == ("SELL" if qty > 0 else "BUY") for t in mine)
            assert all(0 < t.order.auxPrice < PRICES[symbol] for t in mine)
        assert set(positions) == set(covered)
    finally:
        await broker.disconnect()
        await simulator.stop()
        store.close()
