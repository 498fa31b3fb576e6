"""Structured logging (structlog): readable in a terminal, JSON otherwise, secrets redacted.

Every secret value known to the settings is registered here; a processor replaces it
wherever it appears in an event (message, values, exception text) before rendering.
The same redaction is applied to stdlib ``logging`` records through a filter.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "***"
_secrets: set[str] = set()
# Secrets shorter than this are not scrubbed: redacting "1" would shred every number.
_MIN_SECRET_LEN = 4
# An API token by its shape (workflows.operators.TOKEN_PREFIX): a live token never seen
# by this process yet (pasted into a URL, say) reaches the access log before anything
# could register it. The prefix stays, so a line still says a token was there.
_TOKEN_SHAPE = re.compile(r"qrm_[A-Za-z0-9_\-]{16,}")


def register_secrets(values: Iterable[str]) -> None:
    _secrets.update(v for v in values if len(v) >= _MIN_SECRET_LEN)


def redact_text(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "qrm_" in text:
        text = _TOKEN_SHAPE.sub("qrm_" + REDACTED, text)
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
    """Scrubs a stdlib record before any handler formats it: message, arguments and the
    traceback (folded into the message, since formatters would re-render ``exc_info``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        record.msg = redact_text(text)
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


class _QuorumHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our root handler, told apart from handlers others installed (pytest's, an app's)."""


def configure_logging(fmt: str = "auto", level: int = logging.INFO) -> None:
    """Human-readable console lines when stderr is a terminal (or ``fmt="console"``),
    one JSON object per line otherwise (or ``fmt="json"``). Library records sent through
    stdlib ``logging`` get the same renderer, so a JSON stream stays pure JSON lines."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = _QuorumHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_processor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _QuorumHandler)]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
