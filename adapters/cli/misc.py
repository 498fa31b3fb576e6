"""`quorum version` and the interim `quorum demo` (replaced by the daily-cycle demo)."""

from __future__ import annotations

import typer

from adapters.cli.common import print_json


def register(app: typer.Typer) -> None:
    app.command("version", help="Print Quorum's version (and key library versions with --json).")(
        version
    )
    app.command("demo", help="Run the demo (interim: data, portfolio, journal, audit).")(
        demo_foundation
    )


def version(
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    try:
        ours = pkg_version("quorum")
    except PackageNotFoundError:
        ours = "0+unknown"
    if not json_out:
        typer.echo(f"quorum {ours}")
        return
    libs = {}
    for lib in ("pydantic", "numpy", "numba", "langgraph", "ib_async", "redis", "pymongo"):
        try:
            libs[lib] = pkg_version(lib)
        except PackageNotFoundError:
            libs[lib] = None
    print_json({"quorum": ours, "libraries": libs})


def demo_foundation(json_out: bool = typer.Option(False, "--json")) -> None:
    """Interim demo (until the daily cycle lands): validate the shipped data, build a
    portfolio from real fills at the last close, journal the A2A messages and audit it."""
    from datetime import UTC, datetime

    from adapters.cli.common import open_store, settings
    from adapters.marketdata.files import FileMarketData
    from config.secrets import audit_key
    from config.universe import load_universe
    from core.audit import AuditLog
    from core.messages import BarsPublished, Envelope, FillPayload
    from core.orders import Fill, OrderSide
    from core.portfolio import Portfolio, apply_fill

    s = settings()
    market = FileMarketData(s.data_dir / "us_daily", load_universe("us_sample"))
    store = open_store(s)
    secret = s.secrets.audit_key
    audit = AuditLog(store, audit_key(secret.get_secret_value() if secret else None, s.state_dir))
    cycle_id = "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    closes = {sym: market.bars(sym).last_close for sym in market.symbols()}
    last_ts = max(market.bars(sym).timestamps[-1] for sym in market.symbols())
    root = Envelope(
        cycle_id=cycle_id,
        sender="market_data",
        payload=BarsPublished(
            as_of=datetime.fromisoformat(str(last_ts)[:19]).replace(tzinfo=UTC),
            symbols=tuple(closes),
            bars=sum(len(market.bars(sym)) for sym in closes),
            source="data/us_daily",
            last_close=closes,
        ),
    )
    store.append_message(root)
    portfolio = Portfolio.open(s.broker.starting_cash)
    for sym, px in closes.items():
        qty = int(portfolio.equity * 0.2 // px)
        fill = Fill(
            fill_id=f"{cycle_id}-{sym}",
            order_id=f"{cycle_id}-{sym}",
            client_ref=f"{cycle_id}-{sym}",
            symbol=sym,
            side=OrderSide.BUY,
            quantity=qty,
            price=px,
            commission=max(1.0, 0.005 * qty),
        )
        portfolio = apply_fill(portfolio, fill)
        store.append_message(root.reply("execution", FillPayload(fill=fill)))
        audit.append("demo", "fill", fill.model_dump(mode="json"))
    store.save_snapshot(portfolio, label="demo")
    summary = {
        "cycle_id": cycle_id,
        "symbols": sorted(closes),
        "equity": round(portfolio.equity, 2),
        "cash": round(portfolio.cash, 2),
        "positions": {s_: p.quantity for s_, p in portfolio.positions.items()},
        "journaled": len(store.messages_by_cycle(cycle_id)),
        "audit": audit.verify().model_dump(),
    }
    store.close()
    if json_out:
        print_json(summary)
    else:
        for k, v in summary.items():
            typer.echo(f"{k:>10}: {v}")
