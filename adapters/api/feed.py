"""GET /api/v1/feed: the live A2A feed as Server-Sent Events (``text/event-stream``).

On connect: the newest ``backlog`` messages (``?backlog=N``, 0..200) of the data
source's journal, then every new one as it is journaled, each as ``event: a2a`` with the
message id as the event id and a ``JournalMessage`` as JSON data. Where they come from:

- with a Redis bus (``bus.kind = redis``) and the main store as the source: the bus's
  ``a2a.messages`` stream (``adapters/bus/journal_tap.py`` publishes every journaled
  message there), read with plain XREAD from the newest entry, so every dashboard sees
  every message and no consumer group is left behind;
- otherwise (the in-process bus, or a simulation's store): the journal, tailed every
  ``poll_s`` seconds. A Redis read that fails falls back to this too.

``event: heartbeat`` at least every ``heartbeat_s`` seconds keeps proxies from closing
the stream and tells the page the feed is alive. The browser's EventSource cannot send
an Authorization header: it authenticates with the dashboard's session cookie (Bearer
works for other clients).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from adapters.api.auth import Principal
from adapters.api.context import ApiContext, context_of, principal
from adapters.api.reads import message_row
from adapters.api.routes_reads import ERRORS
from adapters.api.source import SourceKind
from core import topics
from core.messages import Envelope
from core.ports import Store

log = logging.getLogger("quorum.api.feed")
TAIL_WINDOW = 200
MAX_BACKLOG = 200
SEEN = 2000  # message ids remembered to drop duplicates (backlog vs live, resumed reads)
router = APIRouter(prefix="/api/v1", responses=ERRORS)
Auth = Annotated[Principal, Depends(principal)]


class Follower(Protocol):
    via: str

    async def start(self) -> None: ...
    async def next(self, wait_s: float) -> list[Envelope]: ...
    async def close(self) -> None: ...


class JournalFollower:
    """New journal messages after the last one seen, polled."""

    via = "journal"

    def __init__(self, store: Store, last_id: str | None) -> None:
        self._store = store
        self._last = last_id

    async def start(self) -> None:
        return None

    async def next(self, wait_s: float) -> list[Envelope]:
        await asyncio.sleep(wait_s)
        window = await asyncio.to_thread(self._store.tail, TAIL_WINDOW)
        ids = [m.id for m in window]
        # The first messages ever, or more than a window of them since the last poll:
        # the whole window.
        fresh = window[ids.index(self._last) + 1 :] if self._last in ids else window
        if window:
            self._last = window[-1].id
        return fresh

    async def close(self) -> None:
        return None


class RedisFollower:
    """The bus's A2A stream from the newest entry on (plain XREAD, no group)."""

    via = "redis"

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        from adapters.bus.redis.streams import DEFAULT_PREFIX

        self._r: Any = aioredis.Redis.from_url(url, socket_connect_timeout=3)
        self._key = DEFAULT_PREFIX + topics.A2A
        self._last = "0-0"

    async def start(self) -> None:
        """From the stream's newest entry as of now (not ``$`` at the first read: a
        message published between the ``ready`` event and that read would be lost)."""
        newest = await self._r.xrevrange(self._key, count=1)
        if newest:
            entry_id = newest[0][0]
            self._last = entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    async def next(self, wait_s: float) -> list[Envelope]:
        block = max(1, int(wait_s * 1000))
        response = await self._r.xread({self._key: self._last}, count=100, block=block)
        out: list[Envelope] = []
        for _key, entries in response or []:
            for entry_id, fields in entries:
                self._last = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                raw = fields.get(b"env") or fields.get("env")
                if raw is None:
                    continue
                try:
                    out.append(Envelope.model_validate_json(raw))
                except ValueError:
                    log.warning("feed: an undecodable a2a entry %s skipped", self._last)
        return out

    async def close(self) -> None:
        await self._r.aclose()


def sse(event: str, data: Any, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def follower_for(ctx: ApiContext, last_id: str | None) -> Follower:
    settings = ctx.settings
    if settings.bus.kind == "redis" and ctx.source.kind is SourceKind.MAIN:
        return RedisFollower(settings.bus.redis_url.get_secret_value())
    return JournalFollower(ctx.data, last_id)


async def _journal(ctx: ApiContext, seen: deque[str], failed: Follower) -> JournalFollower:
    """The journal instead of a bus that failed, from the last message sent (or the
    journal's newest)."""
    await failed.close()
    newest = await asyncio.to_thread(ctx.data.tail, 1)
    last = seen[-1] if seen else (newest[-1].id if newest else None)
    return JournalFollower(ctx.data, last)


async def events(ctx: ApiContext, request: Request, backlog_n: int) -> AsyncIterator[str]:
    options = ctx.feed
    newest = await asyncio.to_thread(ctx.data.tail, max(1, backlog_n))
    backlog = newest[-backlog_n:] if backlog_n else []
    seen: deque[str] = deque(maxlen=SEEN)
    yield "retry: 3000\n\n"
    for m in backlog:
        seen.append(m.id)
        yield sse("a2a", message_row(m).model_dump(mode="json"), m.id)
    follower = follower_for(ctx, newest[-1].id if newest else None)
    try:
        await follower.start()
    except Exception as exc:  # Redis down: the journal still has every message
        log.warning("feed: the bus failed (%s); following the journal", type(exc).__name__)
        follower = await _journal(ctx, seen, follower)
    yield sse("ready", {"source": ctx.label, "via": follower.via, "backlog": len(backlog)})
    beat = time.monotonic()
    try:
        while not await request.is_disconnected():
            wait = max(0.05, min(options.poll_s, options.heartbeat_s - (time.monotonic() - beat)))
            try:
                batch = await follower.next(wait)
            except Exception as exc:
                if isinstance(follower, JournalFollower):
                    raise
                log.warning("feed: the bus failed (%s); following the journal", type(exc).__name__)
                follower = await _journal(ctx, seen, follower)
                yield sse("ready", {"source": ctx.label, "via": follower.via, "fallback": True})
                continue
            for m in batch:
                if m.id in seen:
                    continue
                seen.append(m.id)
                yield sse("a2a", message_row(m).model_dump(mode="json"), m.id)
            if time.monotonic() - beat >= options.heartbeat_s:
                beat = time.monotonic()
                yield sse("heartbeat", {"source": ctx.label, "via": follower.via})
    finally:
        await follower.close()


@router.get(
    "/feed",
    tags=["feed"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "SSE stream: a2a, ready and heartbeat events",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
def feed(
    request: Request,
    who: Auth,
    backlog: Annotated[int | None, Query(ge=0, le=MAX_BACKLOG)] = None,
) -> StreamingResponse:
    """The live A2A feed (Server-Sent Events): ``a2a``, ``ready`` and ``heartbeat``
    events; ``backlog`` newest messages first (default: the server's, 20)."""
    ctx = context_of(request)
    ctx.read(who, request, like="explain")
    n = ctx.feed.backlog if backlog is None else backlog
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    stream = events(ctx, request, n)
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
