"""`quorum backup`: online SQLite backups of the state dir, with retention."""

from __future__ import annotations

from pathlib import Path

import typer

from adapters.cli.common import handle_errors, print_json, settings


def register(app: typer.Typer) -> None:
    app.command(
        "backup",
        help="Back up the store, the cycle checkpoints and the audit key (SQLite online "
        "backup: safe while the daemon runs), then keep only the newest --keep backups.",
    )(backup)


@handle_errors
def backup(
    to: Path | None = typer.Option(
        None, "--to", help="Folder of the backups (default <state_dir>/backups)."
    ),
    keep: int = typer.Option(14, "--keep", min=1, help="How many backups to keep."),
    json_out: bool = typer.Option(False, "--json", help="The result as JSON."),
) -> None:
    """Write <to>/quorum-<UTC stamp>/ (quorum.db, checkpoints.db, audit.key, manifest.json
    with SHA-256 and integrity checks); restore by copying the files back with the daemon
    stopped (docs/operations.md)."""
    from adapters.storage.backup import backup as run_backup

    s = settings()
    result = run_backup(s, to or s.state_dir / "backups", keep)
    if json_out:
        print_json(result.model_dump())
        return
    typer.echo(f"backup written to {result.path}")
    for f in result.files:
        typer.echo(f"  {f.name}: {f.bytes} bytes, sha256 {f.sha256[:16]}…, integrity {f.integrity}")
    for old in result.removed:
        typer.echo(f"  removed old backup {old}")
    for note in result.notes:
        typer.echo(f"  note: {note}")
