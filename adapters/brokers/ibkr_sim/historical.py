"""Historical bars: REQ_HISTORICAL_DATA (20) answered with HISTORICAL_DATA (17).

Bars come from the shipped daily files (``data/us_daily/<SYMBOL>.csv.gz``) on their
split- and dividend-adjusted scale (``BarSeries.adjusted_view``: open, high, low, close
scaled by adj_close / close; volume as reported), one bar per session, for USD listings
that have a file. Adjusted, because that is the scale Quorum's default ``files`` provider
gives the agents: the simulator's market (these bars and the prices market orders fill
at) must be the one the cycle decides on, or a bracket priced on one scale is filled on
another (the shipped files' adjustment is anchored years after 2013, AAPL 430.47 as
traded on 2013-03-01 is 56.14 adjusted, so a take-profit leg would be marketable at once).
WAP and bar count are not in the files and are sent as -1.

Wire format at server version 176, as ib_async 2.1's ``decoder.historicalData`` reads it:
``17, reqId, startDate, endDate, barCount`` then eight fields per bar (date ``yyyymmdd``,
open, high, low, close, volume, WAP, barCount). That one message also ends the request:
HISTORICAL_DATA_END (108) only exists from server version 196 and ib_async 2.1's
decoder has no handler for it, so the simulator never sends it.

Requests are honoured like IB does for daily bars: ``endDateTime`` ('' = now, which
at the simulator is its market's now, the last shipped session,
``yyyymmdd hh:mm:ss[ tz]``, ``yyyymmdd-hh:mm:ss`` in UTC) read in the listing's time
zone; ``durationStr`` 'N D|W|M|Y' counts calendar days, weeks, months or years back from
the end day (bars strictly after ``end - N`` units and up to the end day). Bad requests
get error 162 naming what is wrong (bar size other than '1 day', whatToShow other than
TRADES, keepUpToDate, a malformed duration or end); no bars in the window is 162 "HMDS
query returned no data"; an unknown or ambiguous contract is 200. IB's pacing rules are
enforced (``HistoryRules``): a violation is 162 "Historical data request pacing
violation" and serves nothing. ``cancelHistoricalData`` (25) drops an answer still held
back by ``faults.delay_history``.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from adapters.brokers.ibkr_sim import messages as msg
from adapters.brokers.ibkr_sim.catalog import Listing
from config.settings import DATA_DIR
from core.bars import BarSeries

if TYPE_CHECKING:
    from adapters.brokers.ibkr_sim.server import Session, TwsSimulator

SHIPPED_HISTORY = DATA_DIR / "us_daily"
HMDS = "Historical Market Data Service error message:"
PACING_VIOLATION = HMDS + "Historical data request pacing violation"
NO_SECDEF_TEXT = "No security definition has been found for the request"
_DURATION = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$")
_END = re.compile(r"^(\d{8})(?:[ -](\d{2}):(\d{2}):(\d{2}))?(?:\s+(\S+))?$")
_ZONES = {"US/Eastern": "America/New_York", "Europe/Paris": "Europe/Paris"}


class BadRequest(ValueError):  # noqa: N818 - the simulator's answer, not a Quorum error
    """A historical data request TWS would refuse with 162."""


@dataclass(frozen=True)
class HistoryRules:
    """IB's historical-data pacing, as TWS enforces it (tests shrink the windows)."""

    max_requests: int = 60
    window_s: float = 600.0
    identical_s: float = 15.0
    per_contract: int = 5
    per_contract_window_s: float = 2.0


@dataclass(frozen=True)
class HistoryRequest:
    """One request as it arrived (served or refused)."""

    req_id: int
    client_id: int
    symbol: str
    end: str
    duration: str
    bar_size: str
    what_to_show: str
    use_rth: bool
    at: float
    outcome: str = "served"  # served | pacing | bad_request | no_data | no_contract


def parse_duration(text: str) -> tuple[int, str]:
    m = _DURATION.match(text)
    if not m or int(m.group(1)) <= 0:
        raise BadRequest(f"invalid duration {text!r} (expected 'N D|W|M|Y')")
    if m.group(2) == "S":
        raise BadRequest(f"duration {text!r} in seconds is too short for daily bars")
    return int(m.group(1)), m.group(2)


def parse_end(text: str, zone: str, now: datetime | None = None) -> date:
    """The end day, in the listing's time zone, of an ``endDateTime``."""
    local = ZoneInfo(_ZONES.get(zone, zone))
    if not text.strip():
        return (now or datetime.now(UTC)).astimezone(local).date()
    m = _END.match(text.strip())
    if not m:
        raise BadRequest(f"invalid end date/time {text!r}")
    day, hh, mm, ss, tz = m.groups()
    try:
        stamp = datetime.strptime(day + (hh or "23") + (mm or "59") + (ss or "59"), "%Y%m%d%H%M%S")
        if "-" in text and tz is None:
            given = ZoneInfo("UTC")  # yyyymmdd-hh:mm:ss is UTC
        else:
            given = ZoneInfo(_ZONES.get(tz, tz)) if tz else local
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise BadRequest(f"invalid end date/time {text!r}: {exc}") from None
    return stamp.replace(tzinfo=given).astimezone(local).date()


def window_start(end: date, n: int, unit: str) -> date:
    """The exclusive lower bound of a 'N unit' window ending on ``end``."""
    if unit == "D":
        return end - timedelta(days=n)
    if unit == "W":
        return end - timedelta(weeks=n)
    months = n * (12 if unit == "Y" else 1)
    year, month = divmod(end.year * 12 + end.month - 1 - months, 12)
    month += 1
    for day in range(end.day, 0, -1):  # 31 March - 1 month = 28/29 February
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def quoted(raw: BarSeries) -> BarSeries:
    """The adjusted view as a venue would quote it: prices to 1e-4, and high / low kept
    around open and close (scaling in floating point can leave the high an ulp under the
    close, which our own validator rightly refuses)."""
    adj = raw.adjusted_view()
    o, c = np.round(adj.open, 4), np.round(adj.close, 4)
    high = np.maximum(np.round(adj.high, 4), np.maximum(o, c))
    low = np.minimum(np.round(adj.low, 4), np.minimum(o, c))
    return BarSeries(
        symbol=raw.symbol,
        timestamps=raw.timestamps,
        open=o,
        high=high,
        low=low,
        close=c,
        volume=raw.volume,
    )


@dataclass
class HistoryDesk:
    """The simulator's historical data service."""

    folder: Path | None = SHIPPED_HISTORY
    rules: HistoryRules = field(default_factory=HistoryRules)
    clock: Callable[[], float] = time.monotonic
    requests: list[HistoryRequest] = field(default_factory=list)
    cancelled: set[tuple[int, int]] = field(default_factory=set)  # (client id, req id)
    _series: dict[str, BarSeries | None] = field(default_factory=dict)
    _served: deque[tuple[float, str, tuple[str, ...]]] = field(default_factory=deque)

    # ---- data ----------------------------------------------------------------------
    def series(self, listing: Listing) -> BarSeries | None:
        """The shipped bars of a USD listing, or None when there is no file for it."""
        if listing.currency != "USD" or self.folder is None:
            return None
        if listing.symbol not in self._series:
            from adapters.marketdata.files import SUFFIXES, load_bars

            path = next(
                (p for s in SUFFIXES if (p := self.folder / f"{listing.symbol}{s}").is_file()),
                None,
            )
            self._series[listing.symbol] = quoted(load_bars(path)) if path else None
        return self._series[listing.symbol]

    def market_now(self, listing: Listing, today: date) -> date:
        """What ``endDateTime=''`` (now) means here: the simulator's market is the last
        shipped session (its market orders fill at that close), so a stock client asking
        for the latest bars gets them, not "no data" because today is past the files."""
        bars = self.series(listing)
        if bars is None or not len(bars):
            return today
        last: date = bars.timestamps[-1].astype("datetime64[D]").item()
        return min(today, last)

    def last_close(self, listing: Listing) -> float | None:
        bars = self.series(listing)
        return float(bars.close[-1]) if bars is not None and len(bars) else None

    def served(self, symbol: str | None = None) -> int:
        """How many requests were answered with bars (for ``symbol``, or all)."""
        return sum(
            1
            for r in self.requests
            if r.outcome == "served" and (symbol is None or r.symbol == symbol.upper())
        )

    # ---- pacing --------------------------------------------------------------------
    def _violates(self, now: float, symbol: str, key: tuple[str, ...]) -> bool:
        rules = self.rules
        while self._served and now - self._served[0][0] >= rules.window_s:
            self._served.popleft()
        if len(self._served) >= rules.max_requests:
            return True
        recent = [(t, s, k) for t, s, k in self._served if s == symbol]
        if any(k == key and now - t < rules.identical_s for t, _, k in recent):
            return True
        same = [t for t, _, _ in recent if now - t < rules.per_contract_window_s]
        return len(same) >= rules.per_contract

    # ---- requests ------------------------------------------------------------------
    def handle(self, sim: TwsSimulator, s: Session, f: list[str]) -> None:
        req_id, client_id = int(f[1]), s.client_id or 0
        con_id, symbol, sec_type, exchange, primary, currency = (
            int(f[2] or 0), f[3].upper(), f[4], f[9], f[10], f[11],
        )  # fmt: skip
        end, bar_size, duration, use_rth, what = f[15], f[16], f[17], f[18] == "1", f[19]
        now = self.clock()
        request = HistoryRequest(req_id, client_id, symbol, end, duration, bar_size, what,
                                 use_rth, now)  # fmt: skip

        def refuse(outcome: str, code: int, text: str) -> None:
            self.requests.append(_with(request, outcome))
            s.send(msg.error(req_id, code, text))

        listings = sim.book.catalog.search(
            con_id=con_id, symbol=symbol, sec_type=sec_type, exchange=exchange,
            primary_exchange=primary, currency=currency,
        )  # fmt: skip
        if len(listings) != 1:
            text = NO_SECDEF_TEXT if not listings else f"The contract {symbol} is ambiguous"
            return refuse("no_contract", 200, text)
        listing = listings[0]
        key = (end, duration, bar_size, what, str(use_rth))
        if sim.faults.take_pacing("history") or self._violates(now, listing.symbol, key):
            return refuse("pacing", 162, PACING_VIOLATION)
        try:
            if bar_size.strip() != "1 day":
                raise BadRequest(f"bar size {bar_size!r} not served (only '1 day')")
            if what.upper() != "TRADES":
                raise BadRequest(f"whatToShow {what!r} not served (only TRADES)")
            if f[21] == "1":
                raise BadRequest("keepUpToDate is not supported (no live bars)")
            n, unit = parse_duration(duration)
            last = parse_end(end, listing.time_zone)
            if not end.strip():
                last = self.market_now(listing, last)
        except BadRequest as exc:
            return refuse("bad_request", 162, f"{HMDS}{exc}")
        self._served.append((now, listing.symbol, key))
        first = window_start(last, n, unit)
        fields = self._answer(req_id, listing, first, last)
        if fields is None:
            text = f"{HMDS}HMDS query returned no data: {listing.symbol}@SMART Trades"
            return refuse("no_data", 162, text)
        self.requests.append(request)
        delay = sim.faults.take_history_delay()
        if not delay:
            s.send(fields)
            return
        sim._spawn(self._send_later(s, client_id, req_id, fields, delay))

    async def _send_later(
        self, s: Session, client_id: int, req_id: int, fields: list[object], delay: float
    ) -> None:
        import asyncio

        await asyncio.sleep(delay)
        if (client_id, req_id) not in self.cancelled:
            s.send(fields)

    def cancel(self, s: Session, f: list[str]) -> None:
        self.cancelled.add((s.client_id or 0, int(f[2])))

    def _answer(
        self, req_id: int, listing: Listing, after: date, last: date
    ) -> list[object] | None:
        bars = self.series(listing)
        if bars is None:
            return None
        days = bars.timestamps.astype("datetime64[D]")
        lo = int(np.searchsorted(days, np.datetime64(after, "D"), side="right"))
        hi = int(np.searchsorted(days, np.datetime64(last, "D"), side="right"))
        if hi <= lo:
            return None
        out: list[object] = [17, req_id, f"{after:%Y%m%d} 00:00:00", f"{last:%Y%m%d} 23:59:59",
                             hi - lo]  # fmt: skip
        for i in range(lo, hi):
            day = days[i].item()
            prices = [float(col[i]) for col in (bars.open, bars.high, bars.low, bars.close)]
            out += [f"{day:%Y%m%d}", *prices, float(bars.volume[i]), -1.0, -1]
        return out


def _with(request: HistoryRequest, outcome: str) -> HistoryRequest:
    from dataclasses import replace

    return replace(request, outcome=outcome)
