"""`quorum broker ...` against the paper account in the settings' SQLite file."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from adapters.brokers import factory
from adapters.brokers.paper import PaperBroker
from adapters.cli.main import app
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.orders import OrderIntent, OrderSide, OrderType

runner = CliRunner()


@pytest.fixture
def trading_history() -> None:
    """A paper account with one position and one resting order, in ./var/quorum.db."""

    async def trade() -> None:
        store = SqliteStore(load_settings().sqlite_file)
        broker = PaperBroker(store)
        await broker.connect()
        await broker.place(OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=10), "c1")
        await broker.on_bar("AAPL", 100.0, 101.0, 99.0, 100.0, 1_000_000)
        limit = OrderIntent(
            symbol="MSFT",
            side=OrderSide.BUY,
            quantity=5,
            order_type=OrderType.LIMIT,
            limit_price=50.0,
        )
        await broker.place(limit, "c2")
        await broker.disconnect()
        store.close()

    asyncio.run(trade())


def _json(args: list[str]) -> object:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_broker_status_when_fresh_then_paper_with_starting_cash() -> None:
    info = _json(["broker", "status"])
    assert isinstance(info, dict)
    assert (info["broker"], info["live"], info["mode"]) == ("paper", False, "paper")
    assert info["account"]["cash"] == 100_000.0
    assert (info["positions"], info["open_orders"]) == (0, 0)
    assert info["store"].endswith("quorum.db")


@pytest.mark.usefixtures("trading_history")
def test_broker_positions_orders_account_show_persisted_paper_state() -> None:
    positions = _json(["broker", "positions"])
    assert isinstance(positions, list)
    assert [(p["symbol"], p["quantity"]) for p in positions] == [("AAPL", 10)]
    orders = _json(["broker", "orders"])
    assert isinstance(orders, list)
    assert [(o["client_ref"], o["status"]) for o in orders] == [("c2", "submitted")]
    account = _json(["broker", "account"])
    assert isinstance(account, dict)
    assert account["cash"] < 100_000.0 - 1_000.0  # bought 10 at ~100.05 plus commission


@pytest.mark.usefixtures("trading_history")
def test_broker_tables_render_for_humans() -> None:
    result = runner.invoke(app, ["broker", "positions"])
    assert result.exit_code == 0 and "AAPL" in result.stdout
    result = runner.invoke(app, ["broker", "orders"])
    assert result.exit_code == 0 and "c2" in result.stdout and "LMT" in result.stdout
    result = runner.invoke(app, ["broker", "status"])
    assert "1 positions, 1 open orders" in result.stdout


def test_broker_positions_when_none_then_says_so() -> None:
    result = runner.invoke(app, ["broker", "positions"])
    assert result.exit_code == 0
    assert "no open positions" in result.stdout


def test_broker_when_unknown_kind_then_config_error_exit_2() -> None:
    result = runner.invoke(app, ["broker", "status", "--broker", "bogus"])
    assert result.exit_code == 2
    assert "unknown --broker 'bogus'; valid: paper, ibkr" in result.output
    assert "validation error" not in result.output  # one clear line, not pydantic's dump


def test_broker_when_ibkr_not_available_then_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "IBKR_MODULE", "adapters.brokers.no_such_ibkr")
    result = runner.invoke(app, ["broker", "account", "--broker", "ibkr", "--port", "4002"])
    assert result.exit_code == 2
    assert "not installed" in result.output


def test_broker_options_override_ibkr_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def create_broker(settings, store):  # type: ignore[no-untyped-def]
        seen["ibkr"] = settings.broker.ibkr
        return PaperBroker(store)

    monkeypatch.setattr(factory, "_ibkr_factory", lambda: create_broker)
    args = [
        "broker",
        "status",
        "--broker",
        "ibkr",
        "--host",
        "127.0.0.1",
        "--port",
        "4002",
        "--client-id",
        "99",
    ]
    info = _json(args)
    assert isinstance(info, dict)
    assert info["endpoint"] == {"host": "127.0.0.1", "port": 4002, "client_id": 99}
    assert (seen["ibkr"].port, seen["ibkr"].client_id) == (4002, 99)


def test_broker_when_broker_does_not_answer_then_temporary_error_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Silent(PaperBroker):
        async def connect(self) -> None:
            await asyncio.sleep(10)

    monkeypatch.setattr(factory, "_ibkr_factory", lambda: lambda s, store: Silent(store))
    result = runner.invoke(app, ["broker", "status", "--broker", "ibkr", "--timeout", "0.2"])
    assert result.exit_code == 1
    assert "did not answer within 0.2s" in result.output


def test_broker_orders_when_80_columns_then_ids_refs_and_status_print_whole() -> None:
    ref = "q-cycle-2013-02-28-stop-988a3dad522a3712"  # a recreated stop's client ref

    async def rest_a_stop() -> None:
        store = SqliteStore(load_settings().sqlite_file)
        broker = PaperBroker(store)
        await broker.connect()
        stop = OrderIntent(symbol="GOOG", side=OrderSide.SELL, quantity=74,
                           order_type=OrderType.STOP, stop_price=389.44)  # fmt: skip
        await broker.place(stop, ref)
        await broker.disconnect()
        store.close()

    asyncio.run(rest_a_stop())
    result = runner.invoke(app, ["broker", "orders"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert ref in result.stdout and "submitted" in result.stdout and "389.44" in result.stdout
    assert "…" not in result.stdout  # nothing cut (rich used to print `q-cyc…`, `subm…`)
