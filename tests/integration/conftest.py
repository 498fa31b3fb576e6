"""IBKR simulator fixtures: the real ib_async client against ``TwsSimulator`` on a random
loopback port, with short timeouts and backoff so fault scenarios stay fast."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.brokers.ibkr import IBKRBroker, IbkrConfig
from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.storage.sqlite import SqliteStore

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
def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    db = SqliteStore(tmp_path / "ibkr.db")
    yield db  # type: ignore[misc]
    db.close()


@pytest.fixture
async def broker(sim: TwsSimulator, store: SqliteStore) -> AsyncIterator[IBKRBroker]:
    ibkr = IBKRBroker(sim_config(sim.port), store)
    await ibkr.connect()
    try:
        yield ibkr
    finally:
        await ibkr.disconnect()
