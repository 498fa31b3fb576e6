"""`quorum data validate`: check bar files before anything trades on them."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from adapters.cli.common import EXIT_INVALID, handle_errors

data_app = typer.Typer(help="Market data files: validate before use.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("validate")
@handle_errors
def validate(
    files: list[Path] = typer.Argument(..., help="CSV, CSV.GZ or Parquet bar files."),
    json_out: bool = typer.Option(
        False, "--json", help="One JSON object per file per line: file, ok, rows, errors, warnings."
    ),
    max_jump: float = typer.Option(
        0.4, help="Warn when a close moves more than this fraction in one bar."
    ),
) -> None:
    """Validate bar files. Exits 1 if any file has errors; warnings alone pass.

    Every problem names the file, the row (as numbered in the file: CSV header = row 1),
    the field and the rule broken.
    """
    from rich.console import Console
    from rich.markup import escape

    from adapters.marketdata.files import validate_file
    from adapters.marketdata.validation import ValidationOptions

    options = ValidationOptions(max_jump=max_jump)
    console = Console(stderr=False, highlight=False)
    any_bad = False
    for path in files:
        report, _ = validate_file(path, options)
        any_bad |= not report.ok
        if json_out:
            typer.echo(json.dumps(report.model_dump(mode="json")))
            continue
        status = "[green]ok[/]" if report.ok else "[red]INVALID[/]"
        console.print(
            f"{report.file}: {status} — {report.rows} rows, {len(report.errors)} errors, "
            f"{len(report.warnings)} warnings"
        )
        for p in report.errors:
            console.print(f"  [red]error[/] {escape(p.render(report.file))}")
        for p in report.warnings:
            console.print(f"  [yellow]warning[/] {escape(p.render(report.file))}")
    if any_bad:
        raise typer.Exit(EXIT_INVALID)
