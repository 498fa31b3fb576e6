"""`quorum cycle run|replay`: one daily cycle through the 22 agents, or a past one again."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from adapters.cli.common import fail, handle_errors, print_json, print_rows, settings

cycle_app = typer.Typer(help="The daily agent cycle.", no_args_is_help=True)

DESK_OF_NODE = {
    "open_cycle": "open",
    "data_agent": "data desk",
    "data_checked": "data desk",
    "strategy_agent": "strategy desk",
    "shortlist": "strategy desk",
    "bull": "debate",
    "bear": "debate",
    "research_manager": "research",
    "risk_agent": "risk desk",
    "risk_gate": "risk desk",
    "pyramiding_agent": "pyramiding desk",
    "portfolio_manager": "execution desk",
    "execution": "execution desk",
    "reconciliation": "execution desk",
    "reflection": "reflection desk",
    "proposal_author": "reflection desk",
    "report": "report",
}


def register(app: typer.Typer) -> None:
    app.add_typer(cycle_app, name="cycle")


def progress_printer() -> Any:
    """An update hook that prints one line per finished node (rich, to stderr)."""
    from rich.console import Console

    console = Console(stderr=True)

    def on_update(node: str, update: dict[str, Any]) -> None:
        steps = update.get("steps") or [node]
        produced = len(update.get("messages") or [])
        console.print(
            f"[green]✓[/green] {DESK_OF_NODE.get(node, node):<16} {steps[-1]:<34}"
            f" [dim]{produced} message(s)[/dim]"
        )

    return on_update


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    llm = summary["llm"]
    console.print(
        f"[bold]cycle {summary['cycle_id']}[/bold] {summary['date']}  status={summary['status']}"
        f"  ideas={summary['ideas']}  fills={summary['fills']}  equity={summary['equity']}"
    )
    console.print(
        f"LLM: {llm['calls']} calls, {llm['tokens']} tokens, ${llm['cost_usd']:.4f},"
        f" {llm['fallbacks']} fallbacks"
    )
    if summary["orders"]:  # print_rows: ids and client refs never cut at 80 columns
        rows = [[o["order_id"], o["symbol"], o["side"], str(o["qty"]), o["type"], o["status"],
                 o["client_ref"]] for o in summary["orders"]]  # fmt: skip
        print_rows(["order", "symbol", "side", "qty", "type", "status", "client_ref"], rows, {3})
    else:
        console.print("no orders")
    for r in summary["rejected"]:
        console.print(f"[yellow]rejected[/yellow] {r['source']}: {r['reason']}")
    console.print(f"report: {summary['report']}")


def last_data_date(market: Any, symbols: list[str]) -> date:
    last: date = max(market.bars(s).timestamps[-1].astype("datetime64[D]").item() for s in symbols)
    return last


@cycle_app.command("run")
@handle_errors
def run(
    on: str | None = typer.Option(None, "--date", help="As-of date (default: last bar)."),
    broker: str | None = typer.Option(None, "--broker", help="paper | ibkr"),
    llm: str | None = typer.Option(None, "--llm", help="offline | anthropic | replay:FILE"),
    universe: str | None = typer.Option(None, "--universe", help="Universe CSV file or name."),
    cycle_id: str | None = typer.Option(None, "--cycle-id", help="Default: cycle-<date>."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Run one cycle (or resume it after a crash: same cycle id)."""
    import asyncio

    from adapters.llm.factory import check_spec
    from adapters.runtime import (
        check_cycle_date,
        cycle_service,
        load_market,
        resolve_universe,
        with_overrides,
    )

    if broker not in (None, "paper", "ibkr"):
        raise fail(f"--broker must be paper or ibkr, not {broker!r}")
    s = with_overrides(settings(), broker=broker, llm=llm)
    check_spec(llm, s)
    market = load_market(s, universe)
    symbols = resolve_universe(s, market, universe)
    try:
        as_of = date.fromisoformat(on) if on else last_data_date(market, symbols)
    except ValueError:
        raise fail(f"--date must be YYYY-MM-DD, not {on!r}") from None
    check_cycle_date(market, symbols, as_of)

    async def go() -> dict[str, Any]:
        async with cycle_service(s, llm=llm, universe_file=universe, market=market) as service:
            hook = None if json_out else progress_printer()
            return await service.run(as_of, cycle_id=cycle_id, on_update=hook)

    summary = asyncio.run(go())
    if json_out:
        print_json(summary)
    else:
        print_summary(summary)


@cycle_app.command("replay")
@handle_errors
def replay(
    cycle_id: str = typer.Argument(..., help="The cycle to re-run."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable result."),
) -> None:
    """Re-run a past cycle from its recorded inputs and the LLM response cache (in a
    scratch copy of the store) and check it makes the same orders. Exit 1 if not."""
    import asyncio

    from adapters.runtime import replay_cycle
    from workflows.summary import describe_intent

    s = settings()
    result = asyncio.run(replay_cycle(s, cycle_id, s.state_dir / "replays" / cycle_id))
    if json_out:
        print_json(result)
    else:
        verdict = "same orders" if result["same_orders"] else "DIFFERENT orders"
        typer.echo(
            f"replayed {cycle_id} ({result['date']}, llm={result['llm']}): {verdict}:"
            f" {len(result['original'])} original, {len(result['replayed'])} replayed"
        )
        for side in ("original", "replayed"):
            for intent in result[side]:
                typer.echo(f"  {side}: {describe_intent(intent)}")
        for line in result["differences"]:
            typer.echo(f"  differs: {line}")
    if not result["same_orders"]:
        raise typer.Exit(1)
