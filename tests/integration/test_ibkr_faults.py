"""Every simulator fault ends with local state equal to the broker's and no order sent
twice (``assert_in_sync``). The real ib_async client runs against the simulator."""

from __future__ import annotations

import asyncio

import pytest

from adapters.brokers.ibkr import IBKRBroker
from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.storage.sqlite import SqliteStore
from core.errors import OrderError, TemporaryError
from core.orders import OrderIntent, OrderSide, OrderStatus, OrderType
from core.ports import BrokerEvent, BrokerEventType
from tests.integration.conftest import assert_in_sync, sim_config, wait_until

# every test here talks to a socket: a hang must fail fast, not stall the suite
pytestmark = pytest.mark.timeout(30)


def buy(qty: int = 10, **kw: object) -> OrderIntent:
    return OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=qty, **kw)  # type: ignore[arg-type]


def drain(broker: IBKRBroker) -> list[BrokerEvent]:
    out = []
    while not broker._events.empty():
        out.append(broker._events.get_nowait())
    return out


async def test_drop_mid_order_and_fill_while_away_then_reconcile_finds_the_fill(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    sim.faults.drop_connection_after_order(fill_while_away=True)
    order = await broker.place(buy(), "q-drop-1")
    assert order.status is OrderStatus.SUBMITTED  # sent; the answer never came
    await wait_until(lambda: sim.api_sessions == 2 and broker.last_reconcile != [])
    done = broker.store.order(order.order_id)
    assert done is not None and done.status is OrderStatus.FILLED
    kinds = [e.type for e in drain(broker)]
    assert kinds.count(BrokerEventType.DISCONNECTED) == 1
    assert kinds.count(BrokerEventType.RECONNECTED) == 1
    assert any("missed fill" in e.message for e in broker.last_reconcile)
    await assert_in_sync(broker, sim)


async def test_drop_mid_order_without_fill_then_order_still_working_after_reconnect(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    sim.faults.drop_connection_after_order(fill_while_away=False)
    order = await broker.place(buy(), "q-drop-2")
    await wait_until(lambda: sim.api_sessions == 2 and broker.is_connected)
    await broker.sync()
    assert (await broker.open_orders())[0].order_id == order.order_id
    sim.set_price("AAPL", 191.0)
    await assert_in_sync(broker, sim)
    assert broker.store.order(order.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]


def fire_disconnected_twice(broker: IBKRBroker, *, later: bool) -> list[int]:
    """Make ib_async's ``disconnectedEvent`` fire a second time for the next disconnect,
    as ib_async 2.1.0 does: at once (same emit) or on a later loop iteration."""
    ib = broker.client.ib
    echoes: list[int] = []

    def echo() -> None:
        if echoes:
            return
        echoes.append(1)
        if later:
            asyncio.get_running_loop().call_soon(ib.disconnectedEvent.emit)
        else:
            ib.disconnectedEvent.emit()

    ib.disconnectedEvent += echo
    return echoes


@pytest.mark.parametrize("later", [False, True], ids=["same-emit", "next-iteration"])
async def test_disconnect_event_fired_twice_then_one_reconnect_loop(
    broker: IBKRBroker, sim: TwsSimulator, later: bool
) -> None:
    echoes = fire_disconnected_twice(broker, later=later)
    sim.drop_connections()
    await wait_until(lambda: sim.api_sessions == 2 and broker.is_connected)
    assert echoes == [1]  # the event really came twice
    await asyncio.sleep(0.3)  # a second loop would have connected again by now
    assert sim.api_sessions == 2
    kinds = [e.type for e in drain(broker)]
    assert (
        kinds.count(BrokerEventType.DISCONNECTED),
        kinds.count(BrokerEventType.RECONNECTED),
    ) == (1, 1)
    await assert_in_sync(broker, sim)


async def test_disconnect_event_arriving_after_reconnect_then_ignored(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    sim.drop_connections()
    await wait_until(lambda: sim.api_sessions == 2 and broker.is_connected)
    await wait_until(lambda: broker._reconnecting is not None and broker._reconnecting.done())
    drain(broker)
    broker.client.ib.disconnectedEvent.emit()  # a stale duplicate: the link is up
    await asyncio.sleep(0.3)
    assert (sim.api_sessions, broker.is_connected) == (2, True)
    assert [e.type for e in drain(broker)].count(BrokerEventType.DISCONNECTED) == 0


@pytest.mark.parametrize("code", [201, 203])
async def test_reject_then_order_rejected_with_the_code(
    broker: IBKRBroker, sim: TwsSimulator, code: int
) -> None:
    sim.faults.reject_next_order(code=code)
    order = await broker.place(buy(), f"q-reject-{code}")
    assert order.status is OrderStatus.REJECTED
    assert order.reason is not None and order.reason.startswith(f"IB_{code}")
    statuses = [e for e in drain(broker) if e.type is BrokerEventType.ORDER_STATUS]
    assert statuses[-1].code == code
    await assert_in_sync(broker, sim)


async def test_partial_fills_then_partially_filled_until_the_rest_trades(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    sim.faults.partial_fills([3, 4])
    order = await broker.place(buy(), "q-partial")
    await broker.sync()
    partial = broker.store.order(order.order_id)
    assert partial is not None
    assert (partial.status, partial.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 7)
    assert len(broker.store.fills(order.order_id)) == 2
    await assert_in_sync(broker, sim)
    sim.set_price("AAPL", 189.5)
    await assert_in_sync(broker, sim)
    final = broker.store.order(order.order_id)
    assert final is not None and final.status is OrderStatus.FILLED
    assert final.avg_fill_price == pytest.approx((7 * 190.0 + 3 * 189.5) / 10)


async def test_duplicate_exec_details_then_one_fill(broker: IBKRBroker, sim: TwsSimulator) -> None:
    sim.faults.duplicate_exec_details()
    order = await broker.place(buy(), "q-dup")
    await broker.sync()
    (fill,) = broker.store.fills(order.order_id)
    assert fill.quantity == 10
    assert [e.type for e in drain(broker)].count(BrokerEventType.FILL) == 1
    await assert_in_sync(broker, sim)


async def test_delayed_status_longer_than_ack_timeout_then_settles_when_it_arrives(
    sim: TwsSimulator, store: SqliteStore
) -> None:
    broker = IBKRBroker(sim_config(sim.port, ack_timeout_s=0.1), store)
    await broker.connect()
    try:
        sim.faults.delay_status(0.4)
        order = await broker.place(buy(), "q-delay")
        assert order.status is OrderStatus.SUBMITTED
        assert broker.store.fills(order.order_id) == []
        await wait_until(lambda: broker.store.order(order.order_id).is_terminal)  # type: ignore[union-attr]
        await assert_in_sync(broker, sim)
    finally:
        await broker.disconnect()


@pytest.mark.parametrize("restored", [1102, 1101])
async def test_connectivity_lost_then_restored_then_orders_refused_during_gap_only(
    broker: IBKRBroker, sim: TwsSimulator, restored: int
) -> None:
    blip = asyncio.create_task(sim.faults.connectivity_lost_then_restored(gap=0.3, code=restored))
    await wait_until(lambda: broker._connectivity_lost)
    with pytest.raises(TemporaryError) as err:
        await broker.place(buy(), "q-gap")
    assert err.value.broker_code == 1100
    await blip
    await wait_until(lambda: not broker._connectivity_lost)
    codes = [e.code for e in drain(broker) if e.code in (1100, 1101, 1102)]
    assert codes == [1100, restored]
    order = await broker.place(buy(), "q-after-gap")
    await assert_in_sync(broker, sim)
    assert sim.orders_placed("q-gap") == 0
    assert broker.store.order(order.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]


async def test_pacing_violation_on_order_then_backs_off_and_sends_once(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    sim.faults.pacing_violation("order")
    order = await broker.place(buy(), "q-paced")
    await assert_in_sync(broker, sim)
    assert broker.store.order(order.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]


async def test_pacing_violation_on_every_attempt_then_rejected_with_code_100(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    sim.faults.pacing_violation("order", times=broker.config.pacing_retries + 1)
    order = await broker.place(buy(), "q-paced-out")
    assert order.status is OrderStatus.REJECTED
    assert order.reason is not None and order.reason.startswith("IB_100")
    assert sim.orders_placed("q-paced-out") == 0
    await assert_in_sync(broker, sim)


async def test_pacing_violation_on_bracket_then_whole_bracket_resent_once(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    sim.faults.pacing_violation("order")
    parent = await broker.place(buy(take_profit=200.0, stop_loss=180.0), "q-paced-bracket")
    await assert_in_sync(broker, sim)
    assert broker.store.order(parent.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert len(await broker.open_orders()) == 2  # take-profit and stop-loss working


async def test_pacing_violation_on_contract_details_then_retried(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    from core.instruments import Instrument

    sim.faults.pacing_violation("contract")
    got = await broker.qualify(Instrument(symbol="MSFT", primary_exchange="NASDAQ"))
    assert got.primary_exchange == "NASDAQ"


async def test_client_id_in_use_then_connects_with_the_next_id(
    sim: TwsSimulator, store: SqliteStore
) -> None:
    sim.faults.client_id_in_use()
    broker = IBKRBroker(sim_config(sim.port), store)
    await broker.connect()
    try:
        assert broker.client_id == 8
        assert sim.connected_client_ids() == {8}
        assert any(e.code == 326 for e in drain(broker))
        order = await broker.place(buy(), "q-cid")
        await assert_in_sync(broker, sim)
        assert broker.store.order(order.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    finally:
        await broker.disconnect()


async def test_client_id_in_use_for_every_id_then_temporary_error(
    sim: TwsSimulator, store: SqliteStore
) -> None:
    broker = IBKRBroker(sim_config(sim.port, client_id_retries=1), store)
    sim.faults.client_id_in_use(times=2)
    with pytest.raises(TemporaryError) as err:
        await broker.connect()
    assert err.value.broker_code == 326


async def test_lost_updates_then_cancel_refused_10148_and_reconcile_records_fill(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    sim.faults.lose_order_updates()
    order = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=185.0), "q-lost")
    sim.set_price("AAPL", 184.0)  # fills at TWS; we hear nothing
    with pytest.raises(OrderError) as err:
        await broker.cancel(order.order_id)
    assert err.value.broker_code == 10148
    found = await broker.reconcile()
    assert any("missed fill" in e.message for e in found)
    await assert_in_sync(broker, sim)


async def test_restart_with_lost_store_then_order_adopted_not_resent(
    broker: IBKRBroker, sim: TwsSimulator, tmp_path: object
) -> None:
    first = await broker.place(buy(), "q-restart")
    await broker.sync()
    await broker.disconnect()
    await wait_until(lambda: not sim.connected_client_ids())
    fresh = SqliteStore(":memory:")
    again = IBKRBroker(sim_config(sim.port), fresh)
    await again.connect()
    try:
        adopted = await again.place(buy(), "q-restart")
        assert adopted.order_id == first.order_id
        assert adopted.status is OrderStatus.FILLED
        await assert_in_sync(again, sim)
    finally:
        await again.disconnect()
        fresh.close()


async def test_tws_gone_for_good_then_reconnect_gives_up_after_max_attempts(
    sim: TwsSimulator, store: SqliteStore
) -> None:
    broker = IBKRBroker(sim_config(sim.port, reconnect_max_attempts=3), store)
    await broker.connect()
    await sim.stop()  # TWS closes and never comes back
    await wait_until(lambda: broker._reconnecting is not None and broker._reconnecting.done())
    events = drain(broker)
    assert [e.type for e in events].count(BrokerEventType.DISCONNECTED) == 1
    assert sum(1 for e in events if e.message.startswith("reconnect ")) == 3
    assert not broker.is_connected
    with pytest.raises(TemporaryError):
        await broker.place(buy(), "q-while-down")
    await broker.disconnect()


async def test_restart_with_lost_store_then_bracket_and_legs_adopted_not_resent(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    bracket = buy(take_profit=200.0, stop_loss=180.0)
    await broker.place(bracket, "q-restart-bracket")
    await broker.sync()
    await broker.disconnect()
    await wait_until(lambda: not sim.connected_client_ids())
    fresh = SqliteStore(":memory:")
    again = IBKRBroker(sim_config(sim.port), fresh)
    await again.connect()
    try:
        parent = await again.place(bracket, "q-restart-bracket")
        assert parent.status is OrderStatus.FILLED
        assert {o.client_ref for o in await again.open_orders()} == {
            "q-restart-bracket#tp", "q-restart-bracket#sl",
        }  # fmt: skip
        await assert_in_sync(again, sim)
    finally:
        await again.disconnect()
        fresh.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_order_budget_spent_then_next_order_waits_unsent_and_resent_once_later(
    sim: TwsSimulator, store: SqliteStore
) -> None:
    broker = IBKRBroker(sim_config(sim.port, orders_per_minute=2), store)
    clock = FakeClock()
    broker.pacer.orders._clock = clock  # the minute passes when the test says so
    await broker.connect()
    limit = buy(order_type=OrderType.LIMIT, limit_price=150.0)
    try:
        for i in range(2):
            await broker.place(limit, f"q-budget-{i}")
        third = asyncio.create_task(broker.place(limit, "q-budget-2"))
        await wait_until(broker.pacer.orders._lock.locked)  # asleep inside the budget
        assert not third.done() and sim.orders_placed("q-budget-2") == 0
        third.cancel()  # e.g. the cycle gives up: recorded locally, never sent
        with pytest.raises(asyncio.CancelledError):
            await third
        clock.now = 60.0
        again = await broker.place(limit, "q-budget-2")  # the retry sends it, once
        assert again.status is OrderStatus.SUBMITTED
        assert sim.orders_placed("q-budget-2") == 1
        await assert_in_sync(broker, sim)
    finally:
        await broker.disconnect()


async def test_tws_restarts_then_reconnects_with_growing_backoff_and_finds_the_fill(
    sim: TwsSimulator, store: SqliteStore
) -> None:
    broker = IBKRBroker(sim_config(sim.port), store)
    attempts: list[int] = []
    backoff = broker._backoff

    def spy(attempt: int, base: float, cap: float) -> float:
        attempts.append(attempt)
        return backoff(attempt, base, cap)

    broker._backoff = spy  # type: ignore[method-assign]
    await broker.connect()
    try:
        order = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=185.0), "q-tws")
        port = sim.port
        await sim.stop()  # TWS restarts: refused connections for a while
        await wait_until(lambda: len(attempts) >= 3)
        sim.set_price("AAPL", 184.0)  # the order fills while nobody is connected
        sim._port = port
        await sim.start()
        await wait_until(lambda: broker._reconnecting is not None and broker._reconnecting.done())
        assert attempts[:3] == [0, 1, 2]  # each failure doubles the (jittered) wait
        assert broker.store.order(order.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
        assert any("missed fill" in e.message for e in broker.last_reconcile)
        await assert_in_sync(broker, sim)
    finally:
        await broker.disconnect()


async def test_cancel_while_waiting_for_the_order_budget_then_cancelled_and_never_sent(
    sim: TwsSimulator, store: SqliteStore
) -> None:
    from adapters.brokers.ibkr.pacing import RollingWindowLimiter

    broker = IBKRBroker(sim_config(sim.port), store)
    broker.pacer.orders = RollingWindowLimiter(1, window_s=1.0)  # one order per second
    await broker.connect()
    try:
        await broker.place(buy(order_type=OrderType.LIMIT, limit_price=150.0), "q-first")
        bracket = buy(take_profit=200.0, stop_loss=180.0)
        waiting = asyncio.create_task(broker.place(bracket, "q-waits"))
        await wait_until(broker.pacer.orders._lock.locked)  # asleep inside the budget
        (new,) = [o for o in broker.tracker.orders() if o.client_ref == "q-waits"]
        cancelled = await broker.cancel(new.order_id)
        assert cancelled.status is OrderStatus.CANCELLED
        assert (await waiting).status is OrderStatus.CANCELLED  # woke up, sent nothing
        assert sim.orders_placed("q-waits") == 0
        legs = [o for o in broker.tracker.orders() if o.client_ref.startswith("q-waits#")]
        assert {o.status for o in legs} == {OrderStatus.CANCELLED}
        again = await broker.place(bracket, "q-waits")  # a cancelled ref stays cancelled
        assert again.status is OrderStatus.CANCELLED and sim.orders_placed("q-waits") == 0
        await assert_in_sync(broker, sim)
    finally:
        await broker.disconnect()


async def test_client_id_in_use_on_reconnect_then_next_id_and_old_orders_reconciled(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    resting = await broker.place(buy(order_type=OrderType.LIMIT, limit_price=185.0), "q-old-id")
    sim.faults.client_id_in_use()  # TWS still holds the dead session's id
    sim.drop_connections()
    await wait_until(lambda: broker._reconnecting is not None and broker._reconnecting.done())
    assert (broker.client_id, sim.connected_client_ids()) == (8, {8})
    sim.set_price("AAPL", 184.0)  # fills; TWS pushes it only to client 7, now gone
    found = await broker.reconcile()  # what the operator (or the next reconnect) runs
    assert any("missed fill" in e.message for e in found)
    assert broker.store.order(resting.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    fresh = await broker.place(buy(), "q-new-id")
    await assert_in_sync(broker, sim)
    assert broker.store.order(fresh.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
