"""`quorum ibkr simulate`: run the TWS-protocol simulator in the foreground.

Point ib_async, `quorum broker ... --broker ibkr --port <port>` or any TWS API client at
it to try the IBKR path without TWS or an IBKR account. Loopback only.
"""

from __future__ import annotations

import typer

from adapters.cli.common import EXIT_INVALID, fail, handle_errors, print_json

DEFAULT_PORT = 7497  # the paper TWS port, so clients configured for paper TWS just work

ibkr_app = typer.Typer(help="Interactive Brokers tools: the TWS-protocol simulator.")


def register(app: typer.Typer) -> None:
    app.add_typer(ibkr_app, name="ibkr")


def parse_prices(items: list[str]) -> dict[str, float]:
    """``["AAPL=190.5", "TTE=61"]`` -> ``{"AAPL": 190.5, "TTE": 61.0}``."""
    prices: dict[str, float] = {}
    for item in items:
        symbol, sep, value = item.partition("=")
        try:
            price = float(value)
        except ValueError:
            price = -1.0
        if not sep or not symbol.strip() or price <= 0:
            raise fail(f"--price expects SYMBOL=PRICE with a positive price, got {item!r}",
                       EXIT_INVALID)  # fmt: skip
        prices[symbol.strip().upper()] = price
    return prices


@ibkr_app.command("simulate")
@handle_errors
def simulate(
    port: int = typer.Option(
        DEFAULT_PORT,
        "--port",
        help="Port, default 7497 (0: any free port).",  # on the option's own line
    ),
    price: list[str] = typer.Option(
        [],
        "--price",
        help="Market price per symbol, e.g. --price AAPL=190 (repeatable). Default: the"
        " symbol's last close in the shipped daily files.",
    ),
    account: str = typer.Option("DU1234567", "--account", help="Paper account id to report."),
    cash: float = typer.Option(1_000_000.0, "--cash", help="Starting cash in USD."),
    json_out: bool = typer.Option(False, "--json", help="Print the start-up info as JSON."),
) -> None:
    """Serve the TWS API on 127.0.0.1:7497 (or --port) until Ctrl-C.

    Market orders fill at once at the symbol's --price, else at its last close
    in the shipped daily files (AAPL, MSFT, IBM, GOOG: 2013-03-01). A symbol
    with neither (the Euronext ones) has no price: its orders rest until one
    is set. Daily historical bars are served from the same files. Text
    protocol, server version 176.
    """
    import asyncio

    from adapters.brokers.ibkr_sim import TwsSimulator

    prices = parse_prices(price)
    if cash <= 0:
        raise fail("--cash must be positive", EXIT_INVALID)

    async def serve() -> None:
        sim = TwsSimulator(port=port, prices=prices, account=account, starting_cash=cash,
                           reference_prices=True)  # fmt: skip
        try:
            await sim.start()
        except OSError as exc:
            raise fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
        board = dict(sorted(sim.book.prices.items()))  # given prices + last shipped closes
        info = {"host": "127.0.0.1", "port": sim.port, "account": account, "prices": prices,
                "server_version": 176, "market_prices": board}  # fmt: skip
        if json_out:
            print_json(info)
        else:
            typer.echo(f"TWS simulator on 127.0.0.1:{sim.port} (account {account}); Ctrl-C stops.")
            shown = ", ".join(f"{k}={v:g}" for k, v in board.items())
            typer.echo(f"Market orders fill at: {shown or 'nothing priced (use --price)'}")
            typer.echo(f"Try: quorum broker account --broker ibkr --port {sim.port}")
        try:
            await asyncio.Event().wait()
        finally:
            await sim.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        typer.echo("simulator stopped")
