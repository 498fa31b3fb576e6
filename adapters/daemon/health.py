"""``GET /healthz`` and ``GET /metrics`` for the daemon.

Served by the standard library's WSGI server (``wsgiref``, one thread per request) around
prometheus_client's own ``make_wsgi_app``: the server runs on its own threads, so it
answers while the cycle keeps the daemon's event loop busy (agents and Numba kernels are
synchronous code; an ASGI server such as uvicorn on that same loop would stall during a
cycle, which is exactly when a probe must still get an answer). Two routes need no
framework.

``/healthz`` is JSON: ``status`` ``ok`` (HTTP 200) or ``degraded`` (HTTP 503, so an
uptime check alerts on the status code alone), the ``problems`` (codes below), the last
success, the lock, the broker connection, the running cycle and the next run.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from adapters.daemon.metrics import DaemonStatus
from core.ports import Store
from workflows.daemon import DaemonRecord, EventKind

log = logging.getLogger("quorum.daemon.health")

PROBE_EVERY_S = 30.0  # between cycles the broker's port is checked at most this often
PROBE_TIMEOUT_S = 1.0


class HealthProblem(StrEnum):
    LOCK_NOT_HELD = "LOCK_NOT_HELD"  # the single-instance lock was lost
    BROKER_DISCONNECTED = "BROKER_DISCONNECTED"
    LAST_CYCLE_FAILED = "LAST_CYCLE_FAILED"
    LAST_SESSION_MISSED = "LAST_SESSION_MISSED"
    STORE_UNREADABLE = "STORE_UNREADABLE"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def health_report(status: DaemonStatus, store: Callable[[], Store]) -> dict[str, Any]:
    problems: list[str] = []
    if not status.lock_held:
        problems.append(HealthProblem.LOCK_NOT_HELD)
    connected = status.broker_probe()
    if connected is False:
        problems.append(HealthProblem.BROKER_DISCONNECTED)
    last_success: str | None = None
    last_event: dict[str, Any] | None = None
    try:
        events = [e for e in DaemonRecord(store()).events() if e.kind is not EventKind.HOLIDAY]
    except Exception as exc:
        log.warning("healthz: store unreadable: %s", exc)
        problems.append(HealthProblem.STORE_UNREADABLE)
        events = []
    if events:
        newest = events[-1]
        last_event = newest.model_dump(mode="json", exclude={"summary"})
        if newest.kind is EventKind.FAILED:
            problems.append(HealthProblem.LAST_CYCLE_FAILED)
        elif newest.kind is EventKind.MISSED:
            problems.append(HealthProblem.LAST_SESSION_MISSED)
        ran = [e for e in events if e.kind is EventKind.RAN]
        last_success = ran[-1].at.isoformat() if ran else None
    return {
        "status": "degraded" if problems else "ok",
        "problems": [str(p) for p in problems],
        "last_success": last_success,
        "last_event": last_event,
        "lock_held": status.lock_held,
        "broker": {"kind": status.broker_kind, "connected": connected},
        "running": status.running,
        "next_run": _iso(status.next_run()),
        "started_at": _iso(status.started_at),
    }


class PortProbe:
    """Between cycles the daemon holds no broker session (each cycle connects and
    disconnects, which rides out IB Gateway's daily restart): "connected" is then "the
    gateway's API port accepts a TCP connection", checked at most every 30 s. During a
    cycle ``live`` (the cycle's broker) answers instead."""

    def __init__(self, host: str, port: int, clock: Callable[[], float] = time.monotonic):
        self.host, self.port = host, port
        self.live: Callable[[], bool] | None = None
        self._clock = clock
        self._checked: tuple[float, bool] | None = None

    def __call__(self) -> bool:
        if self.live is not None:
            return self.live()
        now = self._clock()
        if self._checked is None or now - self._checked[0] >= PROBE_EVERY_S:
            try:
                with socket.create_connection((self.host, self.port), timeout=PROBE_TIMEOUT_S):
                    ok = True
            except OSError:
                ok = False
            self._checked = (now, ok)
        return self._checked[1]


def make_app(
    registry: CollectorRegistry, health: Callable[[], dict[str, Any]]
) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        if path == "/metrics":
            result: Iterable[bytes] = metrics(environ, start_response)
            return result
        if path == "/healthz":
            report = health()
            body = json.dumps(report).encode()
            code = "200 OK" if report["status"] == "ok" else "503 Service Unavailable"
            start_response(
                code, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /healthz or /metrics\n"]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health %s", format % args)


class HealthServer:
    """The endpoints on ``host:port`` (0: any free port; see ``.port``), in a thread."""

    def __init__(self, host: str, port: int, app: Callable[..., Iterable[bytes]]) -> None:
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = make_server(host, port, app, server_class, _QuietHandler)
        except OSError as exc:
            from core.errors import ConfigurationError

            raise ConfigurationError(
                f"cannot serve health and metrics on {host}:{port}: {exc.strerror or exc}"
                " (another daemon, or pick --health-port)"
            ) from None
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="quorum-health", daemon=True
        )
        self._thread.start()
        log.info("health and metrics on http://%s:%d/healthz and /metrics", host, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
