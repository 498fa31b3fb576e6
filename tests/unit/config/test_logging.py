"""Structured logs: readable console lines in a terminal, JSON lines otherwise, for our
own events and for library records sent through stdlib ``logging`` alike."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog

from config.logging import _QuorumHandler, configure_logging, register_secrets

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def _emit(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch, fmt: str) -> list[str]:
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(fmt)
    structlog.get_logger().info("cycle started", cycle_id="c-1", symbols=3)
    logging.getLogger("ib_async.client").warning("socket %s closed", "127.0.0.1:7497")
    return [line for line in stream.getvalue().splitlines() if line]


@pytest.mark.parametrize("fmt", ["auto", "json"])
def test_logs_when_not_a_terminal_then_every_line_is_json(
    monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    stream = _Terminal() if fmt == "json" else _Pipe()
    lines = _emit(stream, monkeypatch, fmt)
    events = [json.loads(line) for line in lines]
    assert events[0]["event"] == "cycle started"
    assert (events[0]["cycle_id"], events[0]["symbols"], events[0]["level"]) == ("c-1", 3, "info")
    assert events[0]["timestamp"].endswith("Z")
    assert events[1]["event"] == "socket 127.0.0.1:7497 closed"
    assert (events[1]["logger"], events[1]["level"]) == ("ib_async.client", "warning")


@pytest.mark.parametrize("fmt", ["auto", "console"])
def test_logs_when_a_terminal_then_console_lines_not_json(
    monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    stream = _Terminal() if fmt == "auto" else _Pipe()
    lines = _emit(stream, monkeypatch, fmt)
    assert len(lines) == 2
    for line in lines:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
    plain = [ANSI.sub("", line) for line in lines]
    assert "cycle started" in plain[0] and "cycle_id" in plain[0] and "c-1" in plain[0]
    assert "socket 127.0.0.1:7497 closed" in plain[1] and "ib_async.client" in plain[1]


def test_configure_twice_keeps_one_handler_and_leaves_others_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    foreign = logging.NullHandler()
    logging.getLogger().addHandler(foreign)
    monkeypatch.setattr("sys.stderr", _Pipe())
    configure_logging("json")
    configure_logging("console")
    handlers = logging.getLogger().handlers
    assert sum(isinstance(h, _QuorumHandler) for h in handlers) == 1
    assert foreign in handlers


def test_stdlib_exception_traceback_is_kept_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "pw-logging-test-98765"
    register_secrets([secret])
    stream = _Pipe()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("json")
    try:
        raise ConnectionError(f"login refused for password {secret}")
    except ConnectionError:
        logging.getLogger("ib_async").exception("connect failed")
    (event,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert "connect failed" in event["event"]
    assert "ConnectionError: login refused for password ***" in event["event"]
    assert secret not in stream.getvalue()


def test_redact_when_an_api_token_was_never_registered_then_scrubbed_by_its_shape() -> None:
    from config.logging import redact_text

    token = "qrm_" + "Ab3-_x" * 7  # the shape `quorum operators token` prints
    line = f'GET /api/v1/status?token={token} HTTP/1.1" 401'
    assert redact_text(line) == 'GET /api/v1/status?token=qrm_*** HTTP/1.1" 401'
    assert redact_text("paste qrm_... here") == "paste qrm_... here"  # docs, not a token
