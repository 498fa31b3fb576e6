"""`quorum secrets`: encrypt .env with Fernet; decryption happens in memory only."""

from __future__ import annotations

from pathlib import Path

import typer

from adapters.cli.common import handle_errors, print_json, require_files

secrets_app = typer.Typer(
    help="Encrypted credentials (.env → .env.enc). Key: QUORUM_MASTER_KEY or a 0600 key file.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")


@secrets_app.command("keygen")
@handle_errors
def keygen(
    path: Path | None = typer.Option(None, help="Key file (default ~/.config/quorum/master.key)."),
) -> None:
    """Create a new master key file with mode 0600 (never overwrites)."""
    from config.secrets import generate_key_file

    typer.echo(f"master key written to {generate_key_file(path)} (mode 0600)")


@secrets_app.command("encrypt")
@handle_errors
def encrypt(
    src: Path = typer.Argument(Path(".env"), help="Plain .env file."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Default: SRC + '.enc'."),
    remove_plain: bool = typer.Option(False, "--remove-plain", help="Delete SRC afterwards."),
) -> None:
    """Encrypt SRC to SRC.enc. Settings read .env.enc transparently (decrypted in memory)."""
    from config.secrets import encrypt_file

    written = encrypt_file(src, out)
    if remove_plain:
        src.unlink()
    typer.echo(f"encrypted {src} → {written}")


@secrets_app.command("decrypt")
@handle_errors
def decrypt(
    src: Path = typer.Argument(Path(".env.enc"), help="Encrypted file."),
    show_values: bool = typer.Option(
        False, "--show-values", help="Print values too (default: names only, values masked)."
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="One JSON object: variable name → value (masked unless --show-values).",
    ),
) -> None:
    """Decrypt in memory and list the variables it holds. Nothing is written to disk."""
    from config.secrets import decrypt_bytes, parse_env_text

    require_files([src])  # named before the master key is looked for
    values = parse_env_text(decrypt_bytes(src))
    if as_json:
        print_json({name: value if show_values else "***" for name, value in values.items()})
        return
    for name, value in values.items():
        typer.echo(f"{name}={value if show_values else '***'}")
