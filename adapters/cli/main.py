"""The `quorum` command. Thin: parse, call a service, render.

Imports stay lazy: `quorum --help` must not import LangGraph, LangChain, Anthropic, Numba
or pandas, so each command module imports only typer at top level and pulls in the heavy
machinery inside the command body.
"""

from __future__ import annotations

import importlib

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


def run() -> None:
    app()


if __name__ == "__main__":
    run()
