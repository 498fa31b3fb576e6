"""The dashboard's live feed with a Redis bus: what a cycle journals through the journal
tap (``adapters/bus/journal_tap.py``) reaches a connected SSE client from the bus's
``a2a.messages`` stream, as it happens, once."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

import httpx
import pytest

from adapters.api.context import FeedOptions
from adapters.bus.journal_tap import tapped
from adapters.bus.redis.streams import RedisStreamBus
from config.settings import load_settings
from core.messages import Envelope, Note
from tests.integration.api.kit import SYMBOLS, live_app
from tests.unit.workflows.operator_kit import Clock
from workflows.operators import Role

pytestmark = pytest.mark.redis


def read_events(url: str, headers: dict[str, str], out: queue.Queue[tuple[str, dict]]) -> None:
    with (
        httpx.Client(base_url=url, timeout=30) as client,
        client.stream("GET", "/api/v1/feed", headers=headers) as response,
    ):
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.put((kind, json.loads(line[6:])))
                if kind == "a2a" and json.loads(line[6:])["cycle_id"] == "cycle-live-2":
                    return


def test_feed_when_bus_is_redis_then_tapped_messages_arrive_live_once(
    redis_url: str, tmp_path: Path
) -> None:
    settings = load_settings(
        state_dir=tmp_path / "var",
        universe={"symbols": SYMBOLS},
        bus={"kind": "redis", "redis_url": redis_url},
    )
    feed = FeedOptions(heartbeat_s=0.5, poll_s=0.2, backlog=0)
    with live_app(settings, Clock(), feed=feed, vic=Role.VIEWER) as (server, ops):
        bus = RedisStreamBus.from_url(redis_url)
        journal = tapped(server.ctx.store, bus)
        events: queue.Queue[tuple[str, dict]] = queue.Queue()
        reader = threading.Thread(
            target=read_events, args=(server.url, ops.header("vic"), events), daemon=True
        )
        reader.start()
        kind, ready = events.get(timeout=30)
        assert (kind, ready["via"], ready["source"]) == ("ready", "redis", "main")
        sent = [
            Envelope(cycle_id=f"cycle-live-{i}", sender="market_data", payload=Note(topic="tick"))
            for i in (1, 2)
        ]
        for message in sent:
            journal.append_message(message)
        reader.join(timeout=30)
        got = []
        while not events.empty():
            kind, data = events.get()
            if kind == "a2a":
                got.append(data)
        bus.close()
    assert [(m["id"], m["desk"], m["kind"]) for m in got] == [(m.id, "data", "note") for m in sent]
