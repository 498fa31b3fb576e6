"""`quorum serve`: the REST API and the web dashboard (docs/api.md)."""

from __future__ import annotations

import typer

from adapters.cli.common import handle_errors


def register(app: typer.Typer) -> None:
    app.command(
        "serve",
        help="Serve the REST API (/api/v1, OpenAPI at /openapi.json) and the web dashboard"
        " (/) on uvicorn, over the operator service: API tokens from"
        " `quorum operators token NAME`, the same roles, TOTP and audit as chat."
        " Binds 127.0.0.1 by default; put a TLS-terminating proxy in front before exposing"
        " it. Ctrl-C stops. See docs/api.md.",
    )(serve)


@handle_errors
def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (default api.host)."),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port (default api.port, 8080)."
    ),
    source: str = typer.Option(
        "auto",
        "--source",
        help="Where positions, orders, equity and the journal come from: main, "
        "simulation:NAME (a directory under <state_dir>/simulations), or auto (the main "
        "store once it has run a cycle, before that the newest simulation). Operators, "
        "tokens, audit and the trading state are always the main store's.",
    ),
) -> None:
    """Run the API and the dashboard until interrupted."""
    from adapters.api.app import serve as run_server
    from adapters.cli.common import settings

    run_server(settings(), host, port, source)
