"""The daemon's single-instance lock: one ``quorum daemon`` per account.

- ``bus.kind = "redis"``: the shared-state lock ``lock.daemon`` (``SET NX PX``, a 60 s
  lease the daemon renews every 15 s), so daemons on several machines sharing the Redis
  server exclude each other. A holder that dies frees it when the lease runs out.
- otherwise: an OS file lock (``filelock``, ``flock``) on ``<state_dir>/daemon.lock``
  (``daemon.lock_file``), released by the kernel when the holder dies, even by SIGKILL.

Who holds it (pid, host, since when) is written to the store (``daemon.holder``), so a
second daemon refused at start, and ``quorum daemon status``, can name the holder.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import ConfigurationError
from core.ports import Store
from core.topics import DAEMON_LOCK
from workflows.daemon import HOLDER_KEY

if TYPE_CHECKING:
    from config.settings import Settings
    from core.ports import Lock, SharedState

LEASE_MS = 60_000
RENEW_EVERY_S = 15.0


class InstanceLock(Protocol):
    where: str

    def acquire(self) -> bool: ...  # never blocks
    def release(self) -> None: ...
    def renew(self) -> bool: ...  # False: the lock was lost


class FileInstanceLock:
    def __init__(self, path: Path) -> None:
        import filelock

        path.parent.mkdir(parents=True, exist_ok=True)
        self.where = str(path)
        self._lock = filelock.FileLock(path, timeout=0, thread_local=False)
        self._timeout = filelock.Timeout

    def acquire(self) -> bool:
        try:
            self._lock.acquire(timeout=0)
        except self._timeout:
            return False
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()

    def renew(self) -> bool:
        return self._lock.is_locked  # the kernel keeps it while the descriptor is open


class SharedInstanceLock:
    def __init__(self, shared: SharedState) -> None:
        self.where = f"the shared lock {DAEMON_LOCK}"
        self._shared = shared
        self._lock: Lock = shared.lock(DAEMON_LOCK, ttl_ms=LEASE_MS)

    def acquire(self) -> bool:
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        try:
            self._lock.release()
        finally:
            self._shared.close()

    def renew(self) -> bool:
        return self._lock.extend(LEASE_MS)


def instance_lock(settings: Settings) -> InstanceLock:
    if settings.bus.kind == "redis":
        from adapters.factories import make_state

        return SharedInstanceLock(make_state(settings))
    path = settings.daemon.lock_file
    return FileInstanceLock(path if path.is_absolute() else settings.state_dir / path)


def holder_of(store: Store) -> dict[str, Any] | None:
    value = store.kv_get(HOLDER_KEY)
    return dict(value) if isinstance(value, dict) and value.get("pid") else None


def describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "holder unknown"
    return f"pid {holder['pid']} on {holder.get('host', '?')} since {holder.get('since', '?')}"


def acquire_or_refuse(lock: InstanceLock, store: Store) -> None:
    """Take the lock and record this process as its holder, or refuse at once naming the
    holder (``ConfigurationError``, exit 2)."""
    if not lock.acquire():
        raise ConfigurationError(
            f"another quorum daemon is running ({describe(holder_of(store))}; it holds"
            f" {lock.where}); stop it first (systemctl stop quorum-daemon) or check"
            " `quorum daemon status`"
        )
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "lock": lock.where,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.kv_set(HOLDER_KEY, me, actor="daemon")


def release_and_record(lock: InstanceLock, store: Store) -> None:
    holder = holder_of(store)
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        released = datetime.now(UTC).isoformat(timespec="seconds")
        store.kv_set(
            HOLDER_KEY,
            {"pid": None, "last_pid": holder["pid"], "released": released},
            actor="daemon",
        )
    lock.release()


def is_held_elsewhere(lock: InstanceLock) -> bool:
    """For ``status``: take and drop the lock; True if someone else has it."""
    if lock.acquire():
        lock.release()
        return False
    return True
