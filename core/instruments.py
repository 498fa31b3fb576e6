"""Tradable instruments."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

_ISIN = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")


class SecType(StrEnum):
    STOCK = "STK"
    ETF = "ETF"
    FUTURE = "FUT"
    FOREX = "CASH"


def isin_checksum_ok(isin: str) -> bool:
    """ISO 6166 check digit (Luhn over the letters-as-numbers expansion)."""
    digits = "".join(str(int(ch, 36)) for ch in isin[:-1])
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return (10 - total % 10) % 10 == int(isin[-1])


class Instrument(BaseModel):
    """A listing: what a broker needs to route an order to one market."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1, max_length=24)
    sec_type: SecType = SecType.STOCK
    exchange: str = "SMART"
    primary_exchange: str = Field(min_length=1)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    isin: str | None = None

    @field_validator("symbol")
    @classmethod
    def _symbol_upper(cls, v: str) -> str:
        if v != v.strip() or not v.strip():
            raise ValueError("symbol must not be blank or padded")
        return v.upper()

    @field_validator("isin")
    @classmethod
    def _isin_valid(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not _ISIN.match(v) or not isin_checksum_ok(v):
            raise ValueError(f"invalid ISIN {v!r}")
        return v

    @property
    def key(self) -> str:
        """Unique key within Quorum: symbol plus primary exchange."""
        return f"{self.symbol}@{self.primary_exchange}"
