"""Helpers every CLI module shares: settings, store, JSON output, error to exit code.

Kept free of heavy imports; each helper imports what it needs when called.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from config.settings import Settings
    from core.ports import Store

P = ParamSpec("P")
R = TypeVar("R")

EXIT_INVALID = 1  # the input was checked and found bad
EXIT_CONFIG = 2  # settings, keys or files are wrong
QUIET_LOGGERS = ("ib_async",)


def settings() -> Settings:
    from config.logging import configure_logging
    from config.settings import load_settings

    s = load_settings()
    configure_logging(s.log_format)
    return s


def open_store(s: Settings) -> Store:
    """The configured store: SQLite by default, MongoDB with ``storage.kind = mongo``."""
    from adapters.factories import make_store

    return make_store(s)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fail(message: str, code: int = EXIT_CONFIG) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextlib.contextmanager
def quiet_libraries(names: tuple[str, ...] = QUIET_LOGGERS) -> Iterator[None]:
    """Library loggers that would print their own lines before our one-line error
    (ib_async: "API connection failed ...", "Error 162 ...") are muted below CRITICAL
    while a command runs; our errors carry the reason and IB's code instead."""
    loggers = [logging.getLogger(name) for name in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, before, strict=True):
            lg.setLevel(level)


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> None:
    """A table whose cells are never cut (dates, ids and figures print whole): rich
    shrinks and ellipsises columns to fit the terminal, so every column here keeps its full
    width; when the terminal is too narrow for that, one plain line per row is printed and
    the terminal wraps it. ``right``: indexes of right-aligned columns."""
    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for n, name in enumerate(columns):
        table.add_column(name, justify="right" if n in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    unbounded = console.options.update(width=1_000_000, max_width=1_000_000)
    if Measurement.get(console, unbounded, table).maximum <= console.width:
        console.print(table)
        return
    for row in [columns, *rows]:
        console.print("  ".join(row), soft_wrap=True, markup=False)


def require_files(paths: Iterable[Path], what: str = "") -> None:
    """Input files must be there before anything is read: a missing one (or a folder given
    as a file) is one line naming it, exit 2 (a file that needs a human)."""
    given = list(paths)
    prefix = f"{what} " if what else ""
    missing = [str(p) for p in given if not p.exists()]
    if missing:
        raise fail(f"{prefix}{', '.join(missing)}: no such file")
    folders = [str(p) for p in given if not p.is_file()]
    if folders:
        raise fail(f"{prefix}{', '.join(folders)}: not a file (a folder?)")


CODED = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+: ")  # DUPLICATE_OPERATOR: name=ada


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn Quorum's classed errors into a one-line message and an exit code, never a
    traceback; the message passes through the secret redactor."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from pydantic import ValidationError

        from config.logging import redact_text
        from core.errors import ConfigurationError, DataValidationError, QuorumError

        try:
            with quiet_libraries():
                return fn(*args, **kwargs)
        except DataValidationError as exc:
            for line in exc.problems:
                typer.echo(redact_text(line), err=True)
            raise fail(redact_text(str(exc)), EXIT_INVALID) from None
        except (ConfigurationError, ValidationError) as exc:
            raise fail(redact_text(str(exc)), EXIT_CONFIG) from None
        except QuorumError as exc:
            text = str(exc)  # a message that starts with its code needs no class name
            named = text if CODED.match(text) else f"{type(exc).__name__}: {text}"
            raise fail(redact_text(named), EXIT_INVALID) from None
        except OSError as exc:
            # A path that cannot be created, read or written: say which, no traceback.
            where = f"{exc.filename}: " if exc.filename else ""
            reason = exc.strerror or str(exc)
            raise fail(redact_text(f"{where}{reason}"), EXIT_CONFIG) from None

    return wrapper
