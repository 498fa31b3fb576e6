"""The REST API tests' shared app: a short real offline simulation (four sessions, the
22 agents) in a state dir of its own, run once per session, and the real app on uvicorn
on a loopback port over it, with a viewer, a trader and an admin. The main account has
never run a cycle, so every read comes from the simulation's own store, as after
`make demo`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.api.context import FeedOptions
from tests.integration.api.kit import (
    LiveServer,
    Operators,
    api_settings,
    clean_environment,
    live_app,
    simulate,
)
from tests.unit.workflows.operator_kit import Clock
from workflows.operators import Role


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state_dir = tmp_path_factory.mktemp("api") / "var"
    with clean_environment():
        simulate(state_dir)
        yield state_dir


@pytest.fixture(scope="session")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def live(sim_dir: Path, clock: Clock) -> Iterator[tuple[LiveServer, Operators]]:
    feed = FeedOptions(heartbeat_s=0.5, poll_s=0.2, backlog=5)
    roles = {"vic": Role.VIEWER, "tom": Role.TRADER, "ada": Role.ADMIN}
    with clean_environment(), live_app(api_settings(sim_dir), clock, feed=feed, **roles) as pair:
        yield pair


@pytest.fixture
def api(live: tuple[LiveServer, Operators]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live[0].url + "/api/v1", timeout=60) as client:
        yield client


@pytest.fixture
def ops(live: tuple[LiveServer, Operators]) -> Operators:
    return live[1]
