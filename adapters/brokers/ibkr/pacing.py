"""Request pacing towards TWS: a token bucket for messages and a rolling order budget.

TWS disconnects clients that exceed 50 messages per second; we stay at or under 45. The
order budget (default 100 orders per minute, the operators' requirement) comes from
``RiskLimits.orders_per_minute``. Both wait rather than fail: callers are async.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable

from core.ports import RateLimiter


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` banked."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else rate
        self._tokens = self.capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self, n: float = 1.0) -> float:
        """Take ``n`` tokens if available (returns 0.0) or the seconds to wait for them."""
        self._refill()
        if self._tokens >= n - 1e-9:  # float dust must not turn into an endless wait
            self._tokens = max(0.0, self._tokens - n)
            return 0.0
        return (n - self._tokens) / self.rate

    async def acquire(self, n: float = 1.0) -> None:
        async with self._lock:
            while (wait := self.try_take(n)) > 0:
                await asyncio.sleep(wait)


class RollingWindowLimiter:
    """At most ``limit`` events in any ``window_s`` seconds (orders per minute)."""

    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit <= 0:
            raise ValueError("limit must be positive")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._lock = asyncio.Lock()

    def try_take(self) -> float:
        now = self._clock()
        while self._stamps and now - self._stamps[0] >= self.window_s:
            self._stamps.popleft()
        if len(self._stamps) < self.limit:
            self._stamps.append(now)
            return 0.0
        return self.window_s - (now - self._stamps[0])

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self.try_take()) > 0:
                await asyncio.sleep(wait)


def bucket_shape(messages_per_second: float, burst: int = 5) -> tuple[int, float]:
    """(capacity, refill per second) of a bucket that never lets more than
    ``messages_per_second`` into any one-second window."""
    capacity = max(1, min(burst, int(messages_per_second) - 1))
    return capacity, messages_per_second - capacity


class Pacer:
    """Every outgoing message takes a token; every order also takes an order slot.

    A bucket lets through at most ``capacity + rate * T`` tokens in any ``T`` seconds, so
    with a burst of ``burst`` tokens and a refill of ``messages_per_second - burst`` per
    second no one-second window ever carries more than ``messages_per_second``.

    With ``shared`` (a limiter in the shared trading state, e.g. Redis), every message
    also takes a token there, so several processes talking to one TWS together stay
    within its budget; the local bucket still smooths this process's own bursts.
    """

    def __init__(
        self,
        messages_per_second: float = 45.0,
        orders_per_minute: int = 100,
        burst: int = 5,
        shared: RateLimiter | None = None,
    ) -> None:
        capacity, refill = bucket_shape(messages_per_second, burst)
        self.messages = TokenBucket(refill, capacity=capacity)
        self.orders = RollingWindowLimiter(orders_per_minute)
        self.shared = shared

    async def _one_message(self) -> None:
        await self.messages.acquire()
        if self.shared is not None:
            while (wait := self.shared.try_acquire(1)) > 0:
                await asyncio.sleep(wait)

    async def message(self, n: int = 1) -> None:
        for _ in range(n):
            await self._one_message()

    async def order(self) -> None:
        await self.orders.acquire()
        await self._one_message()


def backoff_delay(rng: random.Random, attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with equal jitter: ``min(cap, base * 2**attempt)``, half of it
    fixed and half random, so reconnecting clients do not stampede in step."""
    delay = min(cap, base * 2.0**attempt)
    return delay / 2 + rng.uniform(0, delay / 2)


class HistoryPacer:
    """IB's own pacing rules for historical data, applied before each request is sent:

    - at most ``max_requests`` requests in any ``window_s`` seconds (IB: 60 in 10 minutes);
    - no identical request (same contract, end, duration, bar size, what to show) within
      ``identical_s`` seconds (IB: 15 s);
    - at most ``per_contract`` requests for one contract within ``per_contract_window_s``
      seconds (IB: the sixth within 2 s is a violation).

    A request is granted only when all three allow it; it then counts for all three.
    Waits rather than fails, like the message bucket.
    """

    def __init__(
        self,
        max_requests: int = 60,
        window_s: float = 600.0,
        identical_s: float = 15.0,
        per_contract: int = 5,
        per_contract_window_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_requests <= 0 or per_contract <= 0:
            raise ValueError("request limits must be positive")
        self.max_requests, self.window_s = max_requests, window_s
        self.identical_s = identical_s
        self.per_contract, self.per_contract_window_s = per_contract, per_contract_window_s
        self._clock = clock
        self._all: deque[float] = deque()
        self._by_contract: dict[object, deque[float]] = {}
        self._last_identical: dict[object, float] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def _window_wait(stamps: deque[float], limit: int, window: float, now: float) -> float:
        while stamps and now - stamps[0] >= window:
            stamps.popleft()
        return 0.0 if len(stamps) < limit else window - (now - stamps[0])

    def try_take(self, request: object, contract: object) -> float:
        """Grant ``request`` on ``contract`` now (0.0) or return the seconds to wait."""
        now = self._clock()
        per_contract = self._by_contract.setdefault(contract, deque())
        last = self._last_identical.get(request)
        wait = max(
            self._window_wait(self._all, self.max_requests, self.window_s, now),
            self._window_wait(per_contract, self.per_contract, self.per_contract_window_s, now),
            0.0 if last is None else self.identical_s - (now - last),
        )
        if wait > 0:
            return wait
        self._all.append(now)
        per_contract.append(now)
        if len(self._last_identical) > 256:  # forget requests too old to matter
            cutoff = now - self.identical_s
            self._last_identical = {k: t for k, t in self._last_identical.items() if t > cutoff}
        self._last_identical[request] = now
        return 0.0

    async def acquire(self, request: object, contract: object) -> None:
        async with self._lock:
            while (wait := self.try_take(request, contract)) > 0:
                await asyncio.sleep(wait)
