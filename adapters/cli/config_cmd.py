"""`quorum config`: the versioned configuration proposals change (risk limits, strategy
parameters, universe, agent settings) — show a version, the history, a diff, a rollback.

Reads open the store directly. `rollback` goes through the operator service as the local
operator (``--actor`` names another enrolled one): admin only, with a fresh ``--totp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from adapters.cli.common import handle_errors, open_store, print_json, settings

if TYPE_CHECKING:
    from core.proposals import ConfigVersion

config_app = typer.Typer(
    help="Versioned configuration: every approved proposal (or settings edit) is a new "
    "numbered version with its diff, author, approver and evidence; cycles record the "
    "version they ran on.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Machine-readable output.")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


def _with_desk(fn: Any) -> Any:
    from adapters.cli.proposals import refusal_exit
    from adapters.review import config_desk
    from core.proposals import ProposalRefusedError

    s = settings()
    store = open_store(s)
    try:
        return fn(config_desk(s, store))
    except ProposalRefusedError as exc:  # UNKNOWN_VERSION: version=7 known=1..2
        raise refusal_exit(exc) from None
    finally:
        store.close()


def _header(v: ConfigVersion) -> str:
    who = v.author + (f", approved by {v.approver}" if v.approver else "")
    via = f" ({v.proposal_id})" if v.proposal_id else ""
    active = " [active]" if v.active else ""
    when = v.created_at.isoformat(timespec="seconds")
    return f"version {v.version}{active} {when} {who}{via}: {v.reason}"


def _diff_lines(diff: dict[str, list[Any]]) -> list[str]:
    return [f"  {k}: {old} -> {new}" for k, (old, new) in diff.items()] or ["  (no change)"]


@config_app.command("show")
@handle_errors
def show(
    version: int | None = typer.Option(None, "--version", "-v", help="Default: the active one."),
    json_out: bool = JSON,
) -> None:
    """Every proposable key's value in a version, and what it changed."""
    v = _with_desk(lambda desk: desk.version(version))
    if json_out:
        print_json(v.model_dump(mode="json"))
        return
    typer.echo(_header(v))
    for line in _diff_lines(v.diff) if v.version > 1 else []:
        typer.echo(line)
    width = max(len(k) for k in v.values)
    for key, value in sorted(v.values.items()):
        shown = ",".join(value) if isinstance(value, list) else value
        typer.echo(f"{key:<{width}}  {shown}")


@config_app.command("history")
@handle_errors
def history(json_out: bool = JSON) -> None:
    """Every version, oldest first, with its diff; then the activation log (approvals and
    rollbacks: who made which version active, when and why)."""
    versions, activations = _with_desk(lambda desk: (desk.history(), desk.activations()))
    if json_out:
        print_json(
            {"versions": [v.model_dump(mode="json") for v in versions], "activations": activations}
        )
        return
    for v in versions:
        typer.echo(_header(v))
        if v.version > 1:
            for line in _diff_lines(v.diff):
                typer.echo(line)
    typer.echo("activations:")
    for a in activations:
        typer.echo(f"  {a['ts'][:19]} version {a['version']} by {a['actor']}: {a['reason']}")


@config_app.command("diff")
@handle_errors
def diff(
    a: int = typer.Argument(..., help="From version."),
    b: int = typer.Argument(..., help="To version."),
    json_out: bool = JSON,
) -> None:
    """The keys whose values differ between versions A and B (A's value -> B's)."""
    changed = _with_desk(lambda desk: desk.diff(a, b))
    if json_out:
        print_json(changed)
        return
    typer.echo(f"version {a} -> {b}:")
    for line in _diff_lines(changed):
        typer.echo(line)


@config_app.command("rollback")
@handle_errors
def rollback(
    version: int = typer.Argument(..., help="The version to make active again."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why: kept in the audit log."),
    totp: str | None = typer.Option(None, "--totp", help="A fresh authenticator code."),
    actor: str | None = typer.Option(
        None, "--actor", help="The enrolled admin to act as (default: the local operator)."
    ),
    json_out: bool = JSON,
) -> None:
    """Make an earlier version active again (admin, --totp). The next cycle runs on it;
    the history keeps every version."""
    from adapters.cli.proposals import operator_command

    retry = f"quorum config rollback {version} --reason R --actor {{actor}} --totp CODE"
    result = operator_command("config", ["rollback", str(version), reason], actor, totp, retry)
    v = result.data.versions[0]  # type: ignore[union-attr]
    if json_out:
        print_json(v.model_dump(mode="json"))
    else:
        typer.echo(f"rolled back: {_header(v)}")
