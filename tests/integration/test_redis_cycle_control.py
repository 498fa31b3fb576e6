"""With a Redis bus, the cycle lock and the operator's trading control span processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.factories import make_control
from adapters.runtime import cycle_lock
from adapters.storage.sqlite import SqliteStore
from config.settings import Settings, load_settings
from core.errors import ConfigurationError
from core.risk import TradingState

pytestmark = [pytest.mark.redis, pytest.mark.timeout(30)]


def _settings(redis_url: str, tmp_path: Path, name: str) -> Settings:
    return load_settings(state_dir=tmp_path / name, bus={"kind": "redis", "redis_url": redis_url})


def test_second_cycle_is_refused_while_the_lock_is_held(redis_url: str, tmp_path: Path) -> None:
    first, second = _settings(redis_url, tmp_path, "a"), _settings(redis_url, tmp_path, "b")
    with (
        cycle_lock(first),
        pytest.raises(ConfigurationError, match="another Quorum cycle is running"),
        cycle_lock(second),
    ):
        pass
    with cycle_lock(second):  # released: the next cycle may run
        pass


def test_kill_switch_engaged_in_one_process_halts_another_with_its_own_store(
    redis_url: str, tmp_path: Path
) -> None:
    ops = _settings(redis_url, tmp_path, "ops")
    daemon = _settings(redis_url, tmp_path, "daemon")
    ops_store, daemon_store = SqliteStore(ops.sqlite_file), SqliteStore(daemon.sqlite_file)
    make_control(ops, ops_store).engage_kill_switch("from the ops desk", "alice")
    daemon_view = make_control(daemon, daemon_store)
    assert daemon_view.effective() is TradingState.HALTED
    assert daemon_view.status().actor == "alice"
    make_control(ops, ops_store).release_kill_switch("clear", "alice")
    assert daemon_view.effective() is TradingState.ACTIVE


async def test_cycle_with_redis_bus_publishes_its_journal_live(
    redis_url: str, tmp_path: Path
) -> None:
    from datetime import date

    from adapters.bus.redis import RedisStreamBus
    from adapters.runtime import cycle_service
    from core import topics

    settings = load_settings(
        state_dir=tmp_path / "var",
        bus={"kind": "redis", "redis_url": redis_url},
        universe={"symbols": ["AAPL", "GOOG", "IBM", "MSFT"]},
    )
    async with cycle_service(settings, llm="offline") as service:
        summary = await service.run(date(2013, 2, 27))
        journaled = [m.id for m in service.store.messages_by_cycle(summary["cycle_id"])]
    bus = RedisStreamBus.from_url(redis_url)
    published: list[str] = []
    while batch := bus.consume(topics.A2A, "followers", "f1", count=500):
        published += [d.message.id for d in batch if d.message.cycle_id == summary["cycle_id"]]
    bus.close()
    assert journaled and published == journaled
