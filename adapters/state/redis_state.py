"""Trading status and kill switch in Redis, seen by every process at once.

The status is one hash (``prefix + topics.STATE``). Every change increments its version
and PUBLISHes on a channel of the same name in one MULTI, so ``wait_for_change`` wakes
on the message; it also re-reads every 50 ms, so a missed message (reconnect) costs at
most that. ``status()`` is a single HGETALL: gateways read it before every order.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import redis

from adapters.state.redis_primitives import (
    RedisArrayCache,
    RedisLock,
    RedisRateLimiter,
    reachable,
)
from core import topics
from core.orders import utcnow
from core.ports import TradingStatus
from core.risk import TradingState

DEFAULT_PREFIX = "quorum:"
_POLL_S = 0.05


class RedisSharedState:
    def __init__(
        self, client: redis.Redis, prefix: str = DEFAULT_PREFIX, owns_client: bool = False
    ) -> None:
        self._r, self.prefix, self._owns_client = client, prefix, owns_client
        self._key = prefix + topics.STATE

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX) -> RedisSharedState:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        return cls(client, prefix=prefix, owns_client=True)

    # -- trading status -------------------------------------------------------------------
    def status(self) -> TradingStatus:
        with reachable("reading the trading status"):
            raw = self._r.hgetall(self._key)
        return _parse(raw)

    def _update(self, reason: str, actor: str, fields: dict[str, str]) -> TradingStatus:
        pipe = self._r.pipeline(transaction=True)
        pipe.hincrby(self._key, "version", 1)
        mapping: Any = {
            **fields,
            "reason": reason,
            "actor": actor,
            "changed_at": utcnow().isoformat(),
        }
        pipe.hset(self._key, mapping=mapping)
        pipe.hgetall(self._key)
        pipe.publish(self._key, b"changed")
        with reachable("changing the trading status"):
            result = pipe.execute()
        return _parse(result[2])

    def set_state(self, state: TradingState, reason: str, actor: str = "system") -> TradingStatus:
        return self._update(reason, actor, {"state": TradingState(state).value})

    def engage_kill_switch(self, reason: str, actor: str = "system") -> TradingStatus:
        return self._update(reason, actor, {"kill_switch": "1"})

    def release_kill_switch(self, reason: str, actor: str = "system") -> TradingStatus:
        return self._update(reason, actor, {"kill_switch": "0"})

    def wait_for_change(self, after_version: int, timeout_s: float) -> TradingStatus:
        deadline = time.monotonic() + timeout_s
        pubsub = self._r.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            with reachable("waiting for a trading status change"):
                pubsub.subscribe(self._key)  # subscribe first, then read: no change slips by
            while True:
                current = self.status()
                remaining = deadline - time.monotonic()
                if current.version > after_version or remaining <= 0:
                    return current
                with reachable("waiting for a trading status change"):
                    pubsub.get_message(timeout=min(remaining, _POLL_S))
        finally:
            pubsub.close()

    # -- primitives -----------------------------------------------------------------------
    def lock(self, name: str, ttl_ms: int = 30_000) -> RedisLock:
        return RedisLock(self._r, f"{self.prefix}lock:{name}", ttl_ms)

    def rate_limiter(self, name: str, capacity: int, refill_per_s: float) -> RedisRateLimiter:
        return RedisRateLimiter(self._r, f"{self.prefix}ratelimit:{name}", capacity, refill_per_s)

    def cache(self, namespace: str) -> RedisArrayCache:
        return RedisArrayCache(self._r, f"{self.prefix}cache:{namespace}:")

    def close(self) -> None:
        if self._owns_client:
            self._r.close()


def _parse(raw: dict[Any, Any]) -> TradingStatus:
    if not raw:
        return TradingStatus()
    f = {(k.decode() if isinstance(k, bytes) else k): v.decode() for k, v in raw.items()}
    changed = f.get("changed_at")
    return TradingStatus(
        state=TradingState(f.get("state", TradingState.ACTIVE.value)),
        kill_switch=f.get("kill_switch") == "1",
        reason=f.get("reason", ""),
        actor=f.get("actor", "system"),
        changed_at=datetime.fromisoformat(changed) if changed else None,
        version=int(f.get("version", "0")),
    )
