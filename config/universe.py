"""Universe files: CSV of ``symbol,isin,name,currency,primary_exchange,exchange``."""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import ValidationError

from config.settings import CONFIG_DIR
from core.errors import ConfigurationError, DataValidationError
from core.instruments import Instrument

UNIVERSE_DIR = CONFIG_DIR / "universes"


def universe_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".csv" or p.exists():
        return p
    return UNIVERSE_DIR / f"{name_or_path}.csv"


def load_universe(name_or_path: str | Path) -> list[Instrument]:
    """Instruments of a universe file; every bad row is named with its line number."""
    path = universe_path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in UNIVERSE_DIR.glob("*.csv")))
        raise ConfigurationError(f"{path}: no such universe file (shipped: {known})")
    out: list[Instrument] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            line = reader.line_num  # the file's own line, blank lines included
            try:
                instrument = Instrument(
                    symbol=row["symbol"],
                    isin=row.get("isin") or None,
                    currency=row.get("currency") or "USD",
                    primary_exchange=row["primary_exchange"],
                    exchange=row.get("exchange") or "SMART",
                )
            except ValidationError as exc:
                reasons = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                )
                problems.append(f"{path}:{line}: {reasons}")
                continue
            except (KeyError, TypeError) as exc:
                problems.append(f"{path}:{line}: missing column {exc}")
                continue
            if instrument.key in seen:
                problems.append(
                    f"{path}:{line}: {instrument.key} already listed on line {seen[instrument.key]}"
                )
                continue
            seen[instrument.key] = line
            out.append(instrument)
    if problems:
        raise DataValidationError(f"{path}: {len(problems)} invalid row(s)", problems)
    return out
