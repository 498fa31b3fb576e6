"""The daemon's single-instance lock: a file lock by default, the Redis lease with a Redis
bus; a second holder is refused naming the first; a lost lease stops the daemon."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.daemon import lock as lock_module
from adapters.daemon.lock import (
    FileInstanceLock,
    SharedInstanceLock,
    acquire_or_refuse,
    holder_of,
    instance_lock,
    is_held_elsewhere,
    release_and_record,
)
from adapters.daemon.metrics import DaemonStatus
from adapters.daemon.runtime import keep_lock
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.errors import ConfigurationError, TemporaryError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "q.db")
    yield db
    db.close()


def test_file_lock_when_held_then_second_is_refused_naming_the_holder(
    tmp_path: Path, store: SqliteStore
) -> None:
    settings = load_settings(state_dir=tmp_path / "var")
    first, second = instance_lock(settings), instance_lock(settings)
    assert isinstance(first, FileInstanceLock)
    assert first.where == str(tmp_path / "var" / "daemon.lock")
    acquire_or_refuse(first, store)
    try:
        with pytest.raises(ConfigurationError) as refused:
            acquire_or_refuse(second, store)
        message = str(refused.value)
        assert f"pid {os.getpid()} on {socket.gethostname()} since " in message
        assert str(tmp_path / "var" / "daemon.lock") in message
        assert is_held_elsewhere(instance_lock(settings)) is True
    finally:
        release_and_record(first, store)
    assert holder_of(store) is None
    assert is_held_elsewhere(instance_lock(settings)) is False
    acquire_or_refuse(second, store)  # free again
    release_and_record(second, store)


def test_release_when_another_process_is_recorded_as_holder_then_its_record_is_kept(
    tmp_path: Path, store: SqliteStore
) -> None:
    lock = FileInstanceLock(tmp_path / "d.lock")
    assert lock.acquire()
    other = {"pid": 999_999, "host": "elsewhere", "since": "2012-11-19T12:00:00+00:00"}
    store.kv_set(lock_module.HOLDER_KEY, other)
    release_and_record(lock, store)
    assert holder_of(store) == other


@pytest.mark.redis
def test_redis_lock_when_held_then_a_second_daemon_is_refused_and_free_after_release(
    tmp_path: Path, store: SqliteStore, redis_url: str
) -> None:
    settings = load_settings(state_dir=tmp_path, bus={"kind": "redis", "redis_url": redis_url})
    first = instance_lock(settings)
    assert isinstance(first, SharedInstanceLock)
    acquire_or_refuse(first, store)
    second = instance_lock(settings)
    with pytest.raises(ConfigurationError, match=f"pid {os.getpid()} on .* lock.daemon"):
        acquire_or_refuse(second, store)
    assert first.renew() is True
    release_and_record(first, store)
    third = instance_lock(settings)
    assert third.acquire() is True
    third.release()


class FlakyLock:
    where = "test lock"

    def __init__(self, answers: list[bool | Exception]) -> None:
        self.answers = answers

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def renew(self) -> bool:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_keep_lock_when_the_lease_is_lost_then_the_daemon_is_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("adapters.daemon.runtime.RENEW_EVERY_S", 0.0)
    stop, status = asyncio.Event(), DaemonStatus(lock_held=True)
    lock = FlakyLock([True, TemporaryError("redis down"), True, False])
    await asyncio.wait_for(keep_lock(lock, stop, status), timeout=10)
    assert stop.is_set() and status.lock_held is False
    assert lock.answers == []  # a temporary error was retried, the loss was not
