"""``MarketData`` on IBKR historical bars (reqHistoricalData through ib_async).

Daily TRADES bars, regular trading hours, ``formatDate=1``, on a connection of its own
(``marketdata.ibkr_client_id``, read-only, beside the broker's). Every request goes
through the IBKR message pacer and IB's historical-data rules (``HistoryPacer``: 60
requests in 10 minutes, no identical request within 15 s, at most 5 per contract in 2 s);
a pacing violation (162) is retried with backoff. New bars are checked by the file
validator (``check_frame``) and kept in the store (``BarCache``): only what the cache has
not been asked for yet is requested, so a restart downloads nothing it already has, and
a day's bar is final only once the exchange's session has closed.

Bars are as IB sends them for TRADES (IB adjusts those for splits, not dividends): they
carry no ``adj_close``, so ``adjusted=True`` returns them unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from adapters.brokers.ibkr.client import (
    BarView,
    ClientCallbacks,
    ClientIdInUseError,
    IbClient,
    RequestRefusedError,
)
from adapters.brokers.ibkr.config import IbkrConfig
from adapters.brokers.ibkr.pacing import HistoryPacer, Pacer, backoff_delay
from adapters.marketdata.cache import BarCache, CachedBars
from adapters.marketdata.sessions import LoopThread, last_session
from adapters.marketdata.validation import ValidationOptions, check_frame
from core.bars import BarSeries
from core.errors import DataValidationError, QuorumError, TemporaryError
from core.instruments import Instrument

PROVIDER = "ibkr"
NO_SECDEF_CODE = 200
HMDS_CODE = 162
log = logging.getLogger("quorum.marketdata")


class HistoryLimits(BaseModel):
    """IB's historical-data pacing (defaults are IB's published limits)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_requests: int = Field(default=60, gt=0)
    window_s: float = Field(default=600.0, gt=0)
    identical_s: float = Field(default=15.0, ge=0)
    per_contract: int = Field(default=5, gt=0)
    per_contract_window_s: float = Field(default=2.0, ge=0)


class IbkrBarsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ibkr: IbkrConfig
    history_years: int = Field(default=2, ge=1, le=30)
    exchange: str = "XNYS"  # its calendar says when a session (and its bar) is complete
    limits: HistoryLimits = Field(default_factory=HistoryLimits)
    history_timeout_s: float = Field(default=60.0, gt=0)
    down_for_s: float = Field(default=30.0, ge=0)  # after a failed connect, fail fast


class UnknownSymbolError(QuorumError, KeyError):
    """IB has no security definition for the symbol (error 200)."""

    def __init__(self, message: str, *, broker_code: int = NO_SECDEF_CODE) -> None:
        super().__init__(message)
        self.broker_code = broker_code

    def __str__(self) -> str:
        return str(self.args[0])


class GatewayDownError(TemporaryError):
    """TWS / IB Gateway cannot be reached (or every client id tried is taken)."""


class HistoryRequestError(QuorumError):
    """TWS refused a history request for a reason retrying will not fix (IB's code kept)."""

    def __init__(self, message: str, *, broker_code: int) -> None:
        super().__init__(message)
        self.broker_code = broker_code


def is_pacing(exc: RequestRefusedError) -> bool:
    return exc.broker_code == HMDS_CODE and "pacing violation" in str(exc).lower()


def is_no_data(exc: RequestRefusedError) -> bool:
    return exc.broker_code == HMDS_CODE and "returned no data" in str(exc).lower()


def duration_for(first: date, last: date) -> str:
    """The shortest IB duration covering ``first`` .. ``last``: days up to 365, then
    whole years (IB refuses longer durations in days)."""
    days = (last - first).days + 1
    if days <= 365:
        return f"{days} D"
    years = math.ceil(days / 366)
    while years_before(last, years) >= first:
        years += 1
    return f"{years} Y"


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def validated(symbol: str, views: Sequence[BarView], options: ValidationOptions) -> BarSeries:
    """IB's bars through the file validator: rows are numbered from 1 in arrival order."""
    if not views:
        return _empty(symbol)
    frame = pd.DataFrame(
        {
            "timestamp": [v.day.isoformat() for v in views],
            **{
                name: [repr(float(getattr(v, name))) for v in views]
                for name in ("open", "high", "low", "close", "volume")
            },
        },
        dtype=object,
    )
    errors, warnings, cols = check_frame(frame, 1, options)
    where = f"{PROVIDER}:{symbol}"
    for w in warnings:
        log.info("bars %s", w.render(where))
    if errors:
        raise DataValidationError(
            f"{where}: {len(errors)} validation error(s) in IBKR bars",
            [p.render(where) for p in errors],
        )
    return BarSeries(symbol=symbol, timestamps=cols["timestamp"], open=cols["open"],
                     high=cols["high"], low=cols["low"], close=cols["close"],
                     volume=cols["volume"])  # fmt: skip


def merged(symbol: str, old: BarSeries | None, new: BarSeries) -> BarSeries:
    """Old and new bars by day; a day in both takes the new bar."""
    frames = [s for s in (old, new) if s is not None and len(s)]
    if len(frames) < 2:
        return frames[0] if frames else new
    rows: dict[np.datetime64, tuple[float, ...]] = {}
    for s in frames:
        for i, ts in enumerate(s.timestamps):
            rows[ts] = (s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i])
    stamps = sorted(rows)
    cols = list(zip(*(rows[t] for t in stamps), strict=True))
    return BarSeries(symbol=symbol, timestamps=stamps, open=cols[0], high=cols[1], low=cols[2],
                     close=cols[3], volume=cols[4])  # fmt: skip


class IbkrMarketData:
    """``MarketData`` over IBKR historical daily bars, cached in the store."""

    name = PROVIDER

    def __init__(
        self,
        config: IbkrBarsConfig,
        cache: BarCache,
        instruments: Sequence[Instrument] = (),
        symbols: Sequence[str] = (),
        now: Callable[[], datetime] | None = None,
        options: ValidationOptions | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self._instruments = {i.symbol: i for i in instruments}
        self._symbols = sorted({*self._instruments, *(s.upper() for s in symbols)})
        self._now = now or (lambda: datetime.now(UTC))
        self._options = options or ValidationOptions()
        self._memory: dict[str, CachedBars] = {}
        self._lock = threading.Lock()
        self._loop = LoopThread()
        self._client: IbClient | None = None
        self._pacer: Pacer | None = None
        self._history: HistoryPacer | None = None
        self._down_until = 0.0
        self._down_reason = ""
        self._rng = random.Random(config.ibkr.jitter_seed)
        self.requests_sent = 0  # history requests that reached TWS (retries included)

    # ---- MarketData ------------------------------------------------------------------
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def instrument(self, symbol: str) -> Instrument:
        return self._instruments.get(symbol) or Instrument(symbol=symbol, primary_exchange="SMART")

    def bars(
        self, symbol: str, start: date | None = None, end: date | None = None, adjusted: bool = True
    ) -> BarSeries:
        series = self.ensure(symbol, start, end).bars
        days = series.timestamps.astype("datetime64[D]")
        lo = 0 if start is None else int(np.searchsorted(days, np.datetime64(start, "D")))
        last = np.datetime64(self.needed_end(end), "D")
        hi = int(np.searchsorted(days, last, side="right"))
        return series if (lo, hi) == (0, len(days)) else series.slice(lo, max(lo, hi))

    # ---- cache -----------------------------------------------------------------------
    def needed_end(self, end: date | None) -> date:
        now = self._now()
        done = last_session(now if now.tzinfo else now.replace(tzinfo=UTC), self.config.exchange)
        return done if end is None else min(end, done)

    def ensure(self, symbol: str, start: date | None, end: date | None) -> CachedBars:
        """The cached bars of ``symbol``, after fetching whatever part of
        ``start .. end`` (default: ``history_years`` up to the last closed session) the
        cache has not been asked for."""
        symbol = symbol.upper()
        need_end = self.needed_end(end)
        default_start = years_before(need_end, self.config.history_years) + timedelta(days=1)
        need_start = start or default_start
        with self._lock:
            entry = self._memory.get(symbol) or self.cache.get(PROVIDER, symbol)
            gaps: list[tuple[date, date]] = []
            if entry is None:
                gaps.append((need_start, need_end))
            else:
                if need_start < entry.asked_from:
                    gaps.append((need_start, entry.asked_from - timedelta(days=1)))
                if need_end > entry.asked_through:
                    gaps.append((entry.asked_through + timedelta(days=1), need_end))
            gaps = [(a, b) for a, b in gaps if a <= b]
            if not gaps:  # all asked for already (or a window with no closed session)
                return entry or CachedBars(symbol, PROVIDER, need_start, need_end,
                                           _empty(symbol), datetime.now(UTC))  # fmt: skip
            views = self._loop.run(self._fetch(symbol, gaps), self._run_timeout(len(gaps)))
            return self._store(symbol, entry, gaps, views)

    def _run_timeout(self, n: int) -> float:
        ib = self.config.ibkr
        per = self.config.history_timeout_s * (ib.pacing_retries + 1)
        return ib.connect_timeout_s * (ib.client_id_retries + 1) + n * per + 30.0

    def _store(
        self,
        symbol: str,
        entry: CachedBars | None,
        gaps: list[tuple[date, date]],
        views: list[BarView],
    ) -> CachedBars:
        new = validated(symbol, views, self._options)
        bars = merged(symbol, entry.bars if entry else None, new)
        asked_from = min([a for a, _ in gaps] + ([entry.asked_from] if entry else []))
        asked_to = max([b for _, b in gaps] + ([entry.asked_through] if entry else []))
        fresh = CachedBars(symbol, PROVIDER, asked_from, asked_to, bars, datetime.now(UTC))
        self._memory[symbol] = fresh  # this process does not ask for these days again
        if not len(bars):
            return fresh  # nothing worth keeping
        # A later process asks again for days after the last bar that came back: a
        # session's bar may not have been published yet when it was asked for.
        newest = max([v.day for v in views], default=None)
        through = entry.asked_through if entry else asked_from - timedelta(days=1)
        if newest is not None:
            through = max(through, newest)
        kept = max(through, asked_from)
        self.cache.put(CachedBars(symbol, PROVIDER, asked_from, kept, bars, fresh.fetched_at))
        return fresh

    # ---- IB --------------------------------------------------------------------------
    async def _fetch(self, symbol: str, gaps: list[tuple[date, date]]) -> list[BarView]:
        client = await self._connected()
        out: list[BarView] = []
        for first, last in gaps:
            views = await self._request(client, symbol, first, last)
            out += [v for v in views if first <= v.day <= last]
        return out

    async def _connected(self) -> IbClient:
        if self._client is not None and self._client.is_connected:
            return self._client
        ib = self.config.ibkr
        where = f"{ib.host}:{ib.port}"
        if time.monotonic() < self._down_until:
            raise GatewayDownError(self._down_reason)
        if self._pacer is None:
            lim = self.config.limits
            self._pacer = Pacer(ib.messages_per_second, ib.orders_per_minute)
            self._history = HistoryPacer(lim.max_requests, lim.window_s, lim.identical_s,
                                         lim.per_contract, lim.per_contract_window_s)  # fmt: skip
        client = IbClient(ClientCallbacks())
        for attempt in range(ib.client_id_retries + 1):
            try:
                await client.connect(ib.host, ib.port, ib.client_id + attempt,
                                     ib.connect_timeout_s, True, ib.account,
                                     startup_sync=False)  # fmt: skip
                break
            except ClientIdInUseError:
                if attempt == ib.client_id_retries:
                    ids = f"{ib.client_id}..{ib.client_id + attempt}"
                    self._mark_down(f"IBKR market data at {where}: client ids {ids} all in use")
                client = IbClient(ClientCallbacks())
            except TemporaryError as exc:
                self._mark_down(
                    f"IBKR market data: cannot connect to TWS / IB Gateway at {where}"
                    f" ({_reason(exc)}); is it running with the API enabled?"
                )
        self._client = client
        return client

    def _mark_down(self, reason: str) -> None:
        self._down_until = time.monotonic() + self.config.down_for_s
        self._down_reason = reason
        raise GatewayDownError(reason)

    async def _request(
        self, client: IbClient, symbol: str, first: date, last: date
    ) -> list[BarView]:
        assert self._pacer is not None and self._history is not None
        ib = self.config.ibkr
        inst = self.instrument(symbol)
        zone = "Europe/Paris" if inst.currency == "EUR" else "US/Eastern"
        end, duration = f"{last:%Y%m%d} 23:59:59 {zone}", duration_for(first, last)
        primary = "" if inst.primary_exchange == "SMART" else inst.primary_exchange
        for attempt in range(ib.pacing_retries + 1):
            await self._history.acquire((symbol, end, duration), symbol)
            await self._pacer.message()
            self.requests_sent += 1
            try:
                return await client.daily_bars(symbol, inst.currency, primary, end, duration,
                                               timeout=self.config.history_timeout_s)  # fmt: skip
            except RequestRefusedError as exc:
                if is_no_data(exc):
                    return []
                if exc.broker_code == NO_SECDEF_CODE:
                    raise UnknownSymbolError(
                        f"{symbol}: IBKR has no security definition for it (IB {exc.broker_code})"
                    ) from None
                if not is_pacing(exc):
                    raise HistoryRequestError(
                        f"{symbol}: IB {exc.broker_code}: {exc}", broker_code=exc.broker_code
                    ) from None
                if attempt == ib.pacing_retries:
                    raise TemporaryError(
                        f"{symbol}: IBKR historical data pacing violation (IB 162),"
                        f" still refused after {attempt + 1} tries",
                        broker_code=HMDS_CODE,
                    ) from None
                delay = backoff_delay(self._rng, attempt, ib.pacing_backoff_s, ib.reconnect_max_s)
                log.warning("IB 162 pacing violation for %s; retrying in %.2f s", symbol, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Disconnect from TWS and stop the private event loop."""

        async def disconnect() -> None:
            if self._client is not None:
                self._client.disconnect()
                self._client = None

        self._loop.stop(disconnect())


def _empty(symbol: str) -> BarSeries:
    return BarSeries(symbol=symbol, timestamps=[], open=[], high=[], low=[], close=[], volume=[])


def _reason(exc: Exception) -> str:
    text = str(exc)
    return "connection refused" if "refused" in text.lower() else text
