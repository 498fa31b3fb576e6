"""`quorum trading`: the operator's kill switch and trading state, from the terminal."""

from __future__ import annotations

import getpass

import typer

from adapters.cli.common import handle_errors, open_store, print_json, settings

trading_app = typer.Typer(
    help="Trading state (ACTIVE / REDUCING / HALTED) and the kill switch. Changes are "
    "stored, audited, and shared with every process when the bus is Redis.",
    no_args_is_help=True,
)

REASON = typer.Option(..., "--reason", "-r", help="Why: kept in the audit log.")
ACTOR = typer.Option(None, "--actor", help="Who (default: cli:<login name>).")
JSON = typer.Option(False, "--json", help="Print the resulting status as JSON.")


def register(app: typer.Typer) -> None:
    app.add_typer(trading_app, name="trading")


def _apply(action: str, reason: str | None, actor: str | None, json_out: bool) -> None:
    from core.risk import TradingState

    s = settings()
    store = open_store(s)
    try:
        from adapters.factories import make_control

        control = make_control(s, store)
        who = actor or f"cli:{getpass.getuser()}"
        why = reason or ""
        if action == "status":
            status = control.status()
        elif action == "kill":
            status = control.engage_kill_switch(why, who)
        elif action == "release":
            status = control.release_kill_switch(why, who)
        else:
            state = {
                "halt": TradingState.HALTED,
                "reduce": TradingState.REDUCING,
                "resume": TradingState.ACTIVE,
            }[action]
            control.set_state(state, why, who)
            status = control.status()
    finally:
        store.close()
    if json_out:
        print_json({**status.model_dump(mode="json"), "effective": status.effective.value})
        return
    colour = {"ACTIVE": typer.colors.GREEN, "REDUCING": typer.colors.YELLOW}.get(
        status.effective.value, typer.colors.RED
    )
    typer.secho(f"trading: {status.effective.value}", fg=colour, bold=True)
    typer.echo(
        f"  state={status.state.value} kill_switch={'ON' if status.kill_switch else 'off'}"
        f" by {status.actor}" + (f": {status.reason}" if status.reason else "")
    )


@trading_app.command("status")
@handle_errors
def status_cmd(json_out: bool = JSON) -> None:
    """Show the trading state in force (the kill switch wins over everything)."""
    _apply("status", None, None, json_out)


@trading_app.command("kill")
@handle_errors
def kill(reason: str = REASON, actor: str | None = ACTOR, json_out: bool = JSON) -> None:
    """Engage the kill switch: no order reaches a broker until it is released."""
    _apply("kill", reason, actor, json_out)


@trading_app.command("release")
@handle_errors
def release(reason: str = REASON, actor: str | None = ACTOR, json_out: bool = JSON) -> None:
    """Release the kill switch (the trading state then applies again)."""
    _apply("release", reason, actor, json_out)


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
def resume(reason: str = REASON, actor: str | None = ACTOR, json_out: bool = JSON) -> None:
    """ACTIVE again (a kill switch still engaged keeps trading halted)."""
    _apply("resume", reason, actor, json_out)
