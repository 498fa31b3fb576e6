"""One-process shared state: the default when every agent runs in the same process."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from adapters.state.arrays import decode_arrays, encode_arrays
from core.errors import DataValidationError
from core.orders import utcnow
from core.ports import TradingStatus
from core.risk import TradingState


class MemoryLock:
    """Same lease semantics as the Redis lock: token-owned, expiring, extendable."""

    def __init__(
        self,
        table: dict[str, tuple[str, float]],
        guard: threading.Lock,
        name: str,
        ttl_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table, self._guard, self.name, self.ttl_ms = table, guard, name, ttl_ms
        self._clock = clock
        self._token: str | None = None

    def acquire(self, blocking: bool = True, timeout_s: float | None = None) -> bool:
        token = uuid.uuid4().hex
        deadline = None if timeout_s is None else self._clock() + timeout_s
        while True:
            with self._guard:
                now = self._clock()
                held = self._table.get(self.name)
                if held is None or held[1] <= now:
                    self._table[self.name] = (token, now + self.ttl_ms / 1000)
                    self._token = token
                    return True
            if not blocking or (deadline is not None and self._clock() >= deadline):
                return False
            time.sleep(0.005)

    def release(self) -> bool:
        with self._guard:
            held = self._table.get(self.name)
            mine = held is not None and held[0] == self._token and held[1] > self._clock()
            if mine:
                del self._table[self.name]
            self._token = None
            return mine

    def extend(self, ttl_ms: int | None = None) -> bool:
        with self._guard:
            held = self._table.get(self.name)
            now = self._clock()
            if held is None or held[0] != self._token or held[1] <= now:
                return False
            self._table[self.name] = (held[0], now + (ttl_ms or self.ttl_ms) / 1000)
            return True

    def owned(self) -> bool:
        with self._guard:
            held = self._table.get(self.name)
            return held is not None and held[0] == self._token and held[1] > self._clock()

    def __enter__(self) -> MemoryLock:
        if not self.acquire():
            raise TimeoutError(f"lock {self.name} not acquired")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class MemoryRateLimiter:
    """Token bucket: ``capacity`` tokens, refilled at ``refill_per_s``."""

    def __init__(
        self, capacity: int, refill_per_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if capacity < 1 or refill_per_s <= 0:
            raise ValueError("capacity must be >= 1 and refill_per_s > 0")
        self.capacity, self.refill_per_s = capacity, refill_per_s
        self._clock = clock
        self._tokens = float(capacity)
        self._ts = clock()
        self._guard = threading.Lock()

    def try_acquire(self, tokens: int = 1) -> float:
        if tokens > self.capacity:
            raise ValueError(f"{tokens} tokens can never fit a bucket of {self.capacity}")
        with self._guard:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._ts) * self.refill_per_s)
            self._ts = now
            if self._tokens >= tokens:
                self._tokens -= tokens
                return 0.0
            return (tokens - self._tokens) / self.refill_per_s

    def acquire(self, tokens: int = 1, timeout_s: float | None = None) -> bool:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            wait = self.try_acquire(tokens)
            if wait == 0.0:
                return True
            if deadline is not None and time.monotonic() + wait > deadline:
                return False
            time.sleep(wait)


class MemoryArrayCache:
    """Stores the same ``.npz`` bytes as the Redis cache, so both refuse the same inputs."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[str, tuple[bytes, float]] = {}
        self._guard = threading.Lock()

    def put_arrays(self, key: str, arrays: dict[str, Any], ttl_s: float) -> None:
        data = encode_arrays(arrays)
        with self._guard:
            self._items[key] = (data, self._clock() + ttl_s)

    def get_arrays(self, key: str) -> dict[str, Any] | None:
        with self._guard:
            item = self._items.get(key)
            if item is None:
                return None
            if item[1] <= self._clock():
                del self._items[key]
                return None
        try:
            return decode_arrays(item[0])
        except DataValidationError:
            self.delete(key)
            return None

    def delete(self, key: str) -> None:
        with self._guard:
            self._items.pop(key, None)


class MemorySharedState:
    """Trading status and kill switch for threads of one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._status = TradingStatus()
        self._cond = threading.Condition()
        self._locks: dict[str, tuple[str, float]] = {}
        self._locks_guard = threading.Lock()
        self._limiters: dict[str, MemoryRateLimiter] = {}
        self._caches: dict[str, MemoryArrayCache] = {}

    def status(self) -> TradingStatus:
        with self._cond:
            return self._status

    def _update(self, reason: str, actor: str, **changes: Any) -> TradingStatus:
        with self._cond:
            self._status = self._status.model_copy(
                update={
                    **changes,
                    "reason": reason,
                    "actor": actor,
                    "changed_at": utcnow(),
                    "version": self._status.version + 1,
                }
            )
            self._cond.notify_all()
            return self._status

    def set_state(self, state: TradingState, reason: str, actor: str = "system") -> TradingStatus:
        return self._update(reason, actor, state=TradingState(state))

    def engage_kill_switch(self, reason: str, actor: str = "system") -> TradingStatus:
        return self._update(reason, actor, kill_switch=True)

    def release_kill_switch(self, reason: str, actor: str = "system") -> TradingStatus:
        return self._update(reason, actor, kill_switch=False)

    def wait_for_change(self, after_version: int, timeout_s: float) -> TradingStatus:
        with self._cond:
            self._cond.wait_for(lambda: self._status.version > after_version, timeout=timeout_s)
            return self._status

    def lock(self, name: str, ttl_ms: int = 30_000) -> MemoryLock:
        return MemoryLock(self._locks, self._locks_guard, name, ttl_ms, self._clock)

    def rate_limiter(self, name: str, capacity: int, refill_per_s: float) -> MemoryRateLimiter:
        with self._cond:
            limiter = self._limiters.get(name)
            if limiter is None:
                limiter = MemoryRateLimiter(capacity, refill_per_s, self._clock)
                self._limiters[name] = limiter
            return limiter

    def cache(self, namespace: str) -> MemoryArrayCache:
        with self._cond:
            return self._caches.setdefault(namespace, MemoryArrayCache(self._clock))

    def close(self) -> None:
        return None
