"""Bar files (CSV, gzip CSV, Parquet) → validated ``BarSeries``; and a ``MarketData``
over a folder of them.

Accepted layouts: Yahoo-style ``Date,Open,High,Low,Close,Adj Close,Volume`` in any column
order and any case, our own ``date,open,high,low,close,adj_close,volume``, an optional
leading index column (the date when it holds dates, dropped otherwise), ISO dates with or
without a time and a UTC offset.
"""

from __future__ import annotations

import csv
import gzip
import re
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
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
KNOWN = frozenset(ALIASES.values())
# Names a written index column gets: pandas' to_csv ("" / "Unnamed: 0"), reset_index.
INDEX_NAMES = frozenset({"", "unnamed_0", "unnamed:_0", "index", "level_0"})


def _normalise(name: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def symbol_of(path: Path) -> str:
    name = path.name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)].upper()
    return path.stem.upper()


def _read_csv(path: Path) -> tuple[pd.DataFrame, npt.NDArray[np.int64], list[Problem]]:
    """Raw string cells, the file row of every bar, and the rows that could not be read.

    Read with the csv module rather than pandas so that row numbers are the file's own
    (blank lines are skipped but still counted) and a row with the wrong number of fields
    is named instead of silently shifting the columns.
    """
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    header: list[str] | None = None
    records: list[list[str]] = []
    numbers: list[int] = []
    problems: list[Problem] = []
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        while True:
            first_line = reader.line_num + 1  # a quoted field may span lines
            try:
                record = next(reader)
            except StopIteration:
                break
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = record
            elif len(record) != len(header):
                problems.append(
                    Problem(
                        row=first_line,
                        rule=Rule.FIELD_COUNT,
                        message=f"{len(record)} fields where the header has {len(header)}",
                    )
                )
            else:
                records.append(record)
                numbers.append(first_line)
    if header is None:
        raise pd.errors.EmptyDataError("no header line")
    frame = pd.DataFrame(records, columns=header, dtype=object)
    return frame, np.asarray(numbers, dtype=np.int64), problems


def _read_parquet(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name:
        frame = frame.reset_index()  # an unnamed date index comes back as "index"
    return frame.astype(str).where(frame.notna(), None)


def _looks_like_dates(column: pd.Series) -> bool:
    cells = column.dropna().astype(str).str.strip()
    cells = cells[cells != ""]
    if cells.empty:
        return False
    parsed = pd.to_datetime(cells.iloc[:5], utc=True, errors="coerce", format="ISO8601")
    return bool(parsed.notna().all())


def _rename(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Map column names onto ours; a leading index column is the timestamp when it holds
    dates and no other column does, and is dropped otherwise."""
    original = [str(c) for c in frame.columns]
    cols = [ALIASES.get(_normalise(c), _normalise(c)) for c in original]
    frame = frame.copy()
    if cols and cols[0] in INDEX_NAMES:
        if "timestamp" not in cols[1:] and _looks_like_dates(frame.iloc[:, 0]):
            cols[0] = "timestamp"
        else:
            frame = frame.iloc[:, 1:]
            cols, original = cols[1:], original[1:]
    frame.columns = pd.Index(cols)
    problems = []
    for name in dict.fromkeys(c for c in cols if cols.count(c) > 1 and c in KNOWN):
        sources = ", ".join(repr(o) for o, c in zip(original, cols, strict=True) if c == name)
        problems.append(
            Problem(
                field=name,
                rule=Rule.DUPLICATE_COLUMN,
                message=f"columns {sources} all mean {name!r}; keep one",
            )
        )
    return frame, problems


def validate_file(
    path: str | Path, options: ValidationOptions | None = None
) -> tuple[ValidationReport, BarSeries | None]:
    """Validate one file. Returns the report and, when it has no errors, the bars."""
    p = Path(path)
    opts = options or ValidationOptions()

    def failed(rule: Rule, message: str) -> tuple[ValidationReport, None]:
        err = Problem(rule=rule, message=message)
        return ValidationReport(file=str(p), ok=False, rows=0, errors=[err]), None

    if not p.is_file():
        return failed(Rule.UNREADABLE, "not a file" if p.exists() else "no such file")
    if p.stat().st_size == 0:
        return failed(Rule.EMPTY_FILE, "file is empty (0 bytes)")
    read_errors: list[Problem] = []
    try:
        if p.name.lower().endswith((".parquet", ".pq")):
            raw = _read_parquet(p)
            row_numbers: int | npt.NDArray[np.int64] = 1  # no header line: first bar is row 1
        else:
            raw, row_numbers, read_errors = _read_csv(p)
    except pd.errors.EmptyDataError:
        return failed(Rule.EMPTY_FILE, "file is empty")
    except (OSError, ValueError, csv.Error, UnicodeDecodeError) as exc:
        return failed(Rule.UNREADABLE, f"cannot parse: {exc}")
    frame, column_errors = _rename(raw)
    rows = len(frame) + len(read_errors)
    if column_errors:
        report = ValidationReport(file=str(p), ok=False, rows=rows, errors=column_errors)
        return report, None
    errors, warnings, cols = check_frame(frame, row_numbers, opts)
    if read_errors and not len(frame):
        errors = []  # every row was malformed: "no bars" would only repeat it
    errors = sorted(read_errors + errors, key=lambda e: (e.row is None, e.row or 0))
    report = ValidationReport(
        file=str(p), ok=not errors, rows=rows, errors=errors, warnings=warnings
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
