"""Downloaded bars kept in the ``Store`` (documents ``marketdata.bars``, key
``<provider>:<SYMBOL>``), so a restart does not download them again.

Each entry remembers the span that was *asked for* (``asked_from`` .. ``asked_through``),
not only the bars that came back: a provider with no bar before its first trading day,
or none on a holiday, is not asked again for those days. Columns are stored as plain
lists (ISO dates, floats); reading one back builds a ``BarSeries``, which checks it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from core.bars import BarSeries
from core.errors import DataValidationError
from core.ports import Store

COLLECTION = "marketdata.bars"
log = logging.getLogger("quorum.marketdata")


@dataclass(frozen=True)
class CachedBars:
    symbol: str
    provider: str
    asked_from: date
    asked_through: date
    bars: BarSeries
    fetched_at: datetime

    def covers(self, start: date, end: date) -> bool:
        return self.asked_from <= start and end <= self.asked_through


def series_days(series: BarSeries) -> list[date]:
    return [d.item() for d in series.timestamps.astype("datetime64[D]")]


def to_document(entry: CachedBars) -> dict[str, Any]:
    b = entry.bars
    return {
        "symbol": entry.symbol,
        "provider": entry.provider,
        "asked_from": entry.asked_from.isoformat(),
        "asked_through": entry.asked_through.isoformat(),
        "fetched_at": entry.fetched_at.isoformat(),
        "date": [d.isoformat() for d in series_days(b)],
        **{name: getattr(b, name).tolist() for name in ("open", "high", "low", "close", "volume")},
    }


def from_document(doc: dict[str, Any]) -> CachedBars:
    """Raises ``DataValidationError`` (or KeyError / ValueError) for a broken entry."""
    symbol = str(doc["symbol"])
    bars = BarSeries(
        symbol=symbol,
        timestamps=np.array(doc["date"], dtype="datetime64[D]").astype("datetime64[ns]"),
        **{name: doc[name] for name in ("open", "high", "low", "close", "volume")},
    )
    return CachedBars(
        symbol=symbol,
        provider=str(doc["provider"]),
        asked_from=date.fromisoformat(doc["asked_from"]),
        asked_through=date.fromisoformat(doc["asked_through"]),
        bars=bars,
        fetched_at=datetime.fromisoformat(doc["fetched_at"]),
    )


class BarCache:
    """Read and write cached bars through a ``Store``: one given (kept open by its
    owner) or one opened for each read or write by ``opener`` (a long-lived process
    then holds no store connection between fetches)."""

    def __init__(self, store: Store | None = None, opener: Callable[[], Store] | None = None):
        if (store is None) == (opener is None):
            raise ValueError("give a store or an opener, not both or neither")
        self._store = store
        self._opener = opener

    @contextmanager
    def _open(self) -> Iterator[Store]:
        if self._store is not None:
            yield self._store
            return
        assert self._opener is not None
        store = self._opener()
        try:
            yield store
        finally:
            store.close()

    def get(self, provider: str, symbol: str) -> CachedBars | None:
        """The cached entry, or None; a broken entry is logged and treated as missing."""
        with self._open() as store:
            doc = store.get_document(COLLECTION, f"{provider}:{symbol}")
        if doc is None:
            return None
        try:
            return from_document(doc)
        except (DataValidationError, KeyError, ValueError, TypeError) as exc:
            log.warning("cached bars %s:%s unreadable, fetching again: %s", provider, symbol, exc)
            return None

    def put(self, entry: CachedBars) -> None:
        with self._open() as store:
            store.put_document(COLLECTION, f"{entry.provider}:{entry.symbol}", to_document(entry))

    def symbols(self, provider: str) -> list[str]:
        with self._open() as store:
            docs = store.documents(COLLECTION)
        return sorted(str(d["symbol"]) for d in docs if d.get("provider") == provider)


def now_utc() -> datetime:
    return datetime.now(UTC)
