"""The simulator's security master: the shipped universes plus a few foreign listings.

US stocks route SMART with their primary exchange; Euronext Paris stocks trade on SBF in
EUR. Some ISINs have several listings (Airbus in Paris, Frankfurt and Madrid; Apple on
Xetra in EUR) so that ISIN lookups can come back ambiguous, as they do at IBKR.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

from config.settings import CONFIG_DIR

UNIVERSE_DIR = CONFIG_DIR / "universes"
# Real IBKR contract ids for the US sample (any stable int would do; these are familiar).
_KNOWN_CON_IDS = {("AAPL", "NASDAQ"): 265598, ("MSFT", "NASDAQ"): 272093, ("IBM", "NYSE"): 8314}
_KNOWN_CON_IDS[("GOOG", "NASDAQ")] = 208813720


@dataclass(frozen=True)
class Listing:
    con_id: int
    symbol: str
    exchange: str  # the listing exchange (where it trades besides SMART)
    primary_exchange: str
    currency: str
    isin: str
    long_name: str
    sec_type: str = "STK"
    min_tick: float = 0.01

    @property
    def trading_class(self) -> str:
        return "NMS" if self.primary_exchange in {"NASDAQ", "NYSE"} else self.symbol

    @property
    def time_zone(self) -> str:
        return "US/Eastern" if self.currency == "USD" else "Europe/Paris"


def _con_id(symbol: str, exchange: str) -> int:
    known = _KNOWN_CON_IDS.get((symbol, exchange))
    if known is not None:
        return known
    return 100_000_000 + zlib.crc32(f"{symbol}@{exchange}".encode()) % 800_000_000


def _listing(symbol: str, exchange: str, currency: str, isin: str, name: str) -> Listing:
    return Listing(_con_id(symbol, exchange), symbol, exchange, exchange, currency, isin, name)


# Secondary listings that make some ISIN lookups return several contracts.
EXTRA_LISTINGS: tuple[Listing, ...] = (
    _listing("AIR", "IBIS", "EUR", "NL0000235190", "AIRBUS SE"),
    _listing("AIR", "BM", "EUR", "NL0000235190", "AIRBUS SE"),
    _listing("APC", "IBIS", "EUR", "US0378331005", "APPLE INC"),
)


def load_listings(directory: Path = UNIVERSE_DIR) -> tuple[Listing, ...]:
    """Every row of every universe CSV (symbol,isin,name,currency,primary_exchange)."""
    found: dict[int, Listing] = {}
    for path in sorted(directory.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                symbol, primary = row["symbol"].strip().upper(), row["primary_exchange"].strip()
                listing = _listing(
                    symbol, primary, row["currency"].strip(), row["isin"].strip(), row["name"]
                )
                found[listing.con_id] = listing
    for extra in EXTRA_LISTINGS:
        found.setdefault(extra.con_id, extra)
    return tuple(found.values())


class Catalog:
    def __init__(self, listings: tuple[Listing, ...] | None = None) -> None:
        self.listings = listings if listings is not None else load_listings()
        self._by_con_id = {item.con_id: item for item in self.listings}

    def by_con_id(self, con_id: int) -> Listing | None:
        return self._by_con_id.get(con_id)

    def by_symbol(self, symbol: str) -> Listing | None:
        """The primary listing for a symbol (first one loaded), for the price board."""
        for item in self.listings:
            if item.symbol == symbol.upper():
                return item
        return None

    def search(
        self,
        *,
        con_id: int = 0,
        symbol: str = "",
        sec_type: str = "",
        exchange: str = "",
        primary_exchange: str = "",
        currency: str = "",
        sec_id_type: str = "",
        sec_id: str = "",
    ) -> list[Listing]:
        """Listings matching a contract request, filtered the way TWS filters them."""
        if con_id:
            candidates = [x for x in [self._by_con_id.get(con_id)] if x is not None]
        elif sec_id_type.upper() == "ISIN" and sec_id:
            candidates = [x for x in self.listings if x.isin == sec_id.upper()]
        elif symbol:
            candidates = [x for x in self.listings if x.symbol == symbol.upper()]
        else:
            return []
        out = []
        for item in candidates:
            if sec_type and sec_type != item.sec_type:
                continue
            if currency and currency != item.currency:
                continue
            if primary_exchange and primary_exchange != item.primary_exchange:
                continue
            if exchange and exchange not in ("SMART", item.exchange):
                continue
            out.append(item)
        return out
