"""`quorum journal tail`: the newest A2A messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from adapters.cli.common import (
    EXIT_INVALID,
    fail,
    handle_errors,
    open_store,
    print_json,
    print_rows,
    settings,
)

if TYPE_CHECKING:
    from core.ports import Store

SHOWN_KNOWN = 5  # cycle ids listed when an unknown one is asked for

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
    """Show the newest journaled messages, oldest first. An unknown --cycle is an error
    (exit 1) that lists the newest known cycle ids."""
    s = settings()
    store = open_store(s)
    try:
        messages = store.tail(n, cycle_id=cycle)
        if cycle is not None and not messages:
            raise unknown_cycle(cycle, known_cycles(store))
    finally:
        store.close()
    if json_out:
        print_json([m.model_dump(mode="json") for m in messages])
        return
    if not messages:
        typer.echo("journal is empty")
        return
    rows = [
        [
            m.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            m.cycle_id,
            m.sender,
            m.recipient,
            m.kind,
            m.id[:10],
            (m.causation_id or "")[:10],
        ]
        for m in messages
    ]
    print_rows(("time (UTC)", "cycle", "sender", "→", "kind", "id", "cause"), rows, right=set())


def known_cycles(store: Store) -> list[str]:
    """Cycle ids with journaled messages, newest first: recorded cycles by date, then any
    other id seen among the newest messages (simulations, replays, tests)."""
    from workflows.service import CYCLES

    docs = sorted(store.documents(CYCLES), key=lambda d: str(d.get("as_of", "")), reverse=True)
    ids = [str(d["cycle_id"]) for d in docs if d.get("cycle_id")]
    for message in reversed(store.tail(500)):
        if message.cycle_id not in ids:
            ids.append(message.cycle_id)
    return ids


def unknown_cycle(cycle: str, known: list[str]) -> typer.Exit:
    if not known:
        return fail(f"no cycle {cycle!r} in the journal (the journal is empty)", EXIT_INVALID)
    shown = ", ".join(known[:SHOWN_KNOWN])
    more = f" and {len(known) - SHOWN_KNOWN} more" if len(known) > SHOWN_KNOWN else ""
    return fail(f"no cycle {cycle!r} in the journal; known cycles: {shown}{more}", EXIT_INVALID)
