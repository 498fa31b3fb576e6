"""Fixtures shared by the tools tests: the shipped daily bars as float64 arrays."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pytest

SHIPPED_DAILY_DIR = Path(__file__).resolve().parents[3] / "data" / "us_daily"


class DailyBars(NamedTuple):
    """One shipped file's columns: raw prices as traded, plus ``adj_close``."""

    symbol: str
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    adj_close: npt.NDArray[np.float64]

    def adjusted(self) -> DailyBars:
        """Split- and dividend-adjusted bars, as ``BarSeries.adjusted_view`` makes them:
        open, high and low scaled by ``adj_close / close``, ``adj_close`` as the close."""
        factor = self.adj_close / self.close
        return self._replace(
            open=self.open * factor,
            high=self.high * factor,
            low=self.low * factor,
            close=self.adj_close.copy(),
        )


def load_daily_bars(path: Path) -> DailyBars:
    """Read a shipped ``date,open,high,low,close,adj_close,volume`` gzip CSV."""
    with gzip.open(path, "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no rows")

    def column(name: str) -> npt.NDArray[np.float64]:
        return np.array([float(row[name]) for row in rows], dtype=np.float64)

    return DailyBars(
        symbol=path.name.split(".")[0],
        open=column("open"),
        high=column("high"),
        low=column("low"),
        close=column("close"),
        volume=column("volume"),
        adj_close=column("adj_close"),
    )


def shipped_daily_paths() -> list[Path]:
    return sorted(SHIPPED_DAILY_DIR.glob("*.csv.gz"))


@pytest.fixture(scope="session")
def shipped_daily_bars() -> dict[str, DailyBars]:
    """Every shipped ``data/us_daily`` file, keyed by symbol."""
    bars = {b.symbol: b for b in map(load_daily_bars, shipped_daily_paths())}
    assert bars, f"no shipped data under {SHIPPED_DAILY_DIR}"
    return bars
