"""`quorum version` (`quorum demo` lives in adapters/cli/demo.py)."""

from __future__ import annotations

import typer

from adapters.cli.common import print_json


def register(app: typer.Typer) -> None:
    app.command("version", help="Print Quorum's version (and key library versions with --json).")(
        version
    )


def version(
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    try:
        ours = pkg_version("quorum")
    except PackageNotFoundError:
        ours = "0+unknown"
    if not json_out:
        typer.echo(f"quorum {ours}")
        return
    libs = {}
    for lib in ("pydantic", "numpy", "numba", "langgraph", "ib_async", "redis", "pymongo"):
        try:
            libs[lib] = pkg_version(lib)
        except PackageNotFoundError:
            libs[lib] = None
    print_json({"quorum": ours, "libraries": libs})
