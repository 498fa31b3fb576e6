"""`quorum trading`: the operator's kill switch and trading state, from the terminal.

Each command goes through the operator service as the local operator (settings
``operators.local_operator``, else the login name; ``--actor`` names another enrolled
operator): the same roles, one-time passwords and audit as every chat transport.
"""

from __future__ import annotations

import typer

from adapters.cli.common import EXIT_INVALID, fail, handle_errors, print_json

trading_app = typer.Typer(
    help="Trading state (ACTIVE / REDUCING / HALTED) and the kill switch. Changes are "
    "stored, audited, and shared with every process when the bus is Redis. Each command "
    "runs as an enrolled operator (`quorum operators add`).",
    no_args_is_help=True,
)

REASON = typer.Option(..., "--reason", "-r", help="Why: kept in the audit log.")
ACTOR = typer.Option(
    None,
    "--actor",
    help="The enrolled operator to act as (default: operators.local_operator, else your "
    "login name).",
)
TOTP = typer.Option(None, "--totp", help="A fresh code from your authenticator app.")
JSON = typer.Option(False, "--json", help="Print the resulting status as JSON.")


def register(app: typer.Typer) -> None:
    app.add_typer(trading_app, name="trading")


def _apply(
    action: str, reason: str | None, actor: str | None, json_out: bool, totp: str | None = None
) -> None:
    import asyncio

    from adapters.cli.operators import local_caller, open_service
    from workflows.operator import CommandRequest
    from workflows.operators import Platform

    with open_service() as (s, service):
        request = CommandRequest(
            caller=local_caller(s, Platform.CLI, actor),
            command=action,
            args=[reason] if reason else [],
            totp=totp,
        )
        result = asyncio.run(service.execute(request))
    if not result.ok or result.data is None:
        raise fail(result.message, EXIT_INVALID)
    view = result.data.model_dump(mode="json", exclude={"view"})
    if json_out:
        print_json(view)
        return
    colour = {"ACTIVE": typer.colors.GREEN, "REDUCING": typer.colors.YELLOW}.get(
        view["effective"], typer.colors.RED
    )
    typer.secho(f"trading: {view['effective']}", fg=colour, bold=True)
    typer.echo(
        f"  state={view['state']} kill_switch={'ON' if view['kill_switch'] else 'off'}"
        f" by {view['actor']}" + (f": {view['reason']}" if view["reason"] else "")
    )


@trading_app.command("status")
@handle_errors
def status_cmd(actor: str | None = ACTOR, json_out: bool = JSON) -> None:
    """Show the trading state in force (the kill switch wins over everything), with
    equity, the last day's P&L and the last cycle in --json."""
    _apply("status", None, actor, json_out)


@trading_app.command("kill")
@handle_errors
def kill(reason: str = REASON, actor: str | None = ACTOR, json_out: bool = JSON) -> None:
    """Engage the kill switch: no order reaches a broker until it is released."""
    _apply("kill", reason, actor, json_out)


@trading_app.command("release")
@handle_errors
def release(
    reason: str = REASON, actor: str | None = ACTOR, totp: str | None = TOTP, json_out: bool = JSON
) -> None:
    """Release the kill switch (the trading state then applies again). Admin; needs --totp."""
    _apply("release", reason, actor, json_out, totp)


@trading_app.command("halt")
@handle_errors
def halt(reason: str = REASON, actor: str | None = ACTOR, json_out: bool = JSON) -> None:
    """HALTED: the next cycles place no order at all."""
    _apply("halt", reason, actor, json_out)


@trading_app.command("reduce")
@handle_errors
def reduce(reason: str = REASON, actor: str | None = ACTOR, json_out: bool = JSON) -> None:
    """REDUCING: only orders that shrink exposure pass."""
    _apply("reduce", reason, actor, json_out)


@trading_app.command("resume")
@handle_errors
def resume(
    reason: str = REASON, actor: str | None = ACTOR, totp: str | None = TOTP, json_out: bool = JSON
) -> None:
    """ACTIVE again (a kill switch still engaged keeps trading halted). Admin; needs --totp."""
    _apply("resume", reason, actor, json_out, totp)
