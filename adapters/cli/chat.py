"""`quorum chat`: talk to Quorum. `console` is a REPL over the operator service as the
local operator; the chat helper adds `serve` (Slack and Discord endpoints) and
`discord register` here."""

from __future__ import annotations

import typer

from adapters.cli.common import handle_errors

chat_app = typer.Typer(
    help="Operator chat: the console here; Slack and Discord endpoints.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(chat_app, name="chat")


@chat_app.command("console")
@handle_errors
def console() -> None:
    """A command prompt over the operator service, as the local operator
    (settings operators.local_operator, else your login name). Type `help` for your
    commands; critical ones take `--totp CODE`. Reads standard input, so it can be
    piped: `echo status | quorum chat console`. `exit` or end of input quits."""
    import asyncio
    import sys

    from adapters.chat.console import PROMPT, run_console
    from adapters.cli.operators import local_caller, open_service
    from workflows.operators import Platform

    def prompt() -> None:
        typer.echo(PROMPT, nl=False)

    with open_service() as (s, service):
        caller = local_caller(s, Platform.CONSOLE)
        code = asyncio.run(
            run_console(
                service,
                caller,
                sys.stdin,
                typer.echo,
                prompt=prompt if sys.stdin.isatty() else None,
            )
        )
    if code:
        raise typer.Exit(code)
