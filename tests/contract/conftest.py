"""Harnesses for the broker contract suite: one per ``Broker`` implementation.

A harness owns a connected broker and can move its market. To run the suite against
another implementation, add one entry to ``HARNESSES``: a coroutine function that takes a
fresh directory and returns an object with this shape:

- ``broker``: the connected ``Broker`` under test;
- ``async market(symbol, price, volume)``: the market trades at ``price``; resting orders
  that this price reaches fill, at most ``volume`` shares in total, oldest order first.
  It returns once the broker has processed every resulting status and fill (a harness
  for an asynchronous broker waits for them; for "nothing filled" it waits long enough
  to be sure);
- ``async restart() -> Broker``: drop the current broker *without* a clean shutdown of
  its state, build a new one on the same persisted state, connect it, make it
  ``broker`` and return it;
- ``async close()``: release everything.

Conventions every harness shares: each test starts from an empty account (no orders,
fills or positions), account currency USD, starting cash at least 100,000, no slippage (a
market order fills at ``price``), commissions whatever the broker charges.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

from core.ports import Broker, Store
from tests.integration.conftest import loopback_only  # noqa: F401  (autouse: loopback only)


class BrokerHarness(Protocol):
    broker: Broker

    async def market(self, symbol: str, price: float, volume: int) -> None: ...
    async def restart(self) -> Broker: ...
    async def close(self) -> None: ...


class PaperHarness:
    """PaperBroker on a SQLite file; the market is one flat bar (O = H = L = C = price)."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._store = self._open_store()
        self.broker: Broker = self._new_broker()

    @classmethod
    async def start(cls, directory: Path) -> PaperHarness:
        harness = cls(directory / "paper.db")
        await harness.broker.connect()
        return harness

    def _open_store(self) -> Store:
        from adapters.storage.sqlite import SqliteStore

        return SqliteStore(self._db_path)

    def _new_broker(self) -> Broker:
        from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
        from tools.costs import CommissionModel, SlippageModel

        config = PaperBrokerConfig(
            starting_cash=100_000.0,
            slippage=SlippageModel(bps=0.0),
            max_volume_share=1.0,  # `volume` is exactly what may fill
            commissions={"USD": CommissionModel.ibkr_us_fixed()},
        )
        return PaperBroker(self._store, config)

    async def market(self, symbol: str, price: float, volume: int) -> None:
        from adapters.brokers.paper import PaperBroker

        assert isinstance(self.broker, PaperBroker)
        await self.broker.on_bar(symbol, price, price, price, price, volume)

    async def restart(self) -> Broker:
        # No disconnect(): the old process "died"; a new one opens the database afresh.
        self._store.close()
        self._store = self._open_store()
        self.broker = self._new_broker()
        await self.broker.connect()
        return self.broker

    async def close(self) -> None:
        await self.broker.disconnect()
        self._store.close()


class PaperMongoHarness(PaperHarness):
    """The same paper broker on the MongoDB store (mongomock): state lives in the Store
    port, whichever backend holds it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        super().__init__(Path("not-used-by-mongo"))

    @classmethod
    async def start(cls, directory: Path) -> PaperHarness:
        import mongomock

        harness = cls(mongomock.MongoClient())
        await harness.broker.connect()
        return harness

    def _open_store(self) -> Store:
        from adapters.storage.mongo import MongoStore

        return MongoStore(self._client, "contract")


HarnessFactory = Callable[[Path], Awaitable[BrokerHarness]]


async def _ibkr_sim_harness(directory: Path) -> BrokerHarness:
    """IBKRBroker + the real ib_async client against the TWS simulator (loopback)."""
    from tests.integration.conftest import IbkrSimHarness

    return await IbkrSimHarness.start(directory)


# Order = parametrisation order. One entry per implementation.
HARNESSES: dict[str, HarnessFactory] = {
    "paper": PaperHarness.start,
    "paper_mongo": PaperMongoHarness.start,
    "ibkr_sim": _ibkr_sim_harness,
}


@pytest.fixture(params=list(HARNESSES))
async def broker_harness(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[BrokerHarness]:
    harness = await HARNESSES[request.param](tmp_path)
    try:
        yield harness
    finally:
        await harness.close()
