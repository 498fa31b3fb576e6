"""Two small pieces the live providers need: the last *completed* session of an
exchange (a bar is final only once its session has closed), and a private event loop on
a thread, so that the synchronous ``MarketData`` port can drive an asyncio client whether
or not its caller is itself inside an event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
import warnings
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from core.errors import ConfigurationError, TemporaryError

log = logging.getLogger("quorum.marketdata")

T = TypeVar("T")


@functools.lru_cache(maxsize=16)
def _calendar(exchange: str, day: date) -> Any:
    import exchange_calendars as xcals

    try:
        # a week past ``day``: a minute on a weekend or holiday must not be past its end
        return xcals.get_calendar(
            exchange,
            start=(day - timedelta(days=40)).isoformat(),
            end=(day + timedelta(days=7)).isoformat(),
        )
    except xcals.errors.InvalidCalendarName as exc:
        raise ConfigurationError(f"unknown exchange calendar {exchange!r}: {exc}") from None


def last_session(now: datetime, exchange: str = "XNYS") -> date:
    """The last session of ``exchange`` that had closed at ``now`` (an aware datetime)."""
    import pandas as pd

    with warnings.catch_warnings():  # exchange_calendars on pandas 3: a deprecation only
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*values returning an ndarray")
        calendar = _calendar(exchange, now.astimezone(UTC).date())
        minute = pd.Timestamp(now).tz_convert("UTC").floor("min")
        session = calendar.minute_to_past_session(minute)
    return date.fromisoformat(str(session.date()))


class LoopThread:
    """One event loop on a daemon thread; ``run`` submits a coroutine and waits."""

    def __init__(self, name: str = "quorum-marketdata") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TemporaryError(f"no answer within {timeout:.0f} s") from None

    def stop(self, cleanup: Coroutine[Any, Any, None] | None = None) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            if cleanup is not None:
                cleanup.close()
            return
        for step in (cleanup, _cancel_others()):
            if step is None:
                continue
            try:
                asyncio.run_coroutine_threadsafe(step, loop).result(5.0)
            except Exception as exc:  # best effort: the loop stops either way
                log.warning("market data loop shutdown: %r", exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)
        if not thread.is_alive():
            loop.close()


async def _cancel_others() -> None:
    """Cancel what is still running on the loop (a request given up on) and let it end."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
