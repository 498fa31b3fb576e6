"""Failover between market data providers, in the order the settings give.

``bars`` asks each provider in turn and returns the first non-empty answer. A provider
that is down, errors, does not know the symbol or has no bar in the window hands over
to the next; every hand-over is a ``Failover`` with a code, logged (``quorum.marketdata``,
a warning the first time for a provider, symbol and code) and kept in ``failovers``. When
every provider fails the error names each one's reason; when every provider answered
but none had a bar in the window, the (empty) answer of the first is returned.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from core.bars import BarSeries
from core.errors import (
    ConfigurationError,
    DataValidationError,
    QuorumError,
    TemporaryError,
)
from core.instruments import Instrument
from core.ports import MarketData

log = logging.getLogger("quorum.marketdata")


class FailoverReason(StrEnum):
    PROVIDER_DOWN = "PROVIDER_DOWN"  # unreachable, timed out, paced out (retry later)
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"  # no file / no security definition for it
    NO_DATA = "NO_DATA"  # answered, but no bar in the window
    INVALID_DATA = "INVALID_DATA"  # bars that fail validation
    PROVIDER_ERROR = "PROVIDER_ERROR"  # any other refusal


@dataclass(frozen=True)
class Failover:
    provider: str
    symbol: str
    reason: FailoverReason
    detail: str
    next: str | None  # the provider asked next; None: it was the last one

    def render(self) -> str:
        nxt = self.next or "none"
        return (
            f"{self.reason}: provider={self.provider} symbol={self.symbol} next={nxt}"
            f" detail={self.detail}"
        )


class MarketDataUnavailableError(TemporaryError):
    """No provider could give bars for a symbol; ``failovers`` says why, one each."""

    def __init__(self, message: str, failovers: list[Failover]) -> None:
        super().__init__(message)
        self.failovers = failovers


class UnknownSymbolEverywhereError(QuorumError, KeyError):
    """No provider knows the symbol (a ``KeyError``, like a missing bar file)."""

    def __str__(self) -> str:
        return str(self.args[0])


def classify(exc: Exception) -> FailoverReason:
    if isinstance(exc, KeyError):
        return FailoverReason.UNKNOWN_SYMBOL
    if isinstance(exc, DataValidationError):
        return FailoverReason.INVALID_DATA
    if isinstance(exc, TemporaryError | OSError | TimeoutError):
        return FailoverReason.PROVIDER_DOWN
    return FailoverReason.PROVIDER_ERROR


class FailoverMarketData:
    """``MarketData`` over named providers, first first."""

    def __init__(self, providers: Sequence[tuple[str, MarketData]], keep: int = 1000) -> None:
        if not providers:
            raise ValueError("at least one provider")
        self.providers = list(providers)
        self.failovers: deque[Failover] = deque(maxlen=keep)
        self.served_by: dict[str, str] = {}  # symbol -> provider of its latest bars
        self._warned: set[tuple[str, str, FailoverReason]] = set()

    def names(self) -> list[str]:
        return [name for name, _ in self.providers]

    def symbols(self) -> list[str]:
        return sorted({s for _, p in self.providers for s in p.symbols()})

    def instrument(self, symbol: str) -> Instrument:
        for _, provider in self.providers:
            try:
                return provider.instrument(symbol)
            except KeyError:
                continue
        names = ", ".join(self.names())
        raise UnknownSymbolEverywhereError(f"no provider ({names}) knows {symbol}")

    def _hand_over(self, index: int, symbol: str, reason: FailoverReason, detail: str) -> Failover:
        name = self.providers[index][0]
        nxt = self.providers[index + 1][0] if index + 1 < len(self.providers) else None
        event = Failover(name, symbol, reason, " ".join(detail.split())[:300], nxt)
        self.failovers.append(event)
        key = (name, symbol, reason)
        level = logging.WARNING if key not in self._warned else logging.DEBUG
        self._warned.add(key)
        log.log(level, "market data failover: %s", event.render())
        return event

    def bars(
        self, symbol: str, start: date | None = None, end: date | None = None, adjusted: bool = True
    ) -> BarSeries:
        first_empty: tuple[str, BarSeries] | None = None
        events: list[Failover] = []
        for index, (name, provider) in enumerate(self.providers):
            try:
                series = provider.bars(symbol, start=start, end=end, adjusted=adjusted)
            except ConfigurationError:
                raise  # a setting is wrong: stop, do not hide it behind another provider
            except (QuorumError, KeyError, OSError, TimeoutError, ValueError) as exc:
                detail = f"{type(exc).__name__}: {exc}"
                events.append(self._hand_over(index, symbol, classify(exc), detail))
                continue
            if len(series):
                self.served_by[symbol] = name
                return series
            first_empty = first_empty or (name, series)
            window = f"{start or 'start'} .. {end or 'latest'}"
            events.append(self._hand_over(index, symbol, FailoverReason.NO_DATA, window))
        if first_empty is not None:
            self.served_by[symbol] = first_empty[0]
            return first_empty[1]
        reasons = "; ".join(f"{e.provider}: {e.reason} {e.detail}" for e in events)
        if all(e.reason is FailoverReason.UNKNOWN_SYMBOL for e in events):
            raise UnknownSymbolEverywhereError(f"no provider has {symbol}: {reasons}")
        raise MarketDataUnavailableError(f"no market data for {symbol}: {reasons}", events)

    def close(self) -> None:
        for _, provider in self.providers:
            closer = getattr(provider, "close", None)
            if callable(closer):
                closer()
