"""Several processes share one TWS message budget through the shared trading state."""

from __future__ import annotations

import asyncio

import pytest

from adapters.brokers.ibkr import IbkrConfig, shared_pacing_limiter
from adapters.brokers.ibkr.pacing import Pacer
from adapters.state.memory import MemorySharedState

pytestmark = pytest.mark.timeout(30)


async def _granted(pacer: Pacer, attempts: int) -> int:
    """How many of ``attempts`` messages the pacer lets out without waiting long."""
    granted = 0
    for _ in range(attempts):
        try:
            await asyncio.wait_for(pacer.message(), timeout=0.05)
        except TimeoutError:
            break
        granted += 1
    return granted


async def test_two_pacers_sharing_a_limiter_never_exceed_its_budget_together() -> None:
    state = MemorySharedState()
    # a near-empty refill: only the shared bucket's capacity (3) may pass in total
    shared = state.rate_limiter("ibkr.messages.test", capacity=3, refill_per_s=1e-6)
    first = Pacer(45.0, 100, shared=shared)
    second = Pacer(45.0, 100, shared=shared)
    total = await _granted(first, 5) + await _granted(second, 5)
    assert total == 3


async def test_without_a_shared_limiter_each_pacer_has_its_own_burst() -> None:
    first, second = Pacer(45.0, 100), Pacer(45.0, 100)
    # each local bucket lets its 5-token burst out at once
    assert await _granted(first, 5) == 5
    assert await _granted(second, 5) == 5


def test_shared_limiter_is_keyed_by_endpoint_and_shaped_like_the_local_bucket() -> None:
    state = MemorySharedState()
    a = shared_pacing_limiter(state, IbkrConfig(port=7497))
    b = shared_pacing_limiter(state, IbkrConfig(port=7497))
    c = shared_pacing_limiter(state, IbkrConfig(port=4002))
    assert a is b and a is not c
    granted = sum(1 for _ in range(10) if a.try_acquire(1) == 0.0)
    # burst capacity 5, then a refill of 40/s: one more token only if the loop is
    # descheduled for 25 ms, never the 10 an unlimited bucket would give
    assert 5 <= granted <= 6
