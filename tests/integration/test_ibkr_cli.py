"""`quorum ibkr simulate` as a user runs it: a real process our broker connects to."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from adapters.brokers.ibkr import IBKRBroker
from adapters.cli.ibkr import parse_prices
from adapters.cli.main import app
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.orders import OrderIntent, OrderSide, OrderStatus, OrderType
from tests.fixtures.simulate_process import simulate_process as start_simulator
from tests.integration.conftest import sim_config

# every test here talks to a socket: a hang must fail fast, not stall the suite
pytestmark = pytest.mark.timeout(30)

REPO = Path(__file__).resolve().parents[2]


def test_parse_prices_reads_symbol_equals_price() -> None:
    assert parse_prices(["aapl=190.5", "TTE=61"]) == {"AAPL": 190.5, "TTE": 61.0}


@pytest.mark.parametrize("bad", ["AAPL", "AAPL=", "=5", "AAPL=-1", "AAPL=x"])
def test_parse_prices_when_malformed_then_exit_1(bad: str) -> None:
    with pytest.raises(typer.Exit) as err:
        parse_prices([bad])
    assert err.value.exit_code == 1


@pytest.fixture
def simulate_process() -> Iterator[tuple[subprocess.Popen[str], dict[str, object]]]:
    with start_simulator("--price", "AAPL=190") as started:
        yield started


async def test_simulate_command_serves_the_ibkr_broker_over_loopback(
    simulate_process: tuple[subprocess.Popen[str], dict[str, object]], tmp_path: Path
) -> None:
    proc, info = simulate_process
    assert info["host"] == "127.0.0.1" and info["prices"] == {"AAPL": 190.0}
    store = SqliteStore(tmp_path / "cli.db")
    broker = IBKRBroker(sim_config(int(info["port"])), store)  # type: ignore[call-overload]
    await broker.connect()
    try:
        order = await broker.place(
            OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=5), "q-cli"
        )
        await broker.sync()
        assert store.order(order.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
        assert (await broker.account()).cash < 1_000_000.0
    finally:
        await broker.disconnect()
        store.close()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert "simulator stopped" in out
    assert proc.returncode == 0


def test_broker_commands_json_against_the_simulator(
    simulate_process: tuple[subprocess.Popen[str], dict[str, object]],
) -> None:
    """`quorum broker status|positions|orders|account --broker ibkr --json` read the
    simulator's account: one filled market order, one resting limit order."""
    _, info = simulate_process
    port = int(info["port"])  # type: ignore[call-overload]

    async def trade() -> None:
        store = SqliteStore(load_settings().sqlite_file)  # the store the CLI opens
        broker = IBKRBroker(sim_config(port), store)
        await broker.connect()
        try:
            await broker.place(OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=5), "q-m")
            resting = OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=3,
                                  order_type=OrderType.LIMIT, limit_price=150.0)  # fmt: skip
            await broker.place(resting, "q-l")
            await broker.sync()
        finally:
            await broker.disconnect()
            store.close()

    asyncio.run(trade())
    endpoint = ["--broker", "ibkr", "--port", str(port), "--timeout", "10", "--json"]

    def run(command: str) -> Any:
        result = CliRunner().invoke(app, ["broker", command, *endpoint])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    status = run("status")
    assert (status["broker"], status["live"], status["connected"]) == ("ibkr", False, True)
    assert status["endpoint"]["port"] == port
    assert (status["positions"], status["open_orders"]) == (1, 1)
    assert [(p["symbol"], p["quantity"]) for p in run("positions")] == [("AAPL", 5)]
    assert [(o["client_ref"], o["status"]) for o in run("orders")] == [("q-l", "submitted")]
    account = run("account")
    assert account["currency"] == "USD"
    assert account["cash"] == pytest.approx(1_000_000.0 - 5 * 190.0 - 1.0)  # min commission


def test_broker_command_when_live_port_without_confirmation_then_exit_2_naming_it() -> None:
    result = CliRunner().invoke(app, ["broker", "status", "--broker", "ibkr", "--port", "7496"])
    assert result.exit_code == 2
    assert "LIVE trading port" in result.output and "live_confirmed" in result.output


def test_broker_command_when_nothing_listens_then_exit_1_cannot_connect() -> None:
    with socket.socket() as probe:  # a loopback port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["broker", "account", "--broker", "ibkr", "--port", str(port), "--timeout", "5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert f"cannot connect to TWS at 127.0.0.1:{port}" in result.output
