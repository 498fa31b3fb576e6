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


slack_app = typer.Typer(help="Slack over Socket Mode (no public URL needed).", no_args_is_help=True)
discord_app = typer.Typer(help="Discord: register the /quorum slash command.", no_args_is_help=True)
chat_app.add_typer(slack_app, name="slack")
chat_app.add_typer(discord_app, name="discord")


def register(app: typer.Typer) -> None:
    app.add_typer(chat_app, name="chat")


@chat_app.command("serve")
@handle_errors
def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (default chat.host)."),
    port: int | None = typer.Option(None, "--port", help="Port (default chat.port, 8090)."),
) -> None:
    """Serve the Slack (POST /slack/events) and Discord (POST /discord/interactions)
    endpoints on uvicorn, over the operator service on the configured store. Needs
    QUORUM_CHAT__SLACK_SIGNING_SECRET and/or QUORUM_CHAT__DISCORD_PUBLIC_KEY; put a
    TLS-terminating proxy in front (the platforms call https://HOST/...). Ctrl-C stops."""
    from adapters.chat.server import serve as run_server
    from adapters.cli.common import settings

    run_server(settings(), host, port)


@slack_app.command("socket")
@handle_errors
def slack_socket() -> None:
    """Connect to Slack over Socket Mode (app-level token QUORUM_CHAT__SLACK_APP_TOKEN,
    scope connections:write) with the same listeners as `quorum chat serve`: for a
    machine without a public URL. Ctrl-C stops."""
    from adapters.chat.slack import serve_socket_mode
    from adapters.cli.common import settings

    serve_socket_mode(settings())


@discord_app.command("register")
@handle_errors
def discord_register(
    guild: str | None = typer.Option(
        None, "--guild", help="Register in this server only (shows at once; global can lag)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print what Discord registered."),
) -> None:
    """Register the /quorum slash command (option `command`, optional `totp`) with
    QUORUM_CHAT__DISCORD_APPLICATION_ID and QUORUM_CHAT__DISCORD_BOT_TOKEN."""
    from adapters.chat.discord import register_commands
    from adapters.cli.common import print_json, settings

    registered = register_commands(settings(), guild)
    if json_out:
        print_json(registered)
        return
    where = f"server {guild}" if guild else "all servers (global)"
    for command in registered:
        typer.echo(f"registered /{command.get('name')} (id {command.get('id')}) for {where}")


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
