"""The issue's "done when", through the real commands: on a fresh state dir with only the
chat settings, `quorum operators add` enrols a viewer, `quorum chat serve` starts, a Slack
and a Discord slash command signed with test keys get `status` answered, the viewer
cannot halt, and `quorum audit verify` checks a chain holding every attempt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from adapters.bus.redis.local_server import free_port
from adapters.cli.main import app
from adapters.storage.sqlite import SqliteStore
from config.settings import PROJECT_ROOT
from tests.fixtures.chat import SLACK_SECRET, discord_headers, discord_key, slack_headers

SLACK_USER, DISCORD_USER = "U0VIEWER", "300000000000000002"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "QUORUM_STATE_DIR": str(tmp_path / "var"),
        "QUORUM_CHAT__SLACK_SIGNING_SECRET": SLACK_SECRET,
        "QUORUM_CHAT__DISCORD_PUBLIC_KEY": discord_key().verify_key.encode().hex(),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    enrolled = CliRunner().invoke(
        app, ["operators", "add", "vic", "--role", "viewer", "--slack-id", SLACK_USER,
              "--discord-id", DISCORD_USER, "--json"],
    )  # fmt: skip
    assert enrolled.exit_code == 0, enrolled.output
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli.main", "chat", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).json() == {
                "ok": True, "slack": True, "discord": True,
            }:  # fmt: skip
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"quorum chat serve did not start:\n{output}")
        time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(15)


def slash(url: str, text: str) -> httpx.Response:
    body = urllib.parse.urlencode({"command": "/quorum", "text": text, "user_id": SLACK_USER,
                                   "user_name": "vic", "team_id": "T1",
                                   "response_url": "http://127.0.0.1:9/unused"})  # fmt: skip
    return httpx.post(f"{url}/slack/events", content=body, headers=slack_headers(body), timeout=10)


def discord_status(url: str) -> httpx.Response:
    payload = {"id": "1", "application_id": "110000000000000001", "type": 2, "token": "tok",
               "member": {"user": {"id": DISCORD_USER, "username": "vic"}},
               "data": {"name": "quorum", "options": [{"name": "command", "type": 3,
                                                       "value": "status"}]}}  # fmt: skip
    body = json.dumps(payload).encode()
    headers = discord_headers(body, discord_key())
    return httpx.post(f"{url}/discord/interactions", content=body, headers=headers, timeout=10)


def test_chat_serve_when_only_chat_settings_then_slack_and_discord_status_answered(
    served: str, env: dict[str, str]
) -> None:
    slack = slash(served, "status")
    assert slack.status_code == 200 and "ACTIVE" in slack.json()["text"]
    discord = discord_status(served)
    assert discord.status_code == 200
    assert discord.json()["type"] == 4 and "ACTIVE" in discord.json()["data"]["content"]
    halted = slash(served, "halt just because")
    assert "ROLE_FORBIDDEN" in halted.json()["text"]
    assert slash(served, "status").json()["text"].count("HALTED") == 0
    verified = CliRunner().invoke(app, ["audit", "verify", "--json"])
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["ok"] is True
    store = SqliteStore(Path(env["QUORUM_STATE_DIR"]) / "quorum.db")
    try:
        attempts = [
            (r.data["platform"], r.action, r.data["outcome"])
            for r in store.audit_records()
            if r.action.startswith("command:")
        ]
    finally:
        store.close()
    assert attempts == [
        ("slack", "command:status", "ok"),
        ("discord", "command:status", "ok"),
        ("slack", "command:halt", "denied"),
        ("slack", "command:status", "ok"),
    ]


def test_chat_serve_when_nothing_configured_then_exit_2_naming_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUORUM_STATE_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(app, ["chat", "serve"])
    assert result.exit_code == 2
    assert "QUORUM_CHAT__SLACK_SIGNING_SECRET" in result.output
    assert "QUORUM_CHAT__DISCORD_PUBLIC_KEY" in result.output


def test_discord_register_when_configured_then_put_commands_with_the_bot_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.chat.discord import SLASH_COMMANDS
    from tests.fixtures.chat import api_stand_in

    with api_stand_in() as api:
        api.script("/discord/", [(200, [{"id": "1300000000000000001", "name": "quorum"}])] * 2)
        monkeypatch.setenv("QUORUM_STATE_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("QUORUM_CHAT__DISCORD_APPLICATION_ID", "110000000000000001")
        monkeypatch.setenv("QUORUM_CHAT__DISCORD_BOT_TOKEN", "register-bot-token")
        monkeypatch.setenv("QUORUM_CHAT__DISCORD_API_URL", api.url("/discord/api/v10"))
        plain = CliRunner().invoke(app, ["chat", "discord", "register"])
        guild = CliRunner().invoke(app, ["chat", "discord", "register", "--guild", "42", "--json"])
        puts = api.seen(lambda r: r.method == "PUT")
    assert plain.exit_code == 0, plain.output
    assert "registered /quorum (id 1300000000000000001) for all servers" in plain.output
    assert guild.exit_code == 0 and json.loads(guild.stdout)[0]["name"] == "quorum"
    assert [r.path for r in puts] == [
        "/discord/api/v10/applications/110000000000000001/commands",
        "/discord/api/v10/applications/110000000000000001/guilds/42/commands",
    ]
    assert all(r.headers["authorization"] == "Bot register-bot-token" for r in puts)
    assert puts[0].json == SLASH_COMMANDS


def test_discord_register_when_discord_refuses_then_exit_2_with_the_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures.chat import api_stand_in

    with api_stand_in() as api:
        api.script("/discord/", [(401, {"message": "401: Unauthorized", "code": 0})])
        monkeypatch.setenv("QUORUM_STATE_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("QUORUM_CHAT__DISCORD_APPLICATION_ID", "110000000000000001")
        monkeypatch.setenv("QUORUM_CHAT__DISCORD_BOT_TOKEN", "wrong-token")
        monkeypatch.setenv("QUORUM_CHAT__DISCORD_API_URL", api.url("/discord/api/v10"))
        result = CliRunner().invoke(app, ["chat", "discord", "register"])
    assert result.exit_code == 2
    assert "Discord refused the command registration: REFUSED: status=401" in result.output
    assert "wrong-token" not in result.output


def test_chat_app_when_a_platform_is_not_configured_then_503_naming_its_setting(
    tmp_path: Path,
) -> None:
    from adapters.chat.server import build_chat_app
    from adapters.factories import make_operator_service
    from config.settings import load_settings
    from tests.fixtures.chat import UvicornThread

    key = discord_key().verify_key.encode().hex()
    settings = load_settings(state_dir=tmp_path, chat={"discord_public_key": key})
    store = SqliteStore(tmp_path / "q.db")
    try:
        chat_app = build_chat_app(settings, service=make_operator_service(settings, store))
        with UvicornThread(chat_app) as server, server.client() as http:
            slack = http.post("/slack/events", content="x=1")
            health = http.get("/healthz").json()
    finally:
        store.close()
    assert slack.status_code == 503
    assert "QUORUM_CHAT__SLACK_SIGNING_SECRET" in slack.json()["error"]
    assert health == {"ok": True, "slack": False, "discord": True}
