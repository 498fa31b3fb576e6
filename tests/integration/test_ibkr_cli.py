"""`quorum ibkr simulate` as a user runs it: a real process our broker connects to."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from adapters.brokers.ibkr import IBKRBroker
from adapters.cli.ibkr import parse_prices
from adapters.storage.sqlite import SqliteStore
from core.orders import OrderIntent, OrderSide, OrderStatus
from tests.integration.conftest import sim_config

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
    cmd = [sys.executable, "-m", "adapters.cli.main", "ibkr", "simulate", "--port", "0",
           "--price", "AAPL=190", "--json"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    lines = []
    while not lines or lines[-1] != "}":
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"simulator exited: {proc.stderr.read() if proc.stderr else ''}")
        lines.append(line.rstrip("\n"))
    try:
        yield proc, json.loads("\n".join(lines))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)


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
