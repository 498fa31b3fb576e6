"""`quorum journal tail`: the newest A2A messages."""

from __future__ import annotations

import typer

from adapters.cli.common import handle_errors, open_store, print_json, settings

journal_app = typer.Typer(help="The append-only A2A message journal.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(journal_app, name="journal")


@journal_app.command("tail")
@handle_errors
def tail(
    n: int = typer.Option(20, "-n", "--lines", min=1, help="How many messages."),
    cycle: str | None = typer.Option(None, "--cycle", help="Only this cycle id."),
    json_out: bool = typer.Option(False, "--json", help="Full envelopes as a JSON array."),
) -> None:
    """Show the newest journaled messages, oldest first."""
    s = settings()
    store = open_store(s)
    try:
        messages = store.tail(n, cycle_id=cycle)
    finally:
        store.close()
    if json_out:
        print_json([m.model_dump(mode="json") for m in messages])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("time (UTC)", "cycle", "sender", "→", "kind", "id", "cause")
    for m in messages:
        table.add_row(
            m.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            m.cycle_id,
            m.sender,
            m.recipient,
            m.kind,
            m.id[:10],
            (m.causation_id or "")[:10],
        )
    Console().print(table)
    if not messages:
        typer.echo("journal is empty" + (f" for cycle {cycle}" if cycle else ""))
