"""IBKR simulator fixtures: the real ib_async client against ``TwsSimulator`` on a random
loopback port, with short timeouts and backoff so fault scenarios stay fast."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.brokers.ibkr import IBKRBroker, IbkrConfig
from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.storage.sqlite import SqliteStore
from core.orders import CANCELLABLE

SIM_ACCOUNT = "DU1234567"
FAST = {
    "connect_timeout_s": 2.0,
    "request_timeout_s": 2.0,
    "ack_timeout_s": 1.0,
    "commission_wait_s": 0.2,
    "reconnect_initial_s": 0.02,
    "reconnect_max_s": 0.1,
    "pacing_backoff_s": 0.01,
    "jitter_seed": 7,
}


def is_loopback(address: object) -> bool:
    """AF_UNIX paths and loopback IPs (or ``localhost``) only."""
    if not isinstance(address, tuple):
        return True
    host = str(address[0]).split("%")[0]
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every socket this process opens must stay on loopback: a connect elsewhere is
    refused (``PermissionError``) and fails the test even if the caller swallowed it."""
    refused: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(address: object) -> None:
        if not is_loopback(address):
            refused.append(repr(address))
            raise PermissionError(f"tests stay on loopback; refused {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield refused
    assert refused == [], f"connections outside loopback attempted: {refused}"


def sim_config(port: int, **overrides: Any) -> IbkrConfig:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": port, "client_id": 7,
                              "account": SIM_ACCOUNT, **FAST, **overrides}  # fmt: skip
    return IbkrConfig(**values)


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


@pytest.fixture
async def sim() -> AsyncIterator[TwsSimulator]:
    simulator = TwsSimulator(
        prices={"AAPL": 190.0, "MSFT": 410.0, "TTE": 60.0}, account=SIM_ACCOUNT
    )
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "ibkr.db")
    yield db
    db.close()


@pytest.fixture
async def broker(sim: TwsSimulator, store: SqliteStore) -> AsyncIterator[IBKRBroker]:
    ibkr = IBKRBroker(sim_config(sim.port), store)
    await ibkr.connect()
    try:
        yield ibkr
    finally:
        await ibkr.disconnect()


class IbkrSimHarness:
    """Contract-suite harness: IBKRBroker + real ib_async against the simulator.

    Orders wait for ``market()`` (``fill_on_arrival=False``), as the suite expects; after
    moving the market the harness makes one round trip to TWS so every status, fill and
    account update the move caused has been processed."""

    def __init__(self, sim: TwsSimulator, db_path: Path) -> None:
        self.sim = sim
        self._db_path = db_path
        self._store = SqliteStore(db_path)
        self.broker = IBKRBroker(sim_config(sim.port), self._store)

    @classmethod
    async def start(cls, directory: Path) -> IbkrSimHarness:
        sim = TwsSimulator(account=SIM_ACCOUNT, starting_cash=100_000.0, fill_on_arrival=False)
        await sim.start()
        harness = cls(sim, directory / "ibkr.db")
        await harness.broker.connect()
        return harness

    async def market(self, symbol: str, price: float, volume: int) -> None:
        self.sim.set_price(symbol, price, volume)
        await self.broker.sync()

    async def restart(self) -> IBKRBroker:
        old = self.broker
        old._closing = True  # the process "dies": no flush, no reconnect, socket gone
        old.client.disconnect()
        await wait_until(lambda: 7 not in self.sim.connected_client_ids())
        self._store.close()
        self._store = SqliteStore(self._db_path)
        self.broker = IBKRBroker(sim_config(self.sim.port), self._store)
        await self.broker.connect()
        return self.broker

    async def close(self) -> None:
        await self.broker.disconnect()
        self._store.close()
        await self.sim.stop()


_SIM_TO_LOCAL = {"Filled": "filled", "Cancelled": "cancelled", "ApiCancelled": "cancelled"}


async def assert_in_sync(broker: IBKRBroker, sim: TwsSimulator) -> None:
    """Local state equals the simulator's, and no orderRef reached it more than once."""
    await broker.sync()
    for sim_order in sim.book.orders.values():
        ref = sim_order.order_ref
        assert sim.orders_placed(ref) == 1, f"{ref} sent {sim.orders_placed(ref)} times"
        local = broker.store.order_by_client_ref(ref)
        assert local is not None, f"{ref} unknown locally"
        assert local.filled_quantity == sim_order.filled, ref
        if sim_order.completed_status.startswith("Rejected"):
            expected = "rejected"
        elif sim_order.status in _SIM_TO_LOCAL:
            expected = _SIM_TO_LOCAL[sim_order.status]
        else:
            expected = "partially_filled" if sim_order.filled else "submitted"
        assert local.status.value == expected, (
            f"{ref}: local {local.status}, sim {sim_order.status}"
        )
    at_sim = {o.order_ref for o in sim.book.orders.values()}
    for local in broker.tracker.orders():  # nothing new or open here that TWS lacks
        if local.status in CANCELLABLE:
            assert local.client_ref in at_sim, f"{local.client_ref} {local.status} locally only"
    local_fills = {f.fill_id for f in broker.store.fills()}
    assert local_fills == {e.exec_id for e in sim.book.executions}
    local_positions = {p.symbol: p.quantity for p in await broker.positions()}
    sim_positions = {
        listing.symbol: h.quantity
        for con_id, h in sim.book.holdings.items()
        if h.quantity and (listing := sim.book.catalog.by_con_id(con_id)) is not None
    }
    assert local_positions == sim_positions
