"""One code path: the same daily cycle, the 22 agents and the checkpointed graph, with the
IBKR broker (real ib_async client) against the TWS-protocol simulator on loopback.
Unlike the paper broker, IBKR fills during the cycle: reconciliation waits for the fill."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from adapters.brokers.ibkr import IBKRBroker
from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.runtime import cycle_service
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.messages import FillPayload
from core.orders import OrderStatus, bracket_parent_ref
from tests.integration.conftest import SIM_ACCOUNT, sim_config

# Last adjusted closes of 2013-02-27 in the shipped data, as the simulator's market.
PRICES = {"AAPL": 61.9, "MSFT": 25.3, "IBM": 183.0, "GOOG": 401.1}


async def test_cycle_when_broker_is_ibkr_on_simulator_then_order_fills_and_is_reconciled(
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
            summary = await service.run(date(2013, 2, 27))
            messages = service.store.messages_by_cycle(summary["cycle_id"])
    finally:
        await broker.disconnect()
        await simulator.stop()
    try:
        assert summary["status"] == "completed"
        assert summary["orders"], "the offline desk trades on this day"
        assert all(o["status"] == OrderStatus.FILLED.value for o in summary["orders"])
        assert summary["fills"] >= len(summary["orders"])
        refs = [
            o.client_ref
            for o in store.orders()
            if o.client_ref.startswith("q-cycle-") and bracket_parent_ref(o.client_ref) is None
        ]  # the entries; their protective legs are test_cycle_protective's
        assert sorted(refs) == sorted(o["client_ref"] for o in summary["orders"])
        fills = [m for m in messages if isinstance(m.payload, FillPayload)]
        assert {m.payload.fill.client_ref for m in fills} == set(refs)
        assert {m.sender for m in fills} == {"reconciliation"}
        assert summary["equity"] < 100_000.0  # commissions paid
    finally:
        store.close()
