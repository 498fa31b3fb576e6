"""Position sizing and pyramiding plans: whole shares, never negative, deterministic.

- **ATR volatility target**: ``floor(equity * risk_fraction / (atr * atr_multiple))``
  shares, so a move of ``atr_multiple`` ATRs against the position costs about
  ``risk_fraction`` of equity.
- **Fixed fractional**: ``floor(equity * risk_fraction / |entry - stop|)`` shares, so being
  stopped out costs ``risk_fraction`` of equity (before slippage and commission).
- Both are then capped so that ``shares * price <= max_position_weight * equity`` and
  ``shares * price <= cash`` (shorts are sized as if cash-collateralised: conservative).
  Degenerate inputs (non-positive or non-finite equity, price, ATR, stop distance or
  fraction) give 0 shares rather than an error: no trade is the safe answer.
- **Pyramiding plan**: tranche ``k`` (0-based; tranche 0 is the initial entry) triggers
  at ``entry + direction * k_atr * atr * k`` with ``floor(base_qty * size_decay ** k)``
  shares, truncated so the total never exceeds ``max_total_qty``. The plan stops at the
  first tranche that would be empty or would trigger at a price <= 0. Stops: the initial
  stop is ``entry - direction * stop_atr_multiple * atr`` (floored at 0 for longs); from
  the second tranche on, the stop moves to break-even, the average entry of the tranches
  filled so far, and it only ever tightens (up for longs, down for shorts).

Floors use a 1e-9 relative tolerance so that e.g. ``100 * 0.3 ** 2`` (8.999999999999998
in floating point) is 9 shares, not 8; the caps are then enforced exactly.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from core.signals import Direction

_FLOOR_TOLERANCE = 1e-9
_MAX_SHARES = 1e15  # far above any real order, far below int64


@njit(cache=True)
def _whole_shares(amount: float) -> int:
    """``floor(amount)`` that forgives rounding just below an integer; 0 if not positive."""
    if not amount > 0.0:
        return 0
    # Clamp before converting: a float beyond int64 would wrap around to garbage.
    return math.floor(min(amount, _MAX_SHARES) * (1.0 + _FLOOR_TOLERANCE))


@njit(cache=True)
def _cap_shares(
    shares: int, price: float, equity: float, cash: float, max_position_weight: float
) -> int:
    """Largest ``n <= shares`` with ``n * price`` within the weight cap and the cash."""
    budget = min(max_position_weight * equity, cash)
    if not budget > 0.0:
        return 0
    n = min(shares, math.floor(budget / price))
    while n > 0 and n * price > budget:  # the division can round up by one share
        n -= 1
    return max(n, 0)


@njit(cache=True)
def atr_position_size(
    equity: float,
    cash: float,
    price: float,
    atr: float,
    risk_fraction: float,
    atr_multiple: float,
    max_position_weight: float,
) -> int:
    """Shares so that ``atr_multiple`` ATRs of adverse move cost ``risk_fraction`` of equity."""
    ok = equity > 0.0 and price > 0.0 and atr > 0.0 and atr_multiple > 0.0
    if not ok or not risk_fraction > 0.0 or not math.isfinite(price * atr * equity):
        return 0
    shares = _whole_shares(equity * risk_fraction / (atr * atr_multiple))
    return _cap_shares(shares, price, equity, cash, max_position_weight)


@njit(cache=True)
def atr_position_sizes(
    equity: float,
    cash: float,
    prices: NDArray[np.float64],
    atrs: NDArray[np.float64],
    risk_fraction: float,
    atr_multiple: float,
    max_position_weight: float,
) -> NDArray[np.int64]:
    """``atr_position_size`` per symbol; each is capped by the cash on its own."""
    out = np.zeros(prices.shape[0], dtype=np.int64)
    for i in range(prices.shape[0]):
        out[i] = atr_position_size(
            equity, cash, prices[i], atrs[i], risk_fraction, atr_multiple, max_position_weight
        )
    return out


@njit(cache=True)
def fixed_fractional_size(
    equity: float,
    cash: float,
    entry: float,
    stop: float,
    risk_fraction: float,
    max_position_weight: float,
) -> int:
    """Shares so that a stop-out at ``stop`` loses ``risk_fraction`` of equity."""
    distance = abs(entry - stop)
    ok = equity > 0.0 and entry > 0.0 and distance > 0.0 and risk_fraction > 0.0
    if not ok or not math.isfinite(distance * equity):
        return 0
    shares = _whole_shares(equity * risk_fraction / distance)
    return _cap_shares(shares, entry, equity, cash, max_position_weight)


@njit(cache=True)
def pyramid_plan(
    entry: float,
    atr: float,
    direction: int,
    base_qty: int,
    k_atr: float,
    max_levels: int,
    size_decay: float,
    stop_atr_multiple: float,
    max_total_qty: int,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Trigger price, size and stop-after-fill of each tranche (empty if inputs invalid)."""
    levels = max(max_levels, 0)
    triggers = np.empty(levels, dtype=np.float64)
    sizes = np.zeros(levels, dtype=np.int64)
    stops = np.empty(levels, dtype=np.float64)
    valid = (
        (direction == 1 or direction == -1)  # noqa: PLR1714
        and entry > 0.0
        and atr > 0.0
        and k_atr > 0.0
        and base_qty > 0
        and 0.0 < size_decay <= 1.0
        and stop_atr_multiple > 0.0
        and math.isfinite(entry * atr * k_atr * stop_atr_multiple)
    )
    if not valid:
        return triggers[:0], sizes[:0], stops[:0]
    stop = max(entry - direction * stop_atr_multiple * atr, 0.0)
    total = 0
    cost = 0.0
    count = 0
    for level in range(levels):
        trigger = entry + direction * k_atr * atr * level
        if trigger <= 0.0:
            break
        size = min(_whole_shares(base_qty * size_decay**level), max_total_qty - total)
        if size <= 0:
            break
        total += size
        cost += size * trigger
        if level >= 1:
            break_even = cost / total
            stop = max(stop, break_even) if direction == 1 else min(stop, break_even)
        triggers[count] = trigger
        sizes[count] = size
        stops[count] = stop
        count += 1
    return triggers[:count], sizes[:count], stops[:count]


class PyramidTranche(BaseModel):
    """One tranche: buy (or sell short) ``quantity`` when price reaches ``trigger_price``,
    then keep the whole position's stop at ``stop_price``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: int = Field(ge=0)
    trigger_price: float = Field(gt=0)
    quantity: int = Field(gt=0)
    cumulative_quantity: int = Field(gt=0)
    average_entry: float = Field(gt=0)
    stop_price: float = Field(ge=0)


class PyramidPlan(BaseModel):
    """A deterministic scale-in plan the pyramiding agent follows and journals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    direction: Direction
    entry: float = Field(gt=0)
    atr: float = Field(gt=0)
    initial_stop: float = Field(ge=0)
    tranches: tuple[PyramidTranche, ...]

    @property
    def total_quantity(self) -> int:
        return self.tranches[-1].cumulative_quantity if self.tranches else 0


def build_pyramid_plan(
    entry: float,
    atr: float,
    direction: Direction,
    base_qty: int,
    *,
    k_atr: float = 1.0,
    max_levels: int = 4,
    size_decay: float = 0.5,
    stop_atr_multiple: float = 2.0,
    max_total_qty: int | None = None,
) -> PyramidPlan:
    """Typed wrapper of ``pyramid_plan``; raises ``ValueError`` on invalid parameters."""
    if direction is Direction.FLAT:
        raise ValueError("a pyramid needs a LONG or SHORT direction")
    problems = [
        name
        for name, ok in (
            ("entry > 0", entry > 0 and math.isfinite(entry)),
            ("atr > 0", atr > 0 and math.isfinite(atr)),
            ("base_qty > 0", base_qty > 0),
            ("k_atr > 0", k_atr > 0 and math.isfinite(k_atr)),
            ("max_levels >= 1", max_levels >= 1),
            ("0 < size_decay <= 1", 0 < size_decay <= 1),
            ("stop_atr_multiple > 0", stop_atr_multiple > 0 and math.isfinite(stop_atr_multiple)),
            ("max_total_qty >= 0", max_total_qty is None or max_total_qty >= 0),
        )
        if not ok
    ]
    if problems:
        raise ValueError("invalid pyramid parameters: need " + ", ".join(problems))
    sign = 1 if direction is Direction.LONG else -1
    cap = base_qty * max_levels if max_total_qty is None else max_total_qty
    triggers, sizes, stops = pyramid_plan(
        float(entry), float(atr), sign, int(base_qty), float(k_atr), int(max_levels),
        float(size_decay), float(stop_atr_multiple), int(cap),
    )  # fmt: skip
    tranches: list[PyramidTranche] = []
    cumulative = 0
    cost = 0.0
    for level, (trigger, size, stop) in enumerate(zip(triggers, sizes, stops, strict=True)):
        cumulative += int(size)
        cost += int(size) * float(trigger)
        tranches.append(
            PyramidTranche(
                level=level,
                trigger_price=float(trigger),
                quantity=int(size),
                cumulative_quantity=cumulative,
                average_entry=cost / cumulative,
                stop_price=float(stop),
            )
        )
    initial_stop = max(entry - sign * stop_atr_multiple * atr, 0.0)
    return PyramidPlan(
        direction=direction, entry=entry, atr=atr, initial_stop=initial_stop,
        tranches=tuple(tranches),
    )  # fmt: skip
