"""`quorum operators`: enrol, list, remove operators; rotate their TOTP secret; API tokens.

Anyone with a shell here can already read and write the store, so the local shell may
manage operators; each change is audited under the login name (`cli:<login>`).
Also the helpers the other terminal transports share: the local operator and the
operator service on the configured store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from adapters.cli.common import handle_errors, open_store, print_json, settings

if TYPE_CHECKING:
    from config.settings import Settings
    from workflows.operator import Caller, OperatorService
    from workflows.operators import Enrolment, Operator, OperatorRegistry, Platform

operators_app = typer.Typer(
    help="Operators, their roles (viewer, trader, admin), TOTP secrets and API tokens.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Machine-readable output.")
NAME = typer.Argument(..., help="The operator's name (letters, digits, _ . @ -).")


def register(app: typer.Typer) -> None:
    app.add_typer(operators_app, name="operators")


def login_name() -> str:
    import getpass

    return getpass.getuser()


def local_operator_name(s: Settings) -> str:
    """Who a local shell user acts as: ``operators.local_operator``, else the login name."""
    return s.operators.local_operator or login_name()


def local_caller(s: Settings, platform: Platform, name: str | None = None) -> Caller:
    from workflows.operator import Caller

    return Caller(
        platform=platform,
        user_id=name or local_operator_name(s),
        display=f"{platform.value}:{login_name()}",
    )


@contextmanager
def open_service() -> Iterator[tuple[Settings, OperatorService]]:
    """The settings and the operator service on the configured store (closed after)."""
    from adapters.factories import make_operator_service

    s = settings()
    store = open_store(s)
    try:
        yield s, make_operator_service(s, store)
    finally:
        store.close()


@contextmanager
def _registry() -> Iterator[OperatorRegistry]:
    with open_service() as (_, service):
        yield service.registry


def _actor() -> str:
    return f"cli:{login_name()}"


def _operator_json(op: Operator) -> dict[str, Any]:
    return op.model_dump(mode="json")


def _print_enrolment(enrolment: Enrolment, json_out: bool, what: str) -> None:
    op = enrolment.operator
    if json_out:
        print_json(
            {
                "operator": _operator_json(op),
                "totp_secret": enrolment.secret,
                "otpauth_uri": enrolment.uri,
            }
        )
        return
    import segno

    typer.secho(f"{what} {op.name} ({op.role.value})", fg=typer.colors.GREEN, bold=True)
    typer.echo("Add it to an authenticator app (scan the QR code or type the secret).")
    typer.echo("It is shown this once; `quorum operators rotate-totp` makes a new one.")
    typer.echo(f"  secret: {enrolment.secret}")
    typer.echo(f"  uri:    {enrolment.uri}")
    segno.make(enrolment.uri).terminal(compact=True)


@operators_app.command("add")
@handle_errors
def add(
    name: str = NAME,
    role: str = typer.Option(..., "--role", help="viewer | trader | admin."),
    slack_id: str | None = typer.Option(None, "--slack-id", help="Slack user id (U…)."),
    discord_id: str | None = typer.Option(None, "--discord-id", help="Discord user id."),
    json_out: bool = typer.Option(
        False, "--json", help="Print the operator, secret and URI as JSON (no QR code)."
    ),
) -> None:
    """Enrol an operator: prints the TOTP secret, its otpauth:// URI and a QR code."""
    from adapters.cli.common import EXIT_INVALID, fail
    from workflows.operators import Role

    try:
        wanted = Role(role.lower())
    except ValueError:
        raise fail(f"--role must be viewer, trader or admin, not {role!r}", EXIT_INVALID) from None
    with _registry() as registry:
        enrolment = registry.enrol(
            name, wanted, actor=_actor(), slack_id=slack_id, discord_id=discord_id
        )
    _print_enrolment(enrolment, json_out, "enrolled")


@operators_app.command("list")
@handle_errors
def list_cmd(json_out: bool = JSON) -> None:
    """Every enrolled operator with role, platform ids and any lockout (no secrets)."""
    with _registry() as registry:
        rows = [(op, registry.locked_until(op.name)) for op in registry.list()]
    if json_out:
        print_json(
            [
                {**_operator_json(op), "locked_until": until.isoformat() if until else None}
                for op, until in rows
            ]
        )
        return
    if not rows:
        typer.echo(f"no operator enrolled: quorum operators add {login_name()} --role admin")
        return
    from adapters.chat.render import render_table

    table = render_table(
        fence=False,
        columns=["name", "role", "slack", "discord", "enrolled", "locked until"],
        rows=[
            [
                op.name,
                op.role.value,
                op.slack_id,
                op.discord_id,
                op.created_at.date().isoformat(),
                until.isoformat(timespec="seconds") if until else None,
            ]
            for op, until in rows
        ],
    )
    typer.echo(table)


@operators_app.command("remove")
@handle_errors
def remove(name: str = NAME, json_out: bool = JSON) -> None:
    """Remove an operator: the TOTP secret is erased and every API token revoked."""
    with _registry() as registry:
        op = registry.remove(name, actor=_actor())
    if json_out:
        print_json({"removed": _operator_json(op)})
    else:
        typer.echo(f"removed {op.name} ({op.role.value})")


@operators_app.command("rotate-totp")
@handle_errors
def rotate_totp(
    name: str = NAME,
    json_out: bool = typer.Option(
        False, "--json", help="Print the new secret and URI as JSON (no QR code)."
    ),
) -> None:
    """A new TOTP secret for an operator (the old one stops working); clears a lockout."""
    with _registry() as registry:
        enrolment = registry.rotate_totp(name, actor=_actor())
    _print_enrolment(enrolment, json_out, "new TOTP secret for")


@operators_app.command("token")
@handle_errors
def token(
    name: str = NAME,
    revoke: bool = typer.Option(False, "--revoke", help="Revoke the operator's API tokens."),
    json_out: bool = JSON,
) -> None:
    """A new API token for an operator, printed once (only its hash is kept; an earlier
    token stops working). With --revoke, revoke instead."""
    with _registry() as registry:
        if revoke:
            registry.require(name)
            count = registry.revoke_tokens(name, actor=_actor())
            issued = None
        else:
            issued = registry.issue_token(name, actor=_actor())
            count = 0
    if json_out:
        print_json({"name": name, "token": issued} if issued else {"name": name, "revoked": count})
    elif issued:
        typer.echo(f"API token for {name} (shown once, keep it secret):")
        typer.echo(issued)
    else:
        typer.echo(f"revoked {count} token(s) of {name}")
