"""Protective stop and take-profit levels: the prices a position's broker orders carry.

- **Entry levels**: stop-loss ``entry - direction * stop_atr_multiple * atr`` (the pyramid
  plan's initial stop, ``tools.sizing.pyramid_plan``), take-profit
  ``entry + direction * take_profit_atr * atr`` (the stop manager's target). A level that
  would be at or below zero is ``0.0``: no such order.
- **Trailing stop**: ``extreme - direction * trail_atr * atr`` (``extreme`` is the best
  close since entry: the high for a long, the low for a short), never looser than
  ``floor_stop`` (the pyramid plan's stop) when one is given (``> 0``).
- **Tighten only**: a stop moves to a new level only if that tightens it (up for a
  long, down for a short) by at least ``min_step``; it never loosens.
- Prices are rounded to the tick: a stop away from the position's side of the market
  (down for a long), a take-profit away from entry (up for a long), so rounding never
  brings either closer than the kernel said.

Kernels take scalars (direction ``1`` long, ``-1`` short) and return ``0.0`` for invalid
inputs; ``bracket_levels`` is the typed wrapper agents use.
"""

from __future__ import annotations

import math

from numba import njit
from pydantic import BaseModel, ConfigDict, Field

from core.signals import Direction

DEFAULT_TICK = 0.01


@njit(cache=True)
def protective_levels(
    entry: float, atr: float, direction: int, stop_atr_multiple: float, take_profit_atr: float
) -> tuple[float, float]:
    """(stop-loss, take-profit) around ``entry``; ``0.0`` for a level that does not exist."""
    ok = (direction == 1 or direction == -1) and entry > 0.0 and atr > 0.0  # noqa: PLR1714
    if not ok or not math.isfinite(entry * atr):
        return 0.0, 0.0
    stop = 0.0
    if stop_atr_multiple > 0.0:
        stop = max(entry - direction * stop_atr_multiple * atr, 0.0)
    take = 0.0
    if take_profit_atr > 0.0:
        take = max(entry + direction * take_profit_atr * atr, 0.0)
    return stop, take


@njit(cache=True)
def trailing_stop(
    extreme: float, atr: float, direction: int, trail_atr: float, floor_stop: float
) -> float:
    """The trailing stop behind ``extreme``, never looser than ``floor_stop`` (if > 0)."""
    ok = (direction == 1 or direction == -1) and extreme > 0.0 and atr >= 0.0  # noqa: PLR1714
    if not ok or not math.isfinite(extreme * atr) or not trail_atr >= 0.0:
        return 0.0
    stop = max(extreme - direction * trail_atr * atr, 0.0)
    if floor_stop > 0.0:
        stop = max(stop, floor_stop) if direction == 1 else min(stop, floor_stop)
    return stop


@njit(cache=True)
def tightened_stop(current: float, target: float, direction: int, min_step: float) -> float:
    """``target`` if it tightens ``current`` by at least ``min_step``, else ``current``."""
    if not target > 0.0 or not math.isfinite(target):
        return current
    if not current > 0.0:
        return target
    gain = (target - current) * direction
    return target if gain >= min_step - 1e-12 else current


def round_to_tick(price: float, tick: float, *, up: bool) -> float:
    """``price`` on the tick grid, rounded up or down (a hair of float error forgiven)."""
    if not (price > 0 and tick > 0):
        return 0.0
    steps = price / tick
    n = math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)
    return round(n * tick, 10)


class BracketLevels(BaseModel):
    """The protective prices of a new position; ``None``: no such order (invalid level)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stop_loss: float | None = Field(default=None, gt=0)
    take_profit: float | None = Field(default=None, gt=0)


def bracket_levels(
    entry: float,
    atr: float,
    direction: Direction,
    *,
    stop_atr_multiple: float = 2.0,
    take_profit_atr: float = 6.0,
    tick: float = DEFAULT_TICK,
) -> BracketLevels:
    """Stop-loss and take-profit for an entry at ``entry``, on the tick grid, each on the
    right side of ``entry`` (stop below a long's entry, target above) or ``None``."""
    if direction is Direction.FLAT:
        return BracketLevels()
    sign = 1 if direction is Direction.LONG else -1
    stop, take = protective_levels(
        float(entry), float(atr), sign, float(stop_atr_multiple), float(take_profit_atr)
    )
    stop = round_to_tick(stop, tick, up=sign < 0)
    take = round_to_tick(take, tick, up=sign > 0)
    valid_stop = stop > 0 and (stop - entry) * sign < 0
    valid_take = take > 0 and (take - entry) * sign > 0
    return BracketLevels(
        stop_loss=stop if valid_stop else None, take_profit=take if valid_take else None
    )
