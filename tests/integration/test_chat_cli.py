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
