"""`quorum serve` binds its socket before anything slow: a port in use or a host that does
not resolve is one line on stderr and exit 2, at once, and nothing is started."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.api.app import listen_socket
from adapters.cli.main import app
from core.errors import ConfigurationError


@pytest.fixture
def taken() -> Iterator[socket.socket]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held


def test_serve_when_port_taken_then_one_line_error_and_exit_2(
    taken: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUORUM_STATE_DIR", str(tmp_path / "var"))
    port = taken.getsockname()[1]
    result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
        " (another quorum serve? pick another --port)"
    ]
    assert not (tmp_path / "var" / "quorum.db").exists()  # no store was opened


def test_listen_socket_when_host_unknown_then_configuration_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unknown(*_: object, **__: object) -> None:  # no resolver is ever asked
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    with pytest.raises(ConfigurationError, match=r"^--host nohost: Name or service not known"):
        listen_socket("nohost", 8080)


def test_listen_socket_when_port_free_then_bound_not_yet_listening() -> None:
    sock = listen_socket("127.0.0.1", 0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(sock.getsockname())  # uvicorn listens once the app is built
    finally:
        sock.close()
