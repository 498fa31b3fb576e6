"""Fill logic: whether, at what price and for how many shares a resting order trades.

Pure functions of an order and one bar or quote; the broker owns state and persistence.

Conventions (the same in docs/brokers.md):

- A bar is the *next* bar after the order was placed: the broker never fills an order
  on a bar it has already seen.
- **Market**: the bar's open, plus slippage against the trader. On a quote: the ask for a
  buy, the bid for a sell, plus slippage.
- **Limit**: fills when the bar reaches the limit (``low <= limit`` for a buy,
  ``high >= limit`` for a sell) at the limit, or at the open if the bar opened through it
  (a gap gives the better price). No slippage: a limit order never trades worse than its
  limit. On a quote: when the ask (buy) / bid (sell) is at or through the limit, at that
  ask / bid.
- **Stop**: triggers when the bar touches the stop (``high >= stop`` for a buy,
  ``low <= stop`` for a sell) and then fills as a market order at the stop, or at the open
  if the bar gapped through it, plus slippage. A stop that has partly filled has
  triggered: its remainder trades as a market order.
- **Volume**: all resting orders of a symbol together fill at most
  ``floor(max_volume_share * volume)`` shares of one bar, oldest order first; whatever is
  left stays open for the next bar. Quotes carry no size and do not cap the quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import DataValidationError
from core.orders import Order, OrderIntent, OrderSide, OrderStatus, OrderType, utcnow
from core.portfolio import Portfolio
from tools.costs import CommissionModel, SlippageModel, commission, fill_price


@dataclass(frozen=True, slots=True)
class Bar:
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Quote:
    bid: float
    ask: float

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0


def _acts_as_market(order: Order) -> bool:
    """A market order, or a stop that already triggered (it has partly filled)."""
    kind = order.intent.order_type
    return kind is OrderType.MARKET or (
        kind is OrderType.STOP and order.status is OrderStatus.PARTIALLY_FILLED
    )


def bar_fill_price(order: Order, bar: Bar, slippage: SlippageModel) -> float | None:
    """The price ``order`` trades at on ``bar``, or ``None`` if the bar does not reach it."""
    intent = order.intent
    buy = intent.side is OrderSide.BUY
    side = intent.side.sign
    if _acts_as_market(order):
        return fill_price(bar.open, side, slippage)
    if intent.order_type is OrderType.LIMIT:
        limit = _price(intent.limit_price)
        if buy:
            return bar.open if bar.open <= limit else (limit if bar.low <= limit else None)
        return bar.open if bar.open >= limit else (limit if bar.high >= limit else None)
    stop = _price(intent.stop_price)
    if buy:
        trigger = bar.open if bar.open >= stop else (stop if bar.high >= stop else None)
    else:
        trigger = bar.open if bar.open <= stop else (stop if bar.low <= stop else None)
    return None if trigger is None else fill_price(trigger, side, slippage)


def quote_fill_price(order: Order, quote: Quote, slippage: SlippageModel) -> float | None:
    """The price ``order`` trades at against ``quote``, or ``None``."""
    intent = order.intent
    buy = intent.side is OrderSide.BUY
    side = intent.side.sign
    touch = quote.ask if buy else quote.bid
    if _acts_as_market(order):
        return fill_price(touch, side, slippage)
    if intent.order_type is OrderType.LIMIT:
        limit = _price(intent.limit_price)
        crossed = touch <= limit if buy else touch >= limit
        return touch if crossed else None
    stop = _price(intent.stop_price)
    triggered = touch >= stop if buy else touch <= stop
    return fill_price(touch, side, slippage) if triggered else None


def buying_power_rejection(
    intent: OrderIntent, portfolio: Portfolio, buying_power: float
) -> str | None:
    """Why a broker refuses ``intent`` for lack of buying power, or ``None``.

    Only buys that open or grow exposure are checked: sells are not (shorting is allowed)
    and a buy that only closes a short (a protective buy-stop, say) always goes through.
    The cost is estimated at the limit, stop, reference or last price."""
    if intent.side is not OrderSide.BUY:
        return None
    position = portfolio.positions.get(intent.symbol)
    held = position.quantity if position else 0
    if held < 0 and intent.quantity <= -held:
        return None
    price = intent.limit_price or intent.stop_price or intent.reference_price
    if price is None and position and position.last_price > 0:
        price = position.last_price
    if price is None:
        return None  # nothing to estimate the cost with; the fill will tell
    needed = intent.quantity * price
    if needed > buying_power:
        return f"INSUFFICIENT_BUYING_POWER: needed={needed:.2f} available={buying_power:.2f}"
    return None


def volume_cap(volume: float, max_share: float) -> int:
    """Shares one bar can absorb from all resting orders of its symbol."""
    if volume <= 0:
        return 0
    # The epsilon keeps 0.1 * 1000 from flooring to 99 through float error.
    return max(0, math.floor(volume * max_share + 1e-9))


def incremental_commission(
    model: CommissionModel, prior_qty: int, prior_value: float, qty: int, price: float
) -> float:
    """Commission for one more fill of an order, so the order as a whole pays the per-order
    minimum and cap once: commission(all fills so far) - commission(fills before this one)."""
    total_qty = prior_qty + qty
    total_value = prior_value + qty * price
    after = commission(model, total_qty, total_value / total_qty)
    before = 0.0 if prior_qty == 0 else commission(model, prior_qty, prior_value / prior_qty)
    return max(0.0, after - before)


def _price(value: float | None) -> float:
    if value is None:  # OrderIntent's validator guarantees the price for its type
        raise ValueError("order is missing the price its type needs")
    return value


def check_bar(symbol: str, bar: Bar) -> None:
    prices = (bar.open, bar.high, bar.low, bar.close)
    finite = all(math.isfinite(p) and p > 0 for p in prices)
    if not finite or not (math.isfinite(bar.volume) and bar.volume >= 0):
        raise DataValidationError(f"{symbol}: bar prices must be > 0 and volume >= 0: {bar}")
    if bar.high < max(bar.open, bar.close) or bar.low > min(bar.open, bar.close):
        raise DataValidationError(f"{symbol}: bar high/low do not bracket open/close: {bar}")


def as_utc(ts: datetime | None) -> datetime:
    """Bar times are UTC; a naive one is read as UTC so stored times compare correctly."""
    if ts is None:
        return utcnow()
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
