"""Helpers every CLI module shares: settings, store, JSON output, error to exit code.

Kept free of heavy imports; each helper imports what it needs when called.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
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
            raise fail(redact_text(f"{type(exc).__name__}: {exc}"), EXIT_INVALID) from None
        except OSError as exc:
            # A path that cannot be created, read or written: say which, no traceback.
            where = f"{exc.filename}: " if exc.filename else ""
            reason = exc.strerror or str(exc)
            raise fail(redact_text(f"{where}{reason}"), EXIT_CONFIG) from None

    return wrapper
