"""`quorum broker status|positions|orders|account`: what the configured broker holds.

The broker comes from ``adapters.brokers.factory.make_broker`` with the settings, except
for what the options override (``--broker``, ``--host``, ``--port``, ``--client-id``).
Read-only: these commands place and cancel nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from adapters.cli.common import fail, handle_errors, open_store, print_json, print_rows, settings

if TYPE_CHECKING:
    from config.settings import Settings
    from core.ports import Broker

T = TypeVar("T")

broker_app = typer.Typer(
    help="The broker account: paper (default) or IBKR through TWS / IB Gateway.",
    no_args_is_help=True,
)

BROKER_OPT = typer.Option(None, "--broker", help="paper or ibkr (default: settings).")
HOST_OPT = typer.Option(None, "--host", help="TWS / IB Gateway host (ibkr).")
PORT_OPT = typer.Option(None, "--port", help="TWS / IB Gateway port (ibkr).")
CLIENT_ID_OPT = typer.Option(None, "--client-id", help="API client id (ibkr).")
TIMEOUT_OPT = typer.Option(20.0, "--timeout", min=0.1, help="Seconds before giving up.")
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")


def register(app: typer.Typer) -> None:
    app.add_typer(broker_app, name="broker")


def _settings_with(
    broker: str | None, host: str | None, port: int | None, client_id: int | None
) -> Settings:
    from config.settings import BrokerSettings

    s = settings()
    raw = s.broker.model_dump()
    if broker is not None:
        if broker not in ("paper", "ibkr"):  # one line, not pydantic's multi-line dump
            raise fail(f"unknown --broker {broker!r}; valid: paper, ibkr")
        raw["kind"] = broker
    overrides = {"host": host, "port": port, "client_id": client_id}
    raw["ibkr"].update({k: v for k, v in overrides.items() if v is not None})
    return s.model_copy(update={"broker": BrokerSettings.model_validate(raw)})


def _query(
    ask: Callable[[Broker], Awaitable[T]],
    broker: str | None,
    host: str | None,
    port: int | None,
    client_id: int | None,
    timeout: float,
) -> tuple[Settings, T]:
    """Connect, ask, disconnect; a broker that does not answer in time is a temporary error."""
    import asyncio

    from adapters.brokers.factory import make_broker
    from core.errors import TemporaryError

    s = _settings_with(broker, host, port, client_id)
    store = open_store(s)
    try:
        instance = make_broker(s, store)

        async def session() -> T:
            await instance.connect()
            try:
                return await ask(instance)
            finally:
                await instance.disconnect()

        try:
            return s, asyncio.run(asyncio.wait_for(session(), timeout))
        except TimeoutError:
            raise TemporaryError(
                f"{s.broker.kind} broker did not answer within {timeout:g}s"
            ) from None
    finally:
        store.close()


def _table(columns: list[str], rows: list[list[Any]], empty: str) -> None:
    """Through ``print_rows``: order ids, client refs and statuses print whole (a rich
    table cut them to ``ib-e…`` / ``subm…`` at 80 columns)."""
    if not rows:
        typer.echo(empty)
        return
    numeric = {n for row in rows for n, v in enumerate(row) if isinstance(v, int | float)}
    cells = [[f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    print_rows(columns, cells, numeric)


@broker_app.command("status")
@handle_errors
def status(
    broker: str | None = BROKER_OPT,
    host: str | None = HOST_OPT,
    port: int | None = PORT_OPT,
    client_id: int | None = CLIENT_ID_OPT,
    timeout: float = TIMEOUT_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Which broker, live or paper, and a one-line summary of the account."""

    async def ask(b: Broker) -> dict[str, Any]:
        account = await b.account()
        return {
            "live": b.is_live,
            "connected": True,
            "open_orders": len(await b.open_orders()),
            "positions": len(await b.positions()),
            "account": account.model_dump(mode="json"),
        }

    s, answer = _query(ask, broker, host, port, client_id, timeout)
    info: dict[str, Any] = {"broker": s.broker.kind, "mode": s.mode, **answer}
    if s.broker.kind == "ibkr":
        ib = s.broker.ibkr
        info["endpoint"] = {"host": ib.host, "port": ib.port, "client_id": ib.client_id}
    else:
        info["store"] = str(s.sqlite_file)
    if json_out:
        print_json(info)
        return
    account = info["account"]
    where = info.get("endpoint") or info["store"]
    typer.echo(
        f"{info['broker']} broker ({'LIVE' if info['live'] else 'not live'}) at {where}: "
        f"equity {account['equity']:,.2f} {account['currency']}, "
        f"cash {account['cash']:,.2f}, {info['positions']} positions, "
        f"{info['open_orders']} open orders"
    )


@broker_app.command("positions")
@handle_errors
def positions(
    broker: str | None = BROKER_OPT,
    host: str | None = HOST_OPT,
    port: int | None = PORT_OPT,
    client_id: int | None = CLIENT_ID_OPT,
    timeout: float = TIMEOUT_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Open positions with their average price, last mark and P&L."""

    async def ask(b: Broker) -> list[Any]:
        return list(await b.positions())

    _, held = _query(ask, broker, host, port, client_id, timeout)
    if json_out:
        print_json(
            [
                {
                    **p.model_dump(mode="json"),
                    "market_value": p.market_value,
                    "unrealized_pnl": p.unrealized_pnl,
                }
                for p in held
            ]
        )
        return
    _table(
        ["symbol", "quantity", "avg price", "last", "market value", "unrealized", "realized"],
        [
            [
                p.symbol,
                p.quantity,
                p.avg_price,
                p.last_price,
                p.market_value,
                p.unrealized_pnl,
                p.realized_pnl,
            ]
            for p in held
        ],
        "no open positions",
    )


@broker_app.command("orders")
@handle_errors
def orders(
    broker: str | None = BROKER_OPT,
    host: str | None = HOST_OPT,
    port: int | None = PORT_OPT,
    client_id: int | None = CLIENT_ID_OPT,
    timeout: float = TIMEOUT_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Open orders (submitted or partly filled), oldest first."""

    async def ask(b: Broker) -> list[Any]:
        return list(await b.open_orders())

    _, working = _query(ask, broker, host, port, client_id, timeout)
    if json_out:
        print_json([o.model_dump(mode="json") for o in working])
        return
    _table(
        [
            "order",
            "client ref",
            "symbol",
            "side",
            "type",
            "qty",
            "filled",
            "limit",
            "stop",
            "status",
        ],
        [
            [
                o.order_id,
                o.client_ref,
                o.symbol,
                o.intent.side.value,
                o.intent.order_type.value,
                o.intent.quantity,
                o.filled_quantity,
                o.intent.limit_price or "-",
                o.intent.stop_price or "-",
                o.status.value,
            ]
            for o in working
        ],
        "no open orders",
    )


@broker_app.command("account")
@handle_errors
def account(
    broker: str | None = BROKER_OPT,
    host: str | None = HOST_OPT,
    port: int | None = PORT_OPT,
    client_id: int | None = CLIENT_ID_OPT,
    timeout: float = TIMEOUT_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Cash, equity and buying power."""

    async def ask(b: Broker) -> Any:
        return await b.account()

    _, summary = _query(ask, broker, host, port, client_id, timeout)
    if json_out:
        print_json(summary.model_dump(mode="json"))
        return
    _table(
        ["currency", "cash", "equity", "buying power"],
        [[summary.currency, summary.cash, summary.equity, summary.buying_power]],
        "",
    )
