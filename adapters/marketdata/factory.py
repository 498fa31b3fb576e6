"""The configured market data: ``settings.marketdata.providers`` in failover order.

- ``files``: the shipped daily bars (``<data_dir>/us_daily``);
- ``csv``: a folder of your own ``<SYMBOL>.csv`` / ``.csv.gz`` in the same format
  (``marketdata.csv_dir``), read by the same ``FileMarketData``;
- ``ibkr``: IBKR historical bars through TWS / IB Gateway (``broker.ibkr`` host and port,
  ``marketdata.ibkr_client_id``), cached in the store.

``["files"]`` alone (the default) is the plain ``FileMarketData`` it always was; any
other list is a ``FailoverMarketData`` over the providers named.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigurationError
from core.instruments import Instrument
from core.ports import MarketData, Store

if TYPE_CHECKING:
    from adapters.marketdata.ibkr import IbkrMarketData
    from config.settings import Settings

DATA_SUBDIR = "us_daily"
KNOWN = ("files", "csv", "ibkr")


def _instruments(settings: Settings, universe_file: str | Path | None) -> list[Instrument] | None:
    from config.universe import UNIVERSE_DIR, load_universe

    if universe_file:
        return load_universe(universe_file)
    named = UNIVERSE_DIR / f"{settings.universe.name}.csv"
    return load_universe(named) if named.is_file() else None


def csv_folder(settings: Settings) -> Path:
    folder = settings.marketdata.csv_dir
    if folder is None:
        raise ConfigurationError(
            "marketdata.providers includes csv but marketdata.csv_dir is not set"
            " (QUORUM_MARKETDATA__CSV_DIR or [marketdata] csv_dir in quorum.toml)"
        )
    if not folder.is_dir():
        raise ConfigurationError(f"marketdata.csv_dir {folder}: no such folder")
    return folder


def make_ibkr_market(
    settings: Settings,
    *,
    instruments: list[Instrument] | None = None,
    store: Store | None = None,
    now: Callable[[], datetime] | None = None,
    **ibkr_overrides: object,
) -> IbkrMarketData:
    """The IBKR provider: ``broker.ibkr`` host/port, ``marketdata.ibkr_client_id``,
    read-only, its bars cached in ``store`` (or in the configured store, opened for
    each read and write)."""
    from adapters.brokers.ibkr.config import IbkrConfig
    from adapters.factories import make_store
    from adapters.marketdata.cache import BarCache
    from adapters.marketdata.ibkr import IbkrBarsConfig, IbkrMarketData

    overrides = {"client_id": settings.marketdata.ibkr_client_id, "readonly": True,
                 **ibkr_overrides}  # fmt: skip
    config = IbkrBarsConfig(
        ibkr=IbkrConfig.from_settings(settings, **overrides),
        history_years=settings.marketdata.history_years,
        exchange=settings.schedule.exchange,
    )
    cache = BarCache(store) if store is not None else BarCache(opener=lambda: make_store(settings))
    return IbkrMarketData(
        config, cache, instruments or (), symbols=settings.universe.symbols, now=now
    )


def make_market(
    settings: Settings,
    universe_file: str | Path | None = None,
    *,
    store: Store | None = None,
    now: Callable[[], datetime] | None = None,
) -> MarketData:
    from adapters.marketdata.failover import FailoverMarketData
    from adapters.marketdata.files import FileMarketData

    names = list(dict.fromkeys(settings.marketdata.providers))
    shipped = settings.data_dir / DATA_SUBDIR
    if names == ["files"]:  # the default, exactly as before
        from config.universe import load_universe

        return FileMarketData(shipped, load_universe(universe_file) if universe_file else None)
    if not names:
        raise ConfigurationError('marketdata.providers is empty; e.g. ["ibkr", "files"]')
    instruments = _instruments(settings, universe_file)
    chain: list[tuple[str, MarketData]] = []
    for name in names:
        if name == "files":
            chain.append((name, FileMarketData(shipped, instruments)))
        elif name == "csv":
            chain.append((name, FileMarketData(csv_folder(settings), instruments)))
        elif name == "ibkr":
            chain.append((name, make_ibkr_market(settings, instruments=instruments, store=store,
                                                 now=now)))  # fmt: skip
        else:  # settings validate the names; keep the message if that ever changes
            raise ConfigurationError(f"unknown market data provider {name!r}; known: {KNOWN}")
    return FailoverMarketData(chain)
