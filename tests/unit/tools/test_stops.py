from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.signals import Direction
from tools.sizing import build_pyramid_plan
from tools.stops import (
    bracket_levels,
    protective_levels,
    round_to_tick,
    tightened_stop,
    trailing_stop,
)


def test_protective_levels_when_long_then_stop_below_and_target_above() -> None:
    assert protective_levels(100.0, 2.0, 1, 2.0, 6.0) == (96.0, 112.0)
    assert protective_levels(100.0, 2.0, -1, 2.0, 6.0) == (104.0, 88.0)


def test_entry_stop_is_the_pyramid_plans_initial_stop() -> None:
    plan = build_pyramid_plan(61.9, 1.37, Direction.LONG, 100, stop_atr_multiple=2.0)
    stop, _ = protective_levels(61.9, 1.37, 1, 2.0, 6.0)
    assert stop == pytest.approx(plan.initial_stop)


@pytest.mark.parametrize(
    ("entry", "atr", "direction"),
    [(0.0, 2.0, 1), (100.0, 0.0, 1), (100.0, -1.0, 1), (100.0, 2.0, 0), (math.nan, 2.0, 1)],
)
def test_protective_levels_when_inputs_degenerate_then_no_levels(
    entry: float, atr: float, direction: int
) -> None:
    assert protective_levels(entry, atr, direction, 2.0, 6.0) == (0.0, 0.0)


def test_protective_levels_when_short_target_would_be_negative_then_none() -> None:
    assert protective_levels(10.0, 2.0, -1, 2.0, 6.0) == (14.0, 0.0)
    assert bracket_levels(10.0, 2.0, Direction.SHORT).take_profit is None


def test_trailing_stop_when_floor_is_tighter_then_floor_wins() -> None:
    assert trailing_stop(110.0, 2.0, 1, 3.0, 0.0) == 104.0
    assert trailing_stop(110.0, 2.0, 1, 3.0, 105.0) == 105.0
    assert trailing_stop(90.0, 2.0, -1, 3.0, 95.0) == 95.0
    assert trailing_stop(90.0, 2.0, -1, 3.0, 0.0) == 96.0
    assert trailing_stop(0.0, 2.0, 1, 3.0, 0.0) == 0.0


def test_tightened_stop_when_target_looser_or_too_close_then_unchanged() -> None:
    assert tightened_stop(95.0, 96.0, 1, 0.01) == 96.0
    assert tightened_stop(95.0, 94.0, 1, 0.01) == 95.0  # never loosens
    assert tightened_stop(95.0, 95.005, 1, 0.01) == 95.0  # below one tick
    assert tightened_stop(105.0, 104.0, -1, 0.01) == 104.0
    assert tightened_stop(105.0, 106.0, -1, 0.01) == 105.0
    assert tightened_stop(0.0, 96.0, 1, 0.01) == 96.0  # no stop yet: take the target
    assert tightened_stop(95.0, 0.0, 1, 0.01) == 95.0  # no target: keep the stop


@given(
    current=st.floats(1.0, 1_000.0),
    target=st.floats(1.0, 1_000.0),
    direction=st.sampled_from([1, -1]),
)
def test_tightened_stop_never_loosens(current: float, target: float, direction: int) -> None:
    moved = tightened_stop(current, target, direction, 0.01)
    assert moved in (current, target)
    assert (moved - current) * direction >= 0


def test_round_to_tick_rounds_in_the_asked_direction() -> None:
    assert round_to_tick(96.1234, 0.01, up=False) == 96.12
    assert round_to_tick(96.1234, 0.01, up=True) == 96.13
    assert round_to_tick(96.12, 0.01, up=True) == 96.12  # already on the grid
    assert round_to_tick(0.0, 0.01, up=True) == 0.0


def test_bracket_levels_when_long_then_on_the_tick_and_around_entry() -> None:
    levels = bracket_levels(61.9, 1.3737, Direction.LONG)
    assert levels.stop_loss == 59.15  # 61.9 - 2.7474 = 59.1526, rounded down
    assert levels.take_profit == 70.15  # 61.9 + 8.2422 = 70.1422, rounded up
    short = bracket_levels(61.9, 1.3737, Direction.SHORT)
    assert short.stop_loss == 64.65 and short.take_profit == 53.65


def test_bracket_levels_when_flat_or_no_atr_then_no_levels() -> None:
    assert bracket_levels(61.9, 1.0, Direction.FLAT).stop_loss is None
    empty = bracket_levels(61.9, 0.0, Direction.LONG)
    assert empty.stop_loss is None and empty.take_profit is None
