"""One body of tests for shared state: in memory and in Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from adapters.state.memory import MemorySharedState
from adapters.state.redis_state import RedisSharedState
from core.errors import DataValidationError
from core.ports import ArrayCache, Lock, RateLimiter, SharedState
from core.risk import TradingState


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def state(request: pytest.FixtureRequest) -> Iterator[SharedState]:
    if request.param == "memory":
        s: SharedState = MemorySharedState()
    else:
        url: str = request.getfixturevalue("redis_url")
        s = RedisSharedState.from_url(url, prefix=request.getfixturevalue("redis_prefix"))
    yield s
    s.close()


def test_state_implementations_satisfy_the_ports(state: SharedState) -> None:
    assert isinstance(state, SharedState)
    assert isinstance(state.lock("x"), Lock)
    assert isinstance(state.rate_limiter("x", 1, 1.0), RateLimiter)
    assert isinstance(state.cache("x"), ArrayCache)


def test_status_when_fresh_then_active_without_kill_switch(state: SharedState) -> None:
    s = state.status()
    assert (s.state, s.kill_switch, s.version, s.effective) == (
        TradingState.ACTIVE,
        False,
        0,
        TradingState.ACTIVE,
    )


def test_set_state_when_reducing_then_status_says_who_and_why(state: SharedState) -> None:
    after = state.set_state(TradingState.REDUCING, "daily loss 1.8%", actor="drawdown_guard")
    assert after == state.status()
    assert after.state is TradingState.REDUCING
    assert (after.reason, after.actor, after.version) == ("daily loss 1.8%", "drawdown_guard", 1)
    assert after.changed_at is not None


def test_kill_switch_when_engaged_then_effective_state_halted_until_released(
    state: SharedState,
) -> None:
    state.engage_kill_switch("operator", actor="alice")
    state.set_state(TradingState.ACTIVE, "resume attempt")  # does not release the switch
    assert state.status().effective is TradingState.HALTED
    released = state.release_kill_switch("all clear", actor="alice")
    assert released.effective is TradingState.ACTIVE
    assert released.version == 3


def test_wait_for_change_when_changed_by_another_thread_then_wakes_quickly(
    state: SharedState,
) -> None:
    v0 = state.status().version
    timer = threading.Timer(0.05, lambda: state.engage_kill_switch("drawdown 5%"))
    t0 = time.monotonic()
    timer.start()
    seen = state.wait_for_change(v0, timeout_s=5)
    timer.join()
    assert seen.kill_switch and seen.version == v0 + 1
    assert time.monotonic() - t0 < 1.0


def test_wait_for_change_when_nothing_changes_then_returns_current_after_timeout(
    state: SharedState,
) -> None:
    t0 = time.monotonic()
    seen = state.wait_for_change(state.status().version, timeout_s=0.15)
    assert seen.version == 0
    assert 0.1 <= time.monotonic() - t0 < 1.0


# -- lock -----------------------------------------------------------------------------------
def test_lock_when_held_then_second_holder_cannot_acquire(state: SharedState) -> None:
    a, b = state.lock("cycle"), state.lock("cycle")
    assert a.acquire(blocking=False)
    assert not b.acquire(blocking=False)
    assert not b.acquire(timeout_s=0.05)
    assert a.owned() and not b.owned()
    assert a.release()
    assert b.acquire(blocking=False)


def test_lock_when_lease_expired_then_old_holder_cannot_release_new_holders_lock(
    state: SharedState,
) -> None:
    old, new = state.lock("cycle", ttl_ms=50), state.lock("cycle", ttl_ms=5_000)
    assert old.acquire(blocking=False)
    time.sleep(0.08)
    assert not old.owned()
    assert new.acquire(blocking=False)
    assert not old.release()
    assert not old.extend()
    assert new.owned()


def test_lock_when_extended_then_outlives_its_first_ttl(state: SharedState) -> None:
    lock, other = state.lock("cycle", ttl_ms=100), state.lock("cycle")
    assert lock.acquire(blocking=False)
    time.sleep(0.05)
    assert lock.extend(500)
    time.sleep(0.1)
    assert lock.owned()
    assert not other.acquire(blocking=False)


def test_lock_when_contended_by_threads_then_one_holder_at_a_time_and_no_lost_update(
    state: SharedState,
) -> None:
    counter = {"value": 0, "inside": 0, "max_inside": 0}

    def worker() -> None:
        for _ in range(5):
            lock = state.lock("cycle", ttl_ms=5_000)
            assert lock.acquire(timeout_s=10)
            try:
                counter["inside"] += 1
                counter["max_inside"] = max(counter["max_inside"], counter["inside"])
                value = counter["value"]
                time.sleep(0.002)  # read-modify-write that a second holder would corrupt
                counter["value"] = value + 1
                counter["inside"] -= 1
            finally:
                assert lock.release()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter["value"] == 20
    assert counter["max_inside"] == 1


# -- rate limiter ---------------------------------------------------------------------------
def test_rate_limiter_when_burst_exceeds_capacity_then_excess_told_to_wait(
    state: SharedState,
) -> None:
    limiter = state.rate_limiter("ibkr", capacity=5, refill_per_s=10.0)
    assert [limiter.try_acquire() for _ in range(5)] == [0.0] * 5
    wait = limiter.try_acquire()
    assert 0.0 < wait <= 0.1 + 1e-3
    time.sleep(wait + 0.02)
    assert limiter.try_acquire() == 0.0


def test_rate_limiter_when_two_handles_share_a_name_then_they_share_one_budget(
    state: SharedState,
) -> None:
    a = state.rate_limiter("ibkr", capacity=4, refill_per_s=1.0)
    b = state.rate_limiter("ibkr", capacity=4, refill_per_s=1.0)
    granted = sum(x.try_acquire() == 0.0 for x in (a, b, a, b, a, b))
    assert granted == 4


def test_rate_limiter_when_acquire_times_out_then_returns_false(state: SharedState) -> None:
    limiter = state.rate_limiter("slow", capacity=1, refill_per_s=0.5)
    assert limiter.acquire(timeout_s=0.1)
    t0 = time.monotonic()
    assert not limiter.acquire(timeout_s=0.1)
    assert time.monotonic() - t0 < 0.5


def test_rate_limiter_when_more_tokens_than_capacity_then_rejected(state: SharedState) -> None:
    with pytest.raises(ValueError, match="never fit"):
        state.rate_limiter("x", capacity=2, refill_per_s=1.0).try_acquire(3)


# -- cache ----------------------------------------------------------------------------------
def test_cache_when_put_then_get_returns_equal_arrays(state: SharedState) -> None:
    cache = state.cache("panels")
    rng = np.random.default_rng(7)
    panel = {"rsi": rng.random(300), "sma": rng.random((2, 300)), "mask": rng.random(300) > 0.5}
    cache.put_arrays("AAPL:2024", panel, ttl_s=60)
    got = cache.get_arrays("AAPL:2024")
    assert got is not None and set(got) == set(panel)
    for name, arr in panel.items():
        np.testing.assert_array_equal(got[name], arr)
        assert got[name].dtype == arr.dtype


def test_cache_when_ttl_passed_then_miss(state: SharedState) -> None:
    cache = state.cache("panels")
    cache.put_arrays("k", {"x": np.arange(3.0)}, ttl_s=0.05)
    time.sleep(0.1)
    assert cache.get_arrays("k") is None


def test_cache_when_deleted_or_never_set_then_miss(state: SharedState) -> None:
    cache = state.cache("panels")
    cache.put_arrays("k", {"x": np.arange(3.0)}, ttl_s=60)
    cache.delete("k")
    assert cache.get_arrays("k") is None
    assert cache.get_arrays("never") is None


def test_cache_when_namespaces_differ_then_keys_do_not_collide(state: SharedState) -> None:
    state.cache("bars").put_arrays("AAPL", {"x": np.arange(3.0)}, ttl_s=60)
    assert state.cache("panels").get_arrays("AAPL") is None


@pytest.mark.redis
def test_redis_cache_when_bytes_are_a_pickle_then_miss_and_entry_removed(
    redis_url: str, redis_prefix: str
) -> None:
    import io
    import pickle

    client = redis.Redis.from_url(redis_url)
    state = RedisSharedState(client, prefix=redis_prefix)
    buf = io.BytesIO()
    np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
    client.set(f"{redis_prefix}cache:panels:evil", buf.getvalue())
    client.set(f"{redis_prefix}cache:panels:raw", pickle.dumps({"x": 1}))
    assert state.cache("panels").get_arrays("evil") is None
    assert state.cache("panels").get_arrays("raw") is None
    assert client.exists(f"{redis_prefix}cache:panels:evil", f"{redis_prefix}cache:panels:raw") == 0
    client.close()


# -- failure paths shared by every backend --------------------------------------------------
def test_wait_for_change_when_already_newer_then_returns_at_once(state: SharedState) -> None:
    state.set_state(TradingState.REDUCING, "daily loss")
    t0 = time.monotonic()
    seen = state.wait_for_change(0, timeout_s=5)
    assert seen.version == 1 and seen.state is TradingState.REDUCING
    assert time.monotonic() - t0 < 1.0


def test_lock_when_released_twice_or_never_acquired_then_release_says_false(
    state: SharedState,
) -> None:
    lock = state.lock("cycle")
    assert not lock.release()
    assert not lock.extend()
    assert lock.acquire(blocking=False)
    assert lock.release()
    assert not lock.release()
    assert not lock.owned()


@pytest.mark.parametrize(("capacity", "refill"), [(0, 1.0), (5, 0.0), (5, -1.0)])
def test_rate_limiter_when_bucket_cannot_grant_then_value_error(
    state: SharedState, capacity: int, refill: float
) -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1 and refill_per_s > 0"):
        state.rate_limiter("bad", capacity=capacity, refill_per_s=refill)


def test_cache_when_arrays_need_pickle_then_refused_and_nothing_stored(
    state: SharedState,
) -> None:
    cache = state.cache("panels")
    with pytest.raises(DataValidationError, match="dtype object"):
        cache.put_arrays("k", {"x": np.array([{"a": 1}], dtype=object)}, ttl_s=60)
    assert cache.get_arrays("k") is None
