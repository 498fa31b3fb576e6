"""What the API and dashboard tests share: a short real simulation (the 22 agents,
offline, shipped bars) in a state dir of its own, the app on uvicorn on a free loopback
port in a thread, operators with API tokens and TOTP secrets, and fresh codes on a clock
the tests move."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyotp
import pytest
import uvicorn

from adapters.api.app import build_context, create_app
from adapters.api.context import ApiContext, FeedOptions
from adapters.runtime import run_simulation, with_overrides
from adapters.storage.sqlite import SqliteStore
from config.settings import Settings, load_settings
from tests.unit.workflows.operator_kit import Clock
from workflows.operators import Role

SYMBOLS = ["AAPL", "GOOG", "IBM", "MSFT"]
SIM_FROM, SIM_TO = date(2013, 2, 25), date(2013, 2, 28)  # a GOOG buy, its fill and stop
SIM_NAME = "demo-2013-02-25_2013-02-28"
SOURCE = f"simulation:{SIM_NAME}"


def api_settings(state_dir: Path, **api: Any) -> Settings:
    return load_settings(
        state_dir=state_dir,
        universe={"symbols": SYMBOLS},
        api={"requests_per_minute": 1000, **api},
    )


@contextmanager
def clean_environment() -> Iterator[None]:
    """No stray QUORUM_* variable for a fixture wider than one test."""
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("QUORUM_")]:
            mp.delenv(key)
        mp.setenv("QUORUM_MASTER_KEY_FILE", "/nonexistent/quorum-master.key")
        yield


def simulate(state_dir: Path) -> Settings:
    """The demo's path (``run_simulation``, offline, paper) over four sessions."""
    settings = with_overrides(api_settings(state_dir), broker="paper", llm="offline")
    asyncio.run(run_simulation(settings, SIM_FROM, SIM_TO, llm="offline", name=SIM_NAME))
    return settings


@dataclass
class Operators:
    tokens: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def enrol(ctx: ApiContext, **roles: Role) -> Operators:
    ops = Operators()
    registry = ctx.service.registry
    for name, role in roles.items():
        ops.secrets[name] = registry.enrol(name, role, actor="test").secret
        ops.tokens[name] = registry.issue_token(name, actor="test")
    return ops


def totp(secret: str, clock: Clock) -> str:
    return pyotp.TOTP(secret).at(clock.now)


class LiveServer:
    """The real app on uvicorn, on a socket bound to 127.0.0.1 before the thread starts."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(ctx.settings, context=ctx),
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout_s: float = 60.0) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()


@contextmanager
def live_app(
    settings: Settings,
    clock: Clock,
    *,
    source: str = "auto",
    feed: FeedOptions | None = None,
    **roles: Role,
) -> Iterator[tuple[LiveServer, Operators]]:
    """The app over ``settings`` on a live server, with operators enrolled."""
    ctx = build_context(settings, source=source, clock=clock, feed_options=feed)
    ops = enrol(ctx, **roles)
    server = LiveServer(ctx).start()
    try:
        yield server, ops
    finally:
        server.stop()


def sim_store(sim_dir: Path) -> SqliteStore:
    return SqliteStore(sim_dir / "simulations" / SIM_NAME / "quorum.db")


def audit_actions(live: tuple[LiveServer, Operators]) -> list[tuple[str, str, dict[str, Any]]]:
    records = live[0].ctx.store.audit_records()
    return [(r.actor, r.action, r.data) for r in records]


Live = tuple[LiveServer, Operators]
