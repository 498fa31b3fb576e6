"""`--scheduler` parsing and the checks made before connecting (the clusters themselves:
tests/integration/test_research_dask.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

import adapters.compute.dask as dask_adapter
from adapters.compute.dask import SchedulerSpec, open_executor, parse_scheduler
from core.errors import ConfigurationError, TemporaryError


@pytest.mark.parametrize(
    ("text", "kind", "workers", "address"),
    [
        (None, "inprocess", None, None),
        ("", "inprocess", None, None),
        ("in-process", "inprocess", None, None),
        ("local:2", "local", 2, None),
        ("local", "local", os.cpu_count(), None),
        ("tcp://10.1.2.3:8786", "remote", None, "tcp://10.1.2.3:8786"),
        ("tls://sched.example:8786", "remote", None, "tls://sched.example:8786"),
    ],
)
def test_parse_scheduler_when_valid_then_spec(
    text: str | None, kind: str, workers: int | None, address: str | None
) -> None:
    spec = parse_scheduler(text)
    assert (spec.kind, spec.workers, spec.address) == (kind, workers, address)


@pytest.mark.parametrize(
    "text",
    ["local:0", "local:x", "local:999", "tcp://host", "http://h:8786", "yarn", "tcp://:1",
     "tcp://h:0", "tcp://h:99999"],
)  # fmt: skip
def test_parse_scheduler_when_invalid_then_error_names_value(text: str) -> None:
    with pytest.raises(ConfigurationError, match=f"--scheduler {text!r}"):
        parse_scheduler(text)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections (the kernel's backlog) and never
    answers: what a Dask client meets at a web server or a dashboard port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_open_executor_when_port_accepts_but_is_not_dask_then_temporary_error(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # distributed.Client waits forever for the handshake there; the check gives up
    monkeypatch.setattr(dask_adapter, "CONNECT_TIMEOUT_S", 0.3)
    monkeypatch.setattr(dask_adapter, "HANDSHAKE_GRACE_S", 0.3)
    address = f"tcp://127.0.0.1:{silent_port}"
    with (
        pytest.raises(TemporaryError, match=f"cannot reach the Dask scheduler at {address}: "
                                            "no Dask handshake within 0.6 s"),
        open_executor(SchedulerSpec(kind="remote", address=address)),
    ):  # fmt: skip
        pytest.fail("an executor was opened on a port that is not a Dask scheduler")


def test_open_executor_when_tls_without_client_certificate_then_configuration_error() -> None:
    # without Dask TLS settings distributed raised a TypeError from its TLS code
    with (
        pytest.raises(ConfigurationError, match=r"tls:// needs Dask's TLS client settings"),
        open_executor(SchedulerSpec(kind="remote", address="tls://127.0.0.1:9")),
    ):
        pytest.fail("an executor was opened without TLS settings")
