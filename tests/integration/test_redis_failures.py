"""Redis backends when the server is gone, too old or holds something unexpected: every
failure is a classed error (``TemporaryError`` to retry, ``ConfigurationError`` to fix),
never a raw redis exception and never a silent empty answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis

from adapters.bus.policy import StreamPolicy
from adapters.bus.redis import RedisStreamBus
from adapters.bus.redis.local_server import free_port
from adapters.bus.redis.streams import require_server_version
from adapters.state.redis_state import RedisSharedState
from core import topics
from core.errors import ConfigurationError, TemporaryError
from core.messages import Envelope, Note
from core.risk import TradingState

TOPIC = topics.A2A


def _note() -> Envelope:
    return Envelope(cycle_id="c1", sender="tester", payload=Note(topic="n"))


@pytest.fixture
def dead_url() -> str:
    """A loopback port nothing listens on: connections are refused at once."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def dead_bus(dead_url: str) -> Iterator[RedisStreamBus]:
    bus = RedisStreamBus.from_url(dead_url, StreamPolicy(claim_idle_ms=50))
    yield bus
    bus.close()


@pytest.fixture
def dead_state(dead_url: str) -> Iterator[RedisSharedState]:
    state = RedisSharedState.from_url(dead_url)
    yield state
    state.close()


BUS_CALLS: dict[str, Callable[[RedisStreamBus], Any]] = {
    "publish": lambda b: b.publish(TOPIC, _note()),
    "publish_many": lambda b: b.publish_many(TOPIC, [_note()]),
    "consume": lambda b: b.consume(TOPIC, "g", "c1"),
    "ack": lambda b: b.ack(TOPIC, "g", "1-0"),
    "ack_many": lambda b: b.ack_many(TOPIC, "g", ["1-0", "2-0"]),
    "fail": lambda b: b.fail(TOPIC, "g", "1-0", "boom"),
    "dead_letters": lambda b: b.dead_letters(TOPIC),
    "pending": lambda b: b.pending(TOPIC, "g"),
    "length": lambda b: b.length(TOPIC),
}


@pytest.mark.parametrize("call", list(BUS_CALLS))
def test_bus_when_server_unreachable_then_every_call_raises_temporary_error(
    dead_bus: RedisStreamBus, call: str
) -> None:
    with pytest.raises(TemporaryError, match="redis bus unreachable"):
        BUS_CALLS[call](dead_bus)


STATE_CALLS: dict[str, Callable[[RedisSharedState], Any]] = {
    "status": lambda s: s.status(),
    "set_state": lambda s: s.set_state(TradingState.HALTED, "drill"),
    "engage_kill_switch": lambda s: s.engage_kill_switch("drill"),
    "wait_for_change": lambda s: s.wait_for_change(0, timeout_s=0.1),
    "lock.acquire": lambda s: s.lock("cycle").acquire(blocking=False),
    "lock.acquire_blocking": lambda s: s.lock("cycle").acquire(timeout_s=0.05),
    "rate_limiter.try_acquire": lambda s: s.rate_limiter("ibkr", 5, 1.0).try_acquire(),
    "rate_limiter.acquire": lambda s: s.rate_limiter("ibkr", 5, 1.0).acquire(timeout_s=0.1),
    "cache.put_arrays": lambda s: s.cache("bars").put_arrays("k", {"x": np.arange(3)}, 60),
    "cache.get_arrays": lambda s: s.cache("bars").get_arrays("k"),
    "cache.delete": lambda s: s.cache("bars").delete("k"),
}


@pytest.mark.parametrize("call", list(STATE_CALLS))
def test_state_when_server_unreachable_then_every_call_raises_temporary_error(
    dead_state: RedisSharedState, call: str
) -> None:
    with pytest.raises(TemporaryError, match="shared state unreachable"):
        STATE_CALLS[call](dead_state)


@pytest.mark.parametrize("version", ["5.0.14", "6.0.16", "6.1.0"])
def test_server_version_when_older_than_6_2_then_configuration_error_says_why(
    version: str,
) -> None:
    with pytest.raises(ConfigurationError, match=rf"Redis {version}; .*>= 6\.2.*IDLE"):
        require_server_version(version)


@pytest.mark.parametrize("version", ["6.2.0", "6.2.14", "7.4.2", "10.0.0"])
def test_server_version_when_6_2_or_newer_then_accepted(version: str) -> None:
    require_server_version(version)


def test_server_version_when_unparseable_then_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unrecognised redis_version ''"):
        require_server_version("")


@pytest.mark.redis
def test_consume_when_server_reports_old_version_then_configuration_error_and_no_group(
    redis_client: redis.Redis, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_client, "info", lambda section=None: {"redis_version": "6.0.9"})
    bus = RedisStreamBus(redis_client, prefix=redis_prefix)
    with pytest.raises(ConfigurationError, match=r"Redis 6\.0\.9"):
        bus.consume(TOPIC, "g", "c1")
    assert redis_client.exists(redis_prefix + TOPIC) == 0  # refused before creating anything


@pytest.mark.redis
def test_pending_when_key_holds_another_type_then_error_not_zero(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    redis_client.set(redis_prefix + TOPIC, b"not a stream")
    bus = RedisStreamBus(redis_client, prefix=redis_prefix)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        bus.pending(TOPIC, "g")


@pytest.mark.redis
def test_pending_when_group_does_not_exist_yet_then_zero(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    bus = RedisStreamBus(redis_client, prefix=redis_prefix)
    assert bus.pending(TOPIC, "never-consumed") == 0
    bus.publish(TOPIC, _note())
    assert bus.pending(TOPIC, "never-consumed") == 0
