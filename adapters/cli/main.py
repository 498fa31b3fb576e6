"""The `quorum` command. Thin: parse, call a service, render.

Imports stay lazy: `quorum --help` must not import LangGraph, LangChain, Anthropic, Numba
or pandas, so each command module imports only typer at top level and pulls in the heavy
machinery inside the command body.
"""

from __future__ import annotations

import importlib
import inspect

import typer

app = typer.Typer(
    name="quorum",
    help="Quorum: multi-agent trading orchestrator. Paper trading unless live is configured.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each module exposes `register(app)`. Order here is the order in `--help`.
COMMAND_MODULES = (
    "adapters.cli.demo",
    "adapters.cli.cycle",
    "adapters.cli.simulate",
    "adapters.cli.daemon",
    "adapters.cli.explain",
    "adapters.cli.backtest",
    "adapters.cli.research",
    "adapters.cli.trading",
    "adapters.cli.operators",
    "adapters.cli.chat",
    "adapters.cli.serve",
    "adapters.cli.proposals",
    "adapters.cli.config_cmd",
    "adapters.cli.broker",
    "adapters.cli.ibkr",
    "adapters.cli.data",
    "adapters.cli.journal",
    "adapters.cli.audit",
    "adapters.cli.backup",
    "adapters.cli.secrets",
    "adapters.cli.misc",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def one_line_listings(typer_app: typer.Typer) -> None:
    """A group's command list shows each command's first docstring paragraph; typer's
    rich help keeps its line breaks there ("...it is applied as" / "a new configuration
    version"). Give every command that paragraph as one line instead."""
    for info in typer_app.registered_commands:
        doc = info.help or (info.callback.__doc__ if info.callback else None)
        if info.short_help is None and doc:
            info.short_help = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            one_line_listings(group.typer_instance)


one_line_listings(app)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
