"""`quorum audit verify`: check the tamper-evident audit chain."""

from __future__ import annotations

import typer

from adapters.cli.common import EXIT_INVALID, handle_errors, open_store, print_json, settings

audit_app = typer.Typer(help="The HMAC-chained audit log.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
@handle_errors
def verify(json_out: bool = typer.Option(False, "--json", help="Machine-readable result.")) -> None:
    """Verify every audit record's MAC and link. Exits 1 and names the first bad record
    if any record was edited, deleted, inserted or reordered."""
    from config.secrets import audit_key
    from core.audit import AuditLog

    s = settings()
    secret = s.secrets.audit_key
    key = audit_key(secret.get_secret_value() if secret else None, s.state_dir)
    store = open_store(s)
    try:
        result = AuditLog(store, key).verify()
    finally:
        store.close()
    if json_out:
        print_json(result.model_dump())
    elif result.ok:
        typer.secho(f"audit chain ok: {result.records} records verified", fg=typer.colors.GREEN)
    else:
        typer.secho(
            f"audit chain BROKEN at record seq {result.first_bad_seq}: {result.reason}",
            fg=typer.colors.RED,
            err=True,
        )
    if not result.ok:
        raise typer.Exit(EXIT_INVALID)
