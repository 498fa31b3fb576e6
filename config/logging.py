"""Structured logging (structlog): readable in a terminal, JSON otherwise, secrets redacted.

Every secret value known to the settings is registered here; a processor replaces it
wherever it appears in an event (message, values, exception text) before rendering.
The same redaction is applied to stdlib ``logging`` records through a filter.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "***"
_secrets: set[str] = set()
# Secrets shorter than this are not scrubbed: redacting "1" would shred every number.
_MIN_SECRET_LEN = 4


def register_secrets(values: Iterable[str]) -> None:
    _secrets.update(v for v in values if len(v) >= _MIN_SECRET_LEN)


def redact_text(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    if isinstance(value, BaseException):
        return redact_text(repr(value))
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {k: _redact(v) for k, v in event_dict.items()}


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(fmt: str = "auto", level: int = logging.INFO) -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for f in root.filters):
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RedactingFilter())
        root.handlers = [handler]
        root.setLevel(logging.WARNING)
