from __future__ import annotations

from pathlib import Path

import pytest

from adapters.bus.memory import InMemoryBus
from adapters.bus.redis import RedisStreamBus
from adapters.bus.redis.local_server import free_port
from adapters.factories import make_bus, make_state, make_store
from adapters.state.memory import MemorySharedState
from adapters.state.redis_state import RedisSharedState
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.errors import ConfigurationError
from core.ports import ReliableBus, SharedState, Store


def test_defaults_when_no_settings_then_sqlite_memory_bus_and_memory_state(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    store, bus, state = make_store(settings), make_bus(settings), make_state(settings)
    assert isinstance(store, SqliteStore) and isinstance(store, Store)
    assert isinstance(bus, InMemoryBus) and isinstance(bus, ReliableBus)
    assert isinstance(state, MemorySharedState) and isinstance(state, SharedState)
    assert (tmp_path / "quorum.db").exists()
    store.close()


def test_mongo_when_uri_missing_then_configuration_error_names_the_setting() -> None:
    settings = load_settings(storage={"kind": "mongo"})
    with pytest.raises(ConfigurationError, match="QUORUM_STORAGE__MONGO_URI"):
        make_store(settings)


def test_redis_when_unreachable_then_configuration_error_without_password() -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    settings = load_settings(bus={"kind": "redis", "redis_url": url})
    with pytest.raises(ConfigurationError) as err:
        make_bus(settings)
    assert "127.0.0.1" in str(err.value) and "hunter2" not in str(err.value)
    with pytest.raises(ConfigurationError):
        make_state(settings)


@pytest.mark.redis
def test_redis_when_selected_by_env_then_bus_and_state_use_it(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUORUM_BUS__KIND", "redis")
    monkeypatch.setenv("QUORUM_BUS__REDIS_URL", redis_url)
    settings = load_settings()
    bus, state = make_bus(settings), make_state(settings)
    assert isinstance(bus, RedisStreamBus) and isinstance(state, RedisSharedState)
    state.engage_kill_switch("factory test")
    assert make_state(settings).status().kill_switch
    bus.close()
    state.close()


def test_mongo_when_uri_set_then_mongo_store_on_that_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mongomock

    import adapters.storage.mongo as mongo_module

    monkeypatch.setattr(mongo_module.pymongo, "MongoClient", mongomock.MongoClient)
    settings = load_settings(
        storage={"kind": "mongo", "mongo_uri": "mongodb://127.0.0.1:27017", "mongo_db": "ops"}
    )
    store = make_store(settings)
    assert isinstance(store, mongo_module.MongoStore)
    assert store.schema_version == mongo_module.SCHEMA_VERSION
    store.close()


def test_bus_limits_when_set_by_env_then_the_bus_policy_uses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUORUM_BUS__MAXLEN", "77")
    monkeypatch.setenv("QUORUM_BUS__CLAIM_IDLE_MS", "1234")
    monkeypatch.setenv("QUORUM_BUS__MAX_DELIVERIES", "2")
    bus = make_bus(load_settings())
    assert isinstance(bus, InMemoryBus)
    assert (bus.policy.maxlen, bus.policy.claim_idle_ms, bus.policy.max_deliveries) == (77, 1234, 2)


def test_bus_limits_when_invalid_then_settings_refuse_them() -> None:
    with pytest.raises(ValueError, match="max_deliveries"):
        load_settings(bus={"max_deliveries": 0})
