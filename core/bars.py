"""Validated columnar bar series: NumPy arrays in, NumPy arrays out.

Timestamps are ``datetime64[ns]`` in UTC (naive in NumPy, UTC by contract). Prices are
float64. A ``BarSeries`` that exists is valid: construction checks shape, order,
positivity and OHLC consistency, so kernels downstream never see broken bars.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, model_validator

from core.errors import DataValidationError

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]

PRICE_COLUMNS = ("open", "high", "low", "close")


class BarSeries(BaseModel):
    """Daily (or intraday) OHLCV bars of one symbol, oldest first."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    symbol: str
    timestamps: TimeArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    adj_close: FloatArray | None = None
    adjusted: bool = False

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        if "timestamps" in out:
            out["timestamps"] = np.asarray(out["timestamps"], dtype="datetime64[ns]")
        for name in (*PRICE_COLUMNS, "volume", "adj_close"):
            if out.get(name) is not None:
                out[name] = np.ascontiguousarray(out[name], dtype=np.float64)
        return out

    @model_validator(mode="after")
    def _check(self) -> BarSeries:
        n = len(self.timestamps)
        problems: list[str] = []
        cols: dict[str, FloatArray] = {
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }
        if self.adj_close is not None:
            cols["adj_close"] = self.adj_close
        for name, arr in cols.items():
            if arr.ndim != 1 or len(arr) != n:
                problems.append(f"{name}: length {len(arr)} != timestamps length {n}")
        if problems:
            raise DataValidationError(f"{self.symbol}: inconsistent columns", problems)
        for name, arr in cols.items():
            if not np.all(np.isfinite(arr)):
                bad = int(np.flatnonzero(~np.isfinite(arr))[0])
                problems.append(f"{name}: non-finite value at index {bad}")
        for name in (*PRICE_COLUMNS, "adj_close"):
            price = cols.get(name)
            if price is not None and np.any(price <= 0):
                problems.append(f"{name}: non-positive price at index {int(np.argmax(price <= 0))}")
        if np.any(self.volume < 0):
            problems.append("volume: negative")
        if np.any(self.high < self.low):
            problems.append(f"high < low at index {int(np.argmax(self.high < self.low))}")
        if n > 1 and np.any(np.diff(self.timestamps.astype(np.int64)) <= 0):
            problems.append("timestamps: not strictly increasing")
        if problems:
            raise DataValidationError(f"{self.symbol}: invalid bars", problems)
        return self

    def __len__(self) -> int:
        return len(self.timestamps)

    def adjusted_view(self) -> BarSeries:
        """Split- and dividend-adjusted bars: O/H/L/C scaled by adj_close / close.

        Volume is left as reported. Without ``adj_close`` the bars are returned unchanged.
        """
        if self.adj_close is None or self.adjusted:
            return self
        factor = self.adj_close / self.close
        return BarSeries(
            symbol=self.symbol,
            timestamps=self.timestamps,
            open=self.open * factor,
            high=self.high * factor,
            low=self.low * factor,
            close=self.adj_close.copy(),
            volume=self.volume,
            adj_close=self.adj_close,
            adjusted=True,
        )

    def until(self, ts: np.datetime64 | str) -> BarSeries:
        """Bars with timestamp <= ``ts``: the view an agent may see on that day."""
        bound = np.array([ts], dtype="datetime64[ns]")
        end = int(np.searchsorted(self.timestamps, bound, side="right")[0])
        return self.slice(0, end)

    def slice(self, start: int, stop: int) -> BarSeries:
        return BarSeries(
            symbol=self.symbol,
            timestamps=self.timestamps[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
            adj_close=None if self.adj_close is None else self.adj_close[start:stop],
            adjusted=self.adjusted,
        )

    @property
    def last_close(self) -> float:
        return float(self.close[-1])
