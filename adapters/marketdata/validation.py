"""Validation of bar files: every problem names the file, the row and the rule.

Rows are numbered as a person sees them in the file: for CSV the header is row 1 and the
first bar is row 2; for Parquet (no header line) the first bar is row 1.
Errors make the file unusable (nothing downstream changes); warnings are suspicious but
legal values (zero volume, single-bar jumps) that a person should look at.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field


class Rule(StrEnum):
    EMPTY_FILE = "empty_file"
    UNREADABLE = "unreadable"
    FIELD_COUNT = "field_count"
    MISSING_COLUMN = "missing_column"
    DUPLICATE_COLUMN = "duplicate_column"
    NOT_NUMERIC = "not_numeric"
    MISSING_VALUE = "missing_value"
    BAD_TIMESTAMP = "bad_timestamp"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_VOLUME = "negative_volume"
    HIGH_BELOW_LOW = "high_below_low"
    OPEN_OUTSIDE_RANGE = "open_outside_range"
    CLOSE_OUTSIDE_RANGE = "close_outside_range"
    DUPLICATE_TIMESTAMP = "duplicate_timestamp"
    UNSORTED_TIMESTAMP = "unsorted_timestamp"
    ZERO_VOLUME = "zero_volume"
    PRICE_JUMP = "price_jump"


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)

    row: int | None = None
    field: str | None = None
    rule: Rule
    message: str

    def render(self, file: str) -> str:
        where = file + (f":{self.row}" if self.row is not None else "")
        col = f" [{self.field}]" if self.field else ""
        return f"{where}{col} {self.rule.value}: {self.message}"


class ValidationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str
    ok: bool
    rows: int
    errors: list[Problem] = Field(default_factory=list)
    warnings: list[Problem] = Field(default_factory=list)

    def lines(self) -> list[str]:
        return [p.render(self.file) for p in self.errors]


class ValidationOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_jump: float = Field(default=0.4, gt=0)  # |close/prev_close - 1| above this warns
    max_problems_per_rule: int = Field(default=20, gt=0)


PRICE_FIELDS = ("open", "high", "low", "close")
NUMERIC_FIELDS = (*PRICE_FIELDS, "adj_close", "volume")
REQUIRED = ("timestamp", *PRICE_FIELDS, "volume")


def check_frame(
    frame: pd.DataFrame, first_row: int | npt.NDArray[np.int64], options: ValidationOptions
) -> tuple[list[Problem], list[Problem], dict[str, Any]]:
    """Validate a frame of raw strings with normalised column names.

    ``first_row`` is the file row of the first bar (bars on consecutive rows), or an array
    with the file row of every bar (when blank or malformed lines were skipped).
    Returns errors, warnings and (when there are no errors) the parsed columns.
    """
    errors: list[Problem] = []
    warnings: list[Problem] = []
    counts: dict[Rule, int] = {}
    buckets: dict[Rule, list[Problem]] = {}

    def add(
        bucket: list[Problem], rule: Rule, row: int | None, field: str | None, msg: str
    ) -> None:
        counts[rule] = counts.get(rule, 0) + 1
        buckets[rule] = bucket
        if counts[rule] <= options.max_problems_per_rule:
            bucket.append(Problem(row=row, field=field, rule=rule, message=msg))

    rows = (
        np.arange(len(frame)) + first_row
        if isinstance(first_row, int)
        else np.asarray(first_row, dtype=np.int64)
    )
    parsed = _check_rules(frame, rows, options, errors, warnings, add)
    # Say how many problems were left out rather than dropping them silently.
    limit = options.max_problems_per_rule
    for rule, n in counts.items():
        if n > limit:
            more = f"{n - limit} more row(s) break this rule; only the first {limit} are listed"
            buckets[rule].append(Problem(rule=rule, message=more))
    return errors, warnings, parsed if not errors else {}


def _check_rules(
    frame: pd.DataFrame,
    rows: npt.NDArray[np.int64],
    options: ValidationOptions,
    errors: list[Problem],
    warnings: list[Problem],
    add: Callable[[list[Problem], Rule, int | None, str | None, str], None],
) -> dict[str, Any]:
    if frame.empty:
        add(errors, Rule.EMPTY_FILE, None, None, "no bars in file")
        return {}
    missing = [c for c in REQUIRED if c not in frame.columns]
    for col in missing:
        add(
            errors,
            Rule.MISSING_COLUMN,
            None,
            col,
            f"required column {col!r} not found (columns: {', '.join(map(str, frame.columns))})",
        )
    if missing:
        return {}

    parsed: dict[str, Any] = {}
    for col in NUMERIC_FIELDS:
        if col not in frame.columns:
            continue
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        blank = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
        for i in np.flatnonzero(blank):
            add(errors, Rule.MISSING_VALUE, int(rows[i]), col, "empty value")
        bad = ~np.isfinite(values) & ~blank
        for i in np.flatnonzero(bad):
            add(
                errors,
                Rule.NOT_NUMERIC,
                int(rows[i]),
                col,
                f"{raw.iloc[i]!r} is not a finite number",
            )
        parsed[col] = values

    ts = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="ISO8601")
    for i in np.flatnonzero(ts.isna().to_numpy()):
        add(
            errors,
            Rule.BAD_TIMESTAMP,
            int(rows[i]),
            "timestamp",
            f"{frame['timestamp'].iloc[i]!r} is not an ISO date or date-time",
        )
    stamps = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    parsed["timestamp"] = stamps

    o, h, lo, c, v = (parsed[k] for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        for col in (*PRICE_FIELDS, "adj_close"):
            if col in parsed:
                for i in np.flatnonzero(parsed[col] <= 0):
                    add(
                        errors,
                        Rule.NON_POSITIVE_PRICE,
                        int(rows[i]),
                        col,
                        f"price {parsed[col][i]} must be > 0",
                    )
        for i in np.flatnonzero(v < 0):
            add(errors, Rule.NEGATIVE_VOLUME, int(rows[i]), "volume", f"volume {v[i]} < 0")
        for i in np.flatnonzero(h < lo):
            add(errors, Rule.HIGH_BELOW_LOW, int(rows[i]), "high", f"high {h[i]} < low {lo[i]}")
        for i in np.flatnonzero((o < lo) | (o > h)):
            add(
                errors,
                Rule.OPEN_OUTSIDE_RANGE,
                int(rows[i]),
                "open",
                f"open {o[i]} outside [low {lo[i]}, high {h[i]}]",
            )
        for i in np.flatnonzero((c < lo) | (c > h)):
            add(
                errors,
                Rule.CLOSE_OUTSIDE_RANGE,
                int(rows[i]),
                "close",
                f"close {c[i]} outside [low {lo[i]}, high {h[i]}]",
            )
        valid_ts = ~np.isnat(stamps)
        t = stamps[valid_ts].astype(np.int64)
        trow = rows[valid_ts]
        if len(t) > 1:
            d = np.diff(t)
            for i in np.flatnonzero(d == 0):
                add(
                    errors,
                    Rule.DUPLICATE_TIMESTAMP,
                    int(trow[i + 1]),
                    "timestamp",
                    f"same timestamp as row {int(trow[i])}",
                )
            for i in np.flatnonzero(d < 0):
                add(
                    errors,
                    Rule.UNSORTED_TIMESTAMP,
                    int(trow[i + 1]),
                    "timestamp",
                    f"earlier than row {int(trow[i])} (bars must be oldest first)",
                )
        for i in np.flatnonzero(v == 0):
            add(warnings, Rule.ZERO_VOLUME, int(rows[i]), "volume", "zero volume")
        if len(c) > 1:
            jump = np.abs(c[1:] / c[:-1] - 1.0)
            for i in np.flatnonzero(jump > options.max_jump):
                add(
                    warnings,
                    Rule.PRICE_JUMP,
                    int(rows[i + 1]),
                    "close",
                    f"close moved {jump[i]:.0%} in one bar ({c[i]} -> {c[i + 1]}); "
                    "a split in unadjusted prices?",
                )
    return parsed
