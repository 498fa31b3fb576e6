"""Positions and the portfolio. ``apply_fill`` is the only code that changes holdings.

Quantities are signed (short < 0). Equity = cash + sum(quantity * last_price). The
portfolio is immutable: ``apply_fill`` and ``mark`` return a new one, so concurrent
writers serialise on whoever stores the result (the adapters hold the lock).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from core.orders import Fill, utcnow


class Position(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    quantity: int = 0
    avg_price: float = 0.0
    last_price: float = 0.0
    realized_pnl: float = 0.0

    @property
    def market_value(self) -> float:
        return self.quantity * self.last_price

    @property
    def unrealized_pnl(self) -> float:
        return self.quantity * (self.last_price - self.avg_price)

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0


class Portfolio(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cash: float
    currency: str = "USD"
    positions: dict[str, Position] = Field(default_factory=dict)
    peak_equity: float = 0.0
    day_start_equity: float = 0.0
    commissions: float = 0.0
    fill_ids: frozenset[str] = frozenset()
    as_of: datetime = Field(default_factory=utcnow)

    @classmethod
    def open(cls, cash: float, currency: str = "USD") -> Portfolio:
        return cls(cash=cash, currency=currency, peak_equity=cash, day_start_equity=cash)

    @property
    def market_value(self) -> float:
        return sum(p.market_value for p in self.positions.values())

    @property
    def gross_exposure(self) -> float:
        return sum(abs(p.market_value) for p in self.positions.values())

    @property
    def equity(self) -> float:
        return self.cash + self.market_value

    @property
    def drawdown(self) -> float:
        """Fraction below the peak equity (0 at a new high)."""
        peak = max(self.peak_equity, self.equity)
        return 0.0 if peak <= 0 else (peak - self.equity) / peak

    @property
    def daily_pnl(self) -> float:
        return self.equity - self.day_start_equity

    @property
    def open_positions(self) -> dict[str, Position]:
        return {s: p for s, p in self.positions.items() if not p.is_flat}

    def quantity(self, symbol: str) -> int:
        pos = self.positions.get(symbol)
        return 0 if pos is None else pos.quantity

    def mark(self, prices: Mapping[str, float], as_of: datetime | None = None) -> Portfolio:
        """Revalue positions at ``prices`` and raise the peak if equity made a new high."""
        positions = {
            s: p.model_copy(update={"last_price": float(prices[s])}) if s in prices else p
            for s, p in self.positions.items()
        }
        marked = self.model_copy(update={"positions": positions, "as_of": as_of or utcnow()})
        return marked.model_copy(update={"peak_equity": max(self.peak_equity, marked.equity)})

    def start_day(self) -> Portfolio:
        """Reset the daily-loss reference to the current equity."""
        return self.model_copy(update={"day_start_equity": self.equity})


def _next_position(pos: Position, signed_qty: int, price: float) -> Position:
    old = pos.quantity
    new = old + signed_qty
    realized = pos.realized_pnl
    if old == 0 or (old > 0) == (signed_qty > 0):
        avg = (pos.avg_price * abs(old) + price * abs(signed_qty)) / abs(new)
    else:
        closed = min(abs(old), abs(signed_qty))
        realized += closed * (price - pos.avg_price) * (1 if old > 0 else -1)
        if new == 0:
            avg = 0.0
        elif (new > 0) == (old > 0):
            avg = pos.avg_price
        else:
            avg = price  # flipped through zero: the remainder opened at this price
    return pos.model_copy(
        update={"quantity": new, "avg_price": avg, "last_price": price, "realized_pnl": realized}
    )


def apply_fill(portfolio: Portfolio, fill: Fill) -> Portfolio:
    """The portfolio after ``fill``. A fill already applied (same ``fill_id``) changes nothing."""
    if fill.fill_id in portfolio.fill_ids:
        return portfolio
    signed = fill.side.sign * fill.quantity
    pos = portfolio.positions.get(fill.symbol, Position(symbol=fill.symbol))
    positions = dict(portfolio.positions)
    positions[fill.symbol] = _next_position(pos, signed, fill.price)
    return portfolio.model_copy(
        update={
            "cash": portfolio.cash - signed * fill.price - fill.commission,
            "positions": positions,
            "commissions": portfolio.commissions + fill.commission,
            "fill_ids": portfolio.fill_ids | {fill.fill_id},
            "as_of": fill.ts,
        }
    )
