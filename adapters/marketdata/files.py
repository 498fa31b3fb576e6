"""Bar files (CSV, gzip CSV, Parquet) → validated ``BarSeries``; and a ``MarketData``
over a folder of them.

Accepted layouts: Yahoo-style ``Date,Open,High,Low,Close,Adj Close,Volume`` in any column
order and any case, our own ``date,open,high,low,close,adj_close,volume``, an optional
leading index column, ISO dates with or without a time and a UTC offset.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.marketdata.validation import (
    Problem,
    Rule,
    ValidationOptions,
    ValidationReport,
    check_frame,
)
from core.bars import BarSeries
from core.errors import DataValidationError
from core.instruments import Instrument

ALIASES = {
    "date": "timestamp",
    "datetime": "timestamp",
    "time": "timestamp",
    "timestamp": "timestamp",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj_close": "adj_close",
    "adjclose": "adj_close",
    "adjusted_close": "adj_close",
    "volume": "volume",
    "vol": "volume",
}
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def _normalise(name: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def symbol_of(path: Path) -> str:
    name = path.name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)].upper()
    return path.stem.upper()


def _read(path: Path) -> tuple[pd.DataFrame, int]:
    """Raw frame of strings and the file row number of its first bar."""
    lower = path.name.lower()
    if lower.endswith((".parquet", ".pq")):
        frame = pd.read_parquet(path)
        if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name:
            frame = frame.reset_index()
        return frame.astype(str).where(frame.notna(), None), 1
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    return frame, 2


def _rename(frame: pd.DataFrame) -> pd.DataFrame:
    cols = [_normalise(c) for c in frame.columns]
    # A leading unnamed column (a written pandas index) is dropped unless it is the date.
    if cols and (cols[0] == "" or cols[0].startswith("unnamed")):
        frame = frame.iloc[:, 1:]
        cols = cols[1:]
    frame = frame.copy()
    frame.columns = [ALIASES.get(c, c) for c in cols]
    return frame


def validate_file(
    path: str | Path, options: ValidationOptions | None = None
) -> tuple[ValidationReport, BarSeries | None]:
    """Validate one file. Returns the report and, when it has no errors, the bars."""
    p = Path(path)
    opts = options or ValidationOptions()
    if not p.is_file():
        err = Problem(rule=Rule.UNREADABLE, message="no such file")
        return ValidationReport(file=str(p), ok=False, rows=0, errors=[err]), None
    try:
        raw, first_row = _read(p)
    except pd.errors.EmptyDataError:
        err = Problem(rule=Rule.EMPTY_FILE, message="file is empty")
        return ValidationReport(file=str(p), ok=False, rows=0, errors=[err]), None
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        err = Problem(rule=Rule.UNREADABLE, message=f"cannot parse: {exc}")
        return ValidationReport(file=str(p), ok=False, rows=0, errors=[err]), None
    frame = _rename(raw)
    errors, warnings, cols = check_frame(frame, first_row, opts)
    report = ValidationReport(
        file=str(p), ok=not errors, rows=len(frame), errors=errors, warnings=warnings
    )
    if errors:
        return report, None
    bars = BarSeries(
        symbol=symbol_of(p),
        timestamps=cols["timestamp"],
        open=cols["open"],
        high=cols["high"],
        low=cols["low"],
        close=cols["close"],
        volume=cols["volume"],
        adj_close=cols.get("adj_close"),
    )
    return report, bars


def load_bars(path: str | Path, options: ValidationOptions | None = None) -> BarSeries:
    """Validated bars of a file (unadjusted, as stored); raises ``DataValidationError``."""
    report, bars = validate_file(path, options)
    if bars is None:
        raise DataValidationError(
            f"{report.file}: {len(report.errors)} validation error(s)", report.lines()
        )
    return bars


class FileMarketData:
    """``MarketData`` over a folder of per-symbol files (``AAPL.csv.gz`` …).

    Files are validated once when first read; the adjusted view is the default.
    """

    def __init__(self, folder: str | Path, instruments: list[Instrument] | None = None) -> None:
        self.folder = Path(folder)
        self._files = {
            symbol_of(f): f
            for f in sorted(self.folder.iterdir())
            if f.is_file() and f.name.lower().endswith(SUFFIXES)
        }
        self._instruments = {i.symbol: i for i in instruments or []}
        self._cache: dict[str, BarSeries] = {}

    def symbols(self) -> list[str]:
        return sorted(self._files)

    def instrument(self, symbol: str) -> Instrument:
        if symbol in self._instruments:
            return self._instruments[symbol]
        if symbol not in self._files:
            raise KeyError(f"unknown symbol {symbol!r}; have {', '.join(self.symbols())}")
        return Instrument(symbol=symbol, primary_exchange="SMART")

    def bars(
        self,
        symbol: str,
        start: date | None = None,
        end: date | None = None,
        adjusted: bool = True,
    ) -> BarSeries:
        if symbol not in self._cache:
            if symbol not in self._files:
                raise KeyError(f"no bar file for {symbol!r} in {self.folder}")
            self._cache[symbol] = load_bars(self._files[symbol])
        series = self._cache[symbol].adjusted_view() if adjusted else self._cache[symbol]
        ts = series.timestamps
        lo = 0 if start is None else int(np.searchsorted(ts, np.datetime64(start, "ns")))
        hi = (
            len(ts)
            if end is None
            else int(
                np.searchsorted(ts, np.datetime64(end, "ns") + np.timedelta64(1, "D"), side="left")
            )
        )
        return series if (lo, hi) == (0, len(ts)) else series.slice(lo, hi)
