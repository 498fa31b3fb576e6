"""A point-in-time view of market data: the only market an agent sees during a cycle.

Agents get ``PointInTimeMarket(full, as_of)``. It returns bars up to and including
``as_of`` and nothing later: asking for an ``end`` (or a ``start``) after ``as_of`` raises
``LookAheadError`` instead of quietly truncating, so a look-ahead bug fails loudly.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

from core.bars import BarSeries
from core.errors import QuorumError
from core.instruments import Instrument
from core.ports import MarketData


class LookAheadError(QuorumError):
    """Something asked for market data later than the cycle's as-of date."""


class PointInTimeMarket:
    """``MarketData`` restricted to bars dated on or before ``as_of``."""

    def __init__(self, source: MarketData, as_of: date) -> None:
        if isinstance(as_of, datetime):
            as_of = as_of.date()
        self._source = source
        self._as_of = as_of
        self._bound = np.datetime64(as_of, "ns") + np.timedelta64(1, "D")

    @property
    def as_of(self) -> date:
        return self._as_of

    def symbols(self) -> list[str]:
        return self._source.symbols()

    def instrument(self, symbol: str) -> Instrument:
        return self._source.instrument(symbol)

    def bars(
        self, symbol: str, start: date | None = None, end: date | None = None, adjusted: bool = True
    ) -> BarSeries:
        for name, value in (("start", start), ("end", end)):
            if value is not None and _as_date(value) > self._as_of:
                raise LookAheadError(
                    f"{symbol}: {name}={_as_date(value)} is after the as-of date {self._as_of}"
                )
        series = self._source.bars(symbol, start=start, end=end or self._as_of, adjusted=adjusted)
        # Defensive second cut: a source that ignores ``end`` still cannot leak later bars.
        cut = int(np.searchsorted(series.timestamps, self._bound, side="left"))
        return series if cut == len(series) else series.slice(0, cut)


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value
