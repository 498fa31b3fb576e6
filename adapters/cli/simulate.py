"""`quorum simulate --from D1 --to D2`: the full agent graph once per trading day."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from adapters.cli.common import fail, handle_errors, print_json, settings


def register(app: typer.Typer) -> None:
    app.command(
        "simulate",
        help="Run the full agent graph once per XNYS session over history (paper broker, "
        "fills at the next open, agents see only data up to each day).",
    )(simulate)


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} must be YYYY-MM-DD, not {value!r}") from None


def day_printer() -> Any:
    from rich.console import Console

    console = Console(stderr=True)

    def on_day(d: dict[str, Any]) -> None:
        console.print(
            f"{d['date']}  {d['status']:<9} ideas={d['ideas']:<2} orders={len(d['orders']):<2}"
            f" fills={d['fills']:<2} rejected={len(d['rejected']):<2} equity={d['equity']}"
        )

    return on_day


def print_result(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("", "", title=f"simulation {result['name']}")
    for key, value in result["summary"].items():
        table.add_row(key, str(value))
    console = Console()
    console.print(table)
    console.print(f"report: {result['report']}")


@handle_errors
def simulate(
    start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last day (YYYY-MM-DD)."),
    llm: str | None = typer.Option(None, "--llm", help="offline | anthropic | replay:FILE"),
    universe: str | None = typer.Option(None, "--universe", help="Universe CSV file or name."),
    name: str | None = typer.Option(None, "--name", help="Default: <from>_<to>."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard an earlier run of this name."),
    json_out: bool = typer.Option(False, "--json", help="Summary and per-day results as JSON."),
) -> None:
    import asyncio

    from adapters.runtime import run_simulation, with_overrides

    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    if last < first:
        raise fail(f"--to {last} is before --from {first}")
    from adapters.llm.factory import check_spec

    s = with_overrides(settings(), broker="paper", llm=llm)
    check_spec(llm, s)
    result = asyncio.run(
        run_simulation(
            s,
            first,
            last,
            llm=llm,
            universe_file=universe,
            name=name,
            fresh=fresh,
            on_day=None if json_out else day_printer(),
        )
    )
    data = result.as_dict(s.broker.starting_cash)
    if json_out:
        print_json(data)
    else:
        print_result(data)
