"""Redis lock, token-bucket rate limiter and array cache, shared by every process.

- Lock: ``SET key token NX PX ttl``; release and extend are Lua compare-and-act on the
  token, so a process whose lease expired can never delete or prolong another's lock.
- Rate limiter: a token bucket updated by one Lua script using the server's clock, so
  processes on different machines share one budget (IBKR pacing: 100 requests/min).
- Cache: ``.npz`` bytes with a TTL (``SET ... PX``); never pickle.

Connection loss and timeouts raise ``TemporaryError`` from every method.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from adapters.state.arrays import decode_arrays, encode_arrays
from core.errors import DataValidationError, TemporaryError

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS[1] bucket hash; ARGV capacity, refill per second, tokens wanted.
# Returns 0 when granted, else the milliseconds until enough tokens will have refilled.
_BUCKET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local capacity, per_ms, want = tonumber(ARGV[1]), tonumber(ARGV[2]) / 1000, tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil or ts == nil then tokens, ts = capacity, now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * per_ms)
local wait_ms = 0
if tokens >= want then
  tokens = tokens - want
else
  wait_ms = math.ceil((want - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
  'ts', string.format('%.3f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / per_ms) + 60000)
return wait_ms
"""


@contextmanager
def reachable(action: str) -> Iterator[None]:
    """Connection loss and timeouts become ``TemporaryError`` (the caller may retry)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise TemporaryError(f"shared state unreachable {action}: {exc}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLock:
    """A lease on ``key``. Not re-entrant: one acquire, one release."""

    def __init__(self, client: redis.Redis, key: str, ttl_ms: int = 30_000) -> None:
        self._r, self.key, self.ttl_ms = client, key, ttl_ms
        self._release = client.register_script(_RELEASE)
        self._extend = client.register_script(_EXTEND)
        self._token: str | None = None

    def acquire(self, blocking: bool = True, timeout_s: float | None = None) -> bool:
        token = uuid.uuid4().hex
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            with reachable(f"acquiring {self.key}"):
                taken = self._r.set(self.key, token, nx=True, px=self.ttl_ms)
            if taken:
                self._token = token
                return True
            if not blocking or (deadline is not None and time.monotonic() >= deadline):
                return False
            time.sleep(0.005 + random.random() * 0.01)  # jitter: contenders don't lockstep

    def release(self) -> bool:
        if self._token is None:
            return False
        try:
            with reachable(f"releasing {self.key}"):
                return bool(self._release(keys=[self.key], args=[self._token]))
        finally:
            self._token = None  # unreachable or not, the lease ends at its TTL anyway

    def extend(self, ttl_ms: int | None = None) -> bool:
        if self._token is None:
            return False
        with reachable(f"extending {self.key}"):
            return bool(self._extend(keys=[self.key], args=[self._token, ttl_ms or self.ttl_ms]))

    def owned(self) -> bool:
        if self._token is None:
            return False
        with reachable(f"reading {self.key}"):
            current = self._r.get(self.key)
        return current is not None and _text(current) == self._token

    def __enter__(self) -> RedisLock:
        if not self.acquire():
            raise TimeoutError(f"lock {self.key} not acquired")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RedisRateLimiter:
    """A token bucket every process shares through one Redis key."""

    def __init__(self, client: redis.Redis, key: str, capacity: int, refill_per_s: float) -> None:
        if capacity < 1 or refill_per_s <= 0:
            raise ValueError("capacity must be >= 1 and refill_per_s > 0")
        self._r, self.key = client, key
        self.capacity, self.refill_per_s = capacity, refill_per_s
        self._bucket = client.register_script(_BUCKET_SCRIPT)

    def try_acquire(self, tokens: int = 1) -> float:
        if tokens > self.capacity:
            raise ValueError(f"{tokens} tokens can never fit a bucket of {self.capacity}")
        with reachable(f"taking tokens from {self.key}"):
            wait_ms = self._bucket(keys=[self.key], args=[self.capacity, self.refill_per_s, tokens])
        return int(wait_ms) / 1000

    def acquire(self, tokens: int = 1, timeout_s: float | None = None) -> bool:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            wait = self.try_acquire(tokens)
            if wait == 0.0:
                return True
            if deadline is not None and time.monotonic() + wait > deadline:
                return False
            # Jitter so processes that were told the same wait don't retry in lockstep.
            time.sleep(wait * (1.0 + random.random() * 0.2))


class RedisArrayCache:
    """Named arrays under ``prefix + key``, expiring after their TTL."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._r, self.prefix = client, prefix

    def put_arrays(self, key: str, arrays: dict[str, Any], ttl_s: float) -> None:
        data = encode_arrays(arrays)
        with reachable(f"caching {self.prefix + key}"):
            self._r.set(self.prefix + key, data, px=max(1, int(ttl_s * 1000)))

    def get_arrays(self, key: str) -> dict[str, Any] | None:
        with reachable(f"reading {self.prefix + key}"):
            data = self._r.get(self.prefix + key)
        if data is None:
            return None
        try:
            return decode_arrays(data if isinstance(data, bytes) else data.encode())
        except DataValidationError:
            self.delete(key)  # garbage or a pickle someone planted: a miss, and gone
            return None

    def delete(self, key: str) -> None:
        with reachable(f"deleting {self.prefix + key}"):
            self._r.delete(self.prefix + key)
