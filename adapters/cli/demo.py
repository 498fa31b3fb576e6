"""`quorum demo` (what `make demo` runs): a real multi-day simulation through all 22
agents on the shipped data, offline LLM backend, paper broker."""

from __future__ import annotations

import typer

from adapters.cli.common import handle_errors, print_json, settings

DEMO_FROM = "2012-12-01"
DEMO_TO = "2013-03-01"  # the last day of the shipped data


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        help=f"Simulate {DEMO_FROM}..{DEMO_TO} on the shipped data through all 22 agents "
        "(offline reasoning, paper broker) and write the report.",
    )(demo)


@handle_errors
def demo(
    start: str = typer.Option(DEMO_FROM, "--from", help="First day."),
    end: str = typer.Option(DEMO_TO, "--to", help="Last day."),
    json_out: bool = typer.Option(False, "--json", help="Summary as JSON."),
) -> None:
    import asyncio

    from adapters.cli.simulate import day_printer, parse_day, print_result
    from adapters.runtime import run_simulation, with_overrides

    s = with_overrides(settings(), broker="paper", llm="offline")
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    result = asyncio.run(
        run_simulation(
            s,
            first,
            last,
            llm="offline",
            name=f"demo-{first.isoformat()}_{last.isoformat()}",
            fresh=True,
            on_day=None if json_out else day_printer(),
        )
    )
    data = result.as_dict(s.broker.starting_cash)
    if json_out:
        data.pop("days")
        print_json(data)
        return
    print_result(data)
    typer.echo(f"journal: {s.state_dir / 'simulations' / result.name / 'quorum.db'}")
