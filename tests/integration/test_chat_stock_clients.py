"""`quorum chat serve` as a process, driven the way the platforms drive it: Slack requests
signed as Slack documents (``v0=`` HMAC-SHA256 of ``v0:{ts}:{body}``, a form-encoded slash
command), Discord interactions signed with Ed25519 over timestamp + body, operators
enrolled with ``quorum operators add``, and the platforms' Web APIs stood in for by a
plain loopback HTTP server (pytest-httpserver). Nothing here uses the project's own chat
test helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from pytest_httpserver import HTTPServer
from werkzeug import Request

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.timeout(300)

QUORUM = [sys.executable, "-m", "adapters.cli.main"]
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SIGNING_KEY = SigningKey(bytes(range(32)))
APP_ID = "999000999000999000"
TRADER_SLACK, TRADER_DISCORD = "U0TRADER01", "222222222222222222"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    env: dict[str, str]
    proc: subprocess.Popen[str]
    api: HTTPServer

    def stop(self) -> None:
        """Ctrl-C, as an operator stops it: queued notifications are drained at exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def seen(self, predicate: Callable[[Request], bool]) -> list[Request]:
        return [request for request, _ in self.api.log if predicate(request)]

    def wait_for(self, predicate: Callable[[Request], bool], timeout: float = 180.0) -> Request:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.seen(predicate)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                raise AssertionError(f"chat server exited: {self.proc.stderr.read()[-2000:]}")
            time.sleep(0.1)
        raise AssertionError("no such request reached the platform stand-in")


@pytest.fixture
def served(tmp_path: Path, httpserver: HTTPServer) -> Iterator[Served]:
    httpserver.expect_request(re.compile(".*")).respond_with_json(
        {"ok": True, "ts": "1700000000.000100", "channel": "C0NOTIFY", "id": "1"}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "PYTHONDONT"))}
    env.update({
        "QUORUM_STATE_DIR": str(tmp_path / "var"),
        "QUORUM_MASTER_KEY_FILE": str(tmp_path / "no-such.key"),
        "QUORUM_CHAT__SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "QUORUM_CHAT__SLACK_BOT_TOKEN": "xoxb-test",
        "QUORUM_CHAT__SLACK_API_URL": httpserver.url_for("/slack/api/"),
        "QUORUM_CHAT__SLACK_CHANNEL": "C0NOTIFY",
        "QUORUM_CHAT__DISCORD_PUBLIC_KEY": SIGNING_KEY.verify_key.encode().hex(),
        "QUORUM_CHAT__DISCORD_APPLICATION_ID": APP_ID,
        "QUORUM_CHAT__DISCORD_BOT_TOKEN": "discord-test",
        "QUORUM_CHAT__DISCORD_API_URL": httpserver.url_for("/discord/api/v10"),
        "QUORUM_CHAT__DISCORD_CHANNEL_ID": "555555555555555555",
    })  # fmt: skip
    enrolled = subprocess.run(
        [*QUORUM, "operators", "add", "tom", "--role", "trader", "--slack-id", TRADER_SLACK,
         "--discord-id", TRADER_DISCORD, "--json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    port = free_port()
    proc = subprocess.Popen(
        [*QUORUM, "chat", "serve", "--port", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"quorum chat serve did not start: {proc.stderr.read()}")
        time.sleep(0.2)
    served = Served(url, env, proc, httpserver)
    try:
        yield served
    finally:
        served.stop()


def slack_slash(url: str, user: str, text: str) -> httpx.Response:
    body = urllib.parse.urlencode({
        "token": "legacy-verification", "team_id": "T0001", "team_domain": "acme",
        "channel_id": "C2147483705", "channel_name": "trading", "user_id": user,
        "user_name": "tom", "command": "/quorum", "text": text, "api_app_id": "A0001",
        "response_url": "http://127.0.0.1:1/never-used", "trigger_id": "1.2.3",
    })  # fmt: skip
    ts = str(int(time.time()))
    mac = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={mac.hexdigest()}",
    }
    return httpx.post(f"{url}/slack/events", content=body, headers=headers, timeout=30)


def discord_interaction(url: str, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload, separators=(",", ":"))
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Signature-Ed25519": SIGNING_KEY.sign((ts + body).encode()).signature.hex(),
        "X-Signature-Timestamp": ts,
    }
    return httpx.post(f"{url}/discord/interactions", content=body, headers=headers, timeout=30)


def finished_notice(platform: str, cycle_id: str) -> Callable[[Request], bool]:
    path = "/slack/api/chat.postMessage" if platform == "slack" else "/channels/"

    def match(request: Request) -> bool:
        text = request.get_data(as_text=True)
        return path in request.path and f"Cycle {cycle_id} finished" in text

    return match


def test_cycle_run_from_slack_when_it_finishes_then_each_channel_hears_of_it_once(
    served: Served,
) -> None:
    response_url = served.api.url_for("/slack/response/1")
    body = urllib.parse.urlencode({
        "token": "legacy-verification", "team_id": "T0001", "channel_id": "C2147483705",
        "user_id": TRADER_SLACK, "user_name": "tom", "command": "/quorum",
        "text": "cycle run 2013-02-27", "response_url": response_url, "trigger_id": "1.2.3",
    })  # fmt: skip
    ts = str(int(time.time()))
    mac = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256)
    ack = httpx.post(
        f"{served.url}/slack/events",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={mac.hexdigest()}",
        },
        timeout=30,
    )
    assert ack.status_code == 200  # a slow command: acknowledged, the result follows
    answer = served.wait_for(lambda r: r.path == "/slack/response/1")
    assert "cycle cycle-2013-02-27 completed" in answer.get_data(as_text=True)
    served.wait_for(finished_notice("slack", "cycle-2013-02-27"))
    served.wait_for(finished_notice("discord", "cycle-2013-02-27"))
    served.stop()  # drains whatever is still queued, so the counts below are final
    assert len(served.seen(finished_notice("slack", "cycle-2013-02-27"))) == 1
    assert len(served.seen(finished_notice("discord", "cycle-2013-02-27"))) == 1


def test_discord_slash_command_named_after_a_command_when_signed_then_it_runs_that_command(
    served: Served,
) -> None:
    base = {
        "type": 2, "id": "1234567890123456789", "application_id": APP_ID,
        "token": "interaction-token", "version": 1, "guild_id": "613425648685547541",
        "channel_id": "645027906669510667",
        "member": {"user": {"id": TRADER_DISCORD, "username": "tom"}, "roles": []},
    }  # fmt: skip
    status = discord_interaction(served.url, {**base, "data": {"id": "7", "name": "status"}})
    assert status.status_code == 200
    assert status.json()["type"] == 4
    assert status.json()["data"]["content"].startswith("status: trading ACTIVE")
    halt = discord_interaction(
        served.url,
        {**base, "data": {"id": "8", "name": "halt",
                          "options": [{"name": "reason", "type": 3, "value": "news shock"}]}},
    )  # fmt: skip
    assert halt.json()["data"]["content"].startswith("halt: trading HALTED (by tom)")
    ours = discord_interaction(
        served.url,
        {**base, "data": {"id": "9", "name": "quorum",
                          "options": [{"name": "command", "type": 3, "value": "whoami"}]}},
    )  # fmt: skip
    assert ours.json()["data"]["content"].startswith("whoami: tom (trader) on discord")
    slack = slack_slash(served.url, TRADER_SLACK, "status")
    assert slack.status_code == 200 and slack.json()["text"].startswith("status: trading HALTED")
