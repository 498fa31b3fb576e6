"""Slack Socket Mode with the same listeners as HTTP: the stock SocketModeHandler opens a
connection (``apps.connections.open`` at the configured API URL, with the app-level token),
connects to the websocket it was given — here a loopback stand-in speaking Slack's Socket
Mode envelopes — and acknowledges a slash command with the operator service's answer."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from adapters.chat.bridge import ChatBridge, ServiceLoop
from adapters.chat.slack import socket_mode_handler
from adapters.factories import make_operator_service
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.errors import ConfigurationError
from tests.fixtures.chat import api_stand_in
from workflows.operators import Role

APP_TOKEN = "xapp-1-A0APP-test-app-level-token"


class SocketStandIn:
    """Sends ``hello`` then each envelope; collects what the client answers."""

    def __init__(self, envelopes: list[dict[str, Any]]) -> None:
        self.envelopes = envelopes
        self.answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self.server = serve(self.handle, "127.0.0.1", 0, compression=None)
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A0APP"}}))  # fmt: skip
        for envelope in self.envelopes:
            ws.send(json.dumps(envelope))
            self.answers.put(json.loads(ws.recv(timeout=15)))
        try:
            ws.recv(timeout=30)  # stay open until the client goes
        except Exception:
            return


@pytest.fixture
def socket_stand_in() -> Iterator[SocketStandIn]:
    envelope = {
        "envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf",
        "type": "slash_commands",
        "accepts_response_payload": True,
        "retry_attempt": 0,
        "payload": {
            "token": "legacy", "team_id": "T0TEAM", "channel_id": "C0OPS",
            "user_id": "U0ADMIN", "user_name": "ada", "command": "/quorum",
            "text": "status", "api_app_id": "A0APP",
            "response_url": "http://127.0.0.1:9/never-used", "trigger_id": "1.2.3",
        },
    }  # fmt: skip
    stand_in = SocketStandIn([envelope])
    yield stand_in
    stand_in.server.shutdown()


def test_socket_mode_when_slash_command_arrives_then_acked_with_the_status(
    tmp_path: Path, socket_stand_in: SocketStandIn
) -> None:
    with api_stand_in() as api:
        ws_url = f"ws://127.0.0.1:{socket_stand_in.port}/link/?ticket=t-1"
        api.script("/slack/api/apps.connections.open", [(200, {"ok": True, "url": ws_url})])
        settings = load_settings(
            state_dir=tmp_path,
            chat={"slack_app_token": APP_TOKEN, "slack_bot_token": "xoxb-bot",
                  "slack_api_url": api.url("/slack/api/")},
        )  # fmt: skip
        store = SqliteStore(tmp_path / "q.db")
        service = make_operator_service(settings, store)
        service.registry.enrol("ada", Role.VIEWER, actor="test", slack_id="U0ADMIN")
        loop = ServiceLoop()
        handler = socket_mode_handler(settings, ChatBridge(service=service, loop=loop))
        try:
            handler.connect()
            answer = socket_stand_in.answers.get(timeout=20)
        finally:
            handler.close()
            loop.close()
            store.close()
        [opened] = api.seen(lambda r: r.path == "/slack/api/apps.connections.open")
        assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert answer["envelope_id"] == "57d6a792-4d35-4d0b-b6aa-3361493e1caf"
    assert answer["payload"]["response_type"] == "in_channel"
    assert "ACTIVE" in answer["payload"]["text"]


def test_socket_mode_when_no_app_token_then_error_names_the_setting(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    loop = ServiceLoop()
    store = SqliteStore(tmp_path / "q.db")
    try:
        bridge = ChatBridge(service=make_operator_service(settings, store), loop=loop)
        with pytest.raises(ConfigurationError, match="QUORUM_CHAT__SLACK_APP_TOKEN"):
            socket_mode_handler(settings, bridge)
    finally:
        loop.close()
        store.close()
