"""Sizing and pyramiding: hand-computed cases, degenerate inputs, hypothesis invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.signals import Direction
from tools.sizing import (
    PyramidPlan,
    atr_position_size,
    atr_position_sizes,
    build_pyramid_plan,
    fixed_fractional_size,
    pyramid_plan,
)

# --- ATR volatility-targeted sizing ---------------------------------------------------


def test_atr_size_when_risk_budget_binds_then_budget_over_atr_distance() -> None:
    # 1 % of 100k = 1,000 at risk over 2 ATR of 2.0 = 4.0 per share -> 250 shares.
    assert atr_position_size(100_000.0, 100_000.0, 50.0, 2.0, 0.01, 2.0, 0.30) == 250


def test_atr_size_when_weight_cap_binds_then_capped_at_max_weight() -> None:
    # 250 shares at 200 = 50k > 30 % of 100k -> 150 shares (30k).
    assert atr_position_size(100_000.0, 100_000.0, 200.0, 2.0, 0.01, 2.0, 0.30) == 150


def test_atr_size_when_cash_binds_then_capped_at_cash() -> None:
    assert atr_position_size(100_000.0, 5_000.0, 50.0, 2.0, 0.01, 2.0, 0.30) == 100


def test_atr_size_when_atr_vanishingly_small_then_cap_not_overflow() -> None:
    assert atr_position_size(100_000.0, 100_000.0, 50.0, 1e-300, 0.01, 2.0, 0.30) == 600


@pytest.mark.parametrize(
    ("equity", "cash", "price", "atr", "fraction", "multiple"),
    [
        (0.0, 1e5, 50.0, 2.0, 0.01, 2.0),
        (-1e5, 1e5, 50.0, 2.0, 0.01, 2.0),
        (1e5, 0.0, 50.0, 2.0, 0.01, 2.0),
        (1e5, -5.0, 50.0, 2.0, 0.01, 2.0),
        (1e5, 1e5, 0.0, 2.0, 0.01, 2.0),
        (1e5, 1e5, 50.0, 0.0, 0.01, 2.0),
        (1e5, 1e5, 50.0, -2.0, 0.01, 2.0),
        (1e5, 1e5, 50.0, math.nan, 0.01, 2.0),
        (1e5, 1e5, math.inf, 2.0, 0.01, 2.0),
        (math.nan, 1e5, 50.0, 2.0, 0.01, 2.0),
        (1e5, 1e5, 50.0, 2.0, 0.0, 2.0),
        (1e5, 1e5, 50.0, 2.0, math.nan, 2.0),
        (1e5, 1e5, 50.0, 2.0, 0.01, 0.0),
    ],
)
def test_atr_size_when_degenerate_input_then_zero_shares(
    equity: float, cash: float, price: float, atr: float, fraction: float, multiple: float
) -> None:
    assert atr_position_size(equity, cash, price, atr, fraction, multiple, 0.30) == 0


def test_atr_sizes_when_array_then_each_equals_scalar() -> None:
    prices = np.array([50.0, 200.0, 10.0, 0.0])
    atrs = np.array([2.0, 2.0, 0.1, 1.0])
    sizes = atr_position_sizes(100_000.0, 40_000.0, prices, atrs, 0.01, 2.0, 0.30)
    expected = [
        atr_position_size(100_000.0, 40_000.0, p, a, 0.01, 2.0, 0.30)
        for p, a in zip(prices, atrs, strict=True)
    ]
    assert sizes.tolist() == expected == [250, 150, 3000, 0]


# --- fixed fractional -----------------------------------------------------------------


def test_fixed_fractional_when_long_stop_then_risk_over_distance() -> None:
    assert fixed_fractional_size(100_000.0, 100_000.0, 50.0, 48.0, 0.01, 0.30) == 500


def test_fixed_fractional_when_short_stop_above_then_same_distance() -> None:
    assert fixed_fractional_size(100_000.0, 100_000.0, 50.0, 52.0, 0.01, 0.30) == 500


def test_fixed_fractional_when_tight_stop_then_weight_cap_binds() -> None:
    assert fixed_fractional_size(100_000.0, 100_000.0, 50.0, 49.9, 0.01, 0.30) == 600


@pytest.mark.parametrize("stop", [50.0, math.nan])
def test_fixed_fractional_when_no_stop_distance_then_zero(stop: float) -> None:
    assert fixed_fractional_size(100_000.0, 100_000.0, 50.0, stop, 0.01, 0.30) == 0


def test_fixed_fractional_when_product_rounds_below_integer_then_not_short_a_share() -> None:
    # 30 * 0.03 / 0.1 = 8.999999999999998 in floating point; the intent is 9 shares.
    assert 30 * 0.03 / (0.2 - 0.1) < 9
    assert fixed_fractional_size(30.0, 1e6, 0.2, 0.1, 0.03, 1.0) == 9


# --- pyramiding plan --------------------------------------------------------------------


def test_pyramid_when_long_then_triggers_sizes_and_breakeven_stops() -> None:
    triggers, sizes, stops = pyramid_plan(100.0, 2.0, 1, 100, 1.0, 4, 0.5, 2.0, 10_000)
    assert triggers.tolist() == [100.0, 102.0, 104.0, 106.0]
    assert sizes.tolist() == [100, 50, 25, 12]
    assert stops[0] == 96.0  # initial ATR stop: entry - 2 ATR
    avg2 = (100 * 100 + 50 * 102) / 150
    avg3 = (100 * 100 + 50 * 102 + 25 * 104) / 175
    avg4 = (100 * 100 + 50 * 102 + 25 * 104 + 12 * 106) / 187
    np.testing.assert_allclose(stops[1:], [avg2, avg3, avg4], rtol=1e-15)


def test_pyramid_when_short_then_mirror_image() -> None:
    triggers, sizes, stops = pyramid_plan(100.0, 2.0, -1, 100, 1.5, 3, 0.5, 2.0, 10_000)
    assert triggers.tolist() == [100.0, 97.0, 94.0]
    assert sizes.tolist() == [100, 50, 25]
    assert stops[0] == 104.0
    assert stops[1] == pytest.approx((100 * 100 + 50 * 97) / 150)
    assert stops[2] < stops[1]


def test_pyramid_when_max_total_reached_then_last_tranche_truncated_and_plan_ends() -> None:
    _t, sizes, _s = pyramid_plan(100.0, 2.0, 1, 100, 1.0, 5, 0.8, 2.0, 200)
    assert sizes.tolist() == [100, 80, 20]


def test_pyramid_when_decay_rounds_to_zero_then_plan_ends() -> None:
    _t, sizes, _s = pyramid_plan(100.0, 2.0, 1, 3, 1.0, 6, 0.5, 2.0, 1000)
    assert sizes.tolist() == [3, 1]


def test_pyramid_when_decay_product_rounds_below_integer_then_whole_share_kept() -> None:
    _t, sizes, _s = pyramid_plan(100.0, 2.0, 1, 100, 1.0, 3, 0.3, 2.0, 1000)
    assert sizes.tolist() == [100, 30, 9]  # 100 * 0.3 ** 2 = 8.999999999999998


def test_pyramid_when_short_trigger_would_be_negative_then_levels_cut() -> None:
    triggers, _sz, _st = pyramid_plan(10.0, 4.0, -1, 100, 1.0, 5, 1.0, 1.0, 1000)
    assert triggers.tolist() == [10.0, 6.0, 2.0]


def test_pyramid_when_long_stop_below_zero_then_floored_at_zero() -> None:
    _t, _sz, stops = pyramid_plan(5.0, 3.0, 1, 10, 1.0, 1, 0.5, 2.0, 1000)
    assert stops.tolist() == [0.0]


def test_pyramid_when_single_level_then_initial_stop_only() -> None:
    triggers, sizes, stops = pyramid_plan(100.0, 2.0, 1, 100, 1.0, 1, 0.5, 3.0, 1000)
    assert (triggers.tolist(), sizes.tolist(), stops.tolist()) == ([100.0], [100], [94.0])


@pytest.mark.parametrize(
    "args",
    [
        (0.0, 2.0, 1, 100, 1.0, 4, 0.5, 2.0, 1000),
        (100.0, 0.0, 1, 100, 1.0, 4, 0.5, 2.0, 1000),
        (100.0, 2.0, 0, 100, 1.0, 4, 0.5, 2.0, 1000),
        (100.0, 2.0, 2, 100, 1.0, 4, 0.5, 2.0, 1000),
        (100.0, 2.0, 1, 0, 1.0, 4, 0.5, 2.0, 1000),
        (100.0, 2.0, 1, 100, 0.0, 4, 0.5, 2.0, 1000),
        (100.0, 2.0, 1, 100, 1.0, 0, 0.5, 2.0, 1000),
        (100.0, 2.0, 1, 100, 1.0, 4, 0.0, 2.0, 1000),
        (100.0, 2.0, 1, 100, 1.0, 4, 1.5, 2.0, 1000),
        (100.0, 2.0, 1, 100, 1.0, 4, 0.5, 0.0, 1000),
        (100.0, 2.0, 1, 100, 1.0, 4, 0.5, 2.0, 0),
        (math.nan, 2.0, 1, 100, 1.0, 4, 0.5, 2.0, 1000),
    ],
)
def test_pyramid_when_invalid_input_then_empty_plan(args: tuple[float, ...]) -> None:
    triggers, sizes, stops = pyramid_plan(*args)
    assert len(triggers) == len(sizes) == len(stops) == 0


def test_build_plan_when_long_then_typed_tranches_consistent_with_kernel() -> None:
    plan = build_pyramid_plan(100.0, 2.0, Direction.LONG, 100, max_total_qty=160)
    assert isinstance(plan, PyramidPlan)
    assert plan.initial_stop == 96.0
    assert [t.quantity for t in plan.tranches] == [100, 50, 10]
    assert [t.cumulative_quantity for t in plan.tranches] == [100, 150, 160]
    assert plan.total_quantity == 160
    assert plan.tranches[1].stop_price == pytest.approx(plan.tranches[1].average_entry)
    assert plan.tranches[0].stop_price == plan.initial_stop
    assert PyramidPlan.model_validate_json(plan.model_dump_json()) == plan


def test_build_plan_when_default_cap_then_base_times_levels() -> None:
    plan = build_pyramid_plan(50.0, 1.0, Direction.SHORT, 10, size_decay=1.0, max_levels=3)
    assert plan.total_quantity == 30
    assert plan.initial_stop == 52.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"direction": Direction.FLAT},
        {"entry": -1.0},
        {"atr": 0.0},
        {"base_qty": 0},
        {"k_atr": math.inf},
        {"max_levels": 0},
        {"size_decay": 1.2},
        {"stop_atr_multiple": 0.0},
        {"max_total_qty": -1},
    ],
)
def test_build_plan_when_invalid_parameter_then_value_error(kwargs: dict[str, object]) -> None:
    params: dict[str, object] = {
        "entry": 100.0, "atr": 2.0, "direction": Direction.LONG, "base_qty": 100,
    }  # fmt: skip
    params.update(kwargs)
    with pytest.raises(ValueError, match="pyramid"):
        build_pyramid_plan(**params)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------

money = st.floats(1_000.0, 1e8)
prices = st.floats(0.5, 5_000.0)
fractions = st.floats(0.0005, 0.05)
weights = st.floats(0.01, 1.0)


@given(money, money, prices, st.floats(0.01, 500.0), fractions, st.floats(0.5, 5.0), weights)
def test_atr_size_when_any_inputs_then_largest_whole_size_within_every_cap(
    equity: float,
    cash: float,
    price: float,
    atr: float,
    fraction: float,
    multiple: float,
    weight: float,
) -> None:
    n = atr_position_size(equity, cash, price, atr, fraction, multiple, weight)
    assert isinstance(n, int)
    assert n >= 0
    budget = min(weight * equity, cash)
    raw = equity * fraction / (atr * multiple)
    assert n * price <= budget
    assert n <= raw * (1 + 1e-9)
    # Maximal: one more share breaks the risk budget or a cap.
    assert (n + 1) > raw * (1 - 1e-9) or (n + 1) * price > budget


@given(money, prices, st.floats(0.01, 500.0), fractions, weights, st.floats(1.0, 3.0))
def test_atr_size_when_equity_grows_or_atr_shrinks_then_not_smaller(
    equity: float, price: float, atr: float, fraction: float, weight: float, factor: float
) -> None:
    base = atr_position_size(equity, 1e12, price, atr, fraction, 2.0, weight)
    assert atr_position_size(equity * factor, 1e12, price, atr, fraction, 2.0, weight) >= base
    assert atr_position_size(equity, 1e12, price, atr / factor, fraction, 2.0, weight) >= base


@given(money, money, prices, st.floats(-0.5, 0.5), fractions, weights)
def test_fixed_fractional_when_stopped_out_then_loss_within_risk_budget(
    equity: float, cash: float, entry: float, offset: float, fraction: float, weight: float
) -> None:
    stop = entry * (1 + offset)
    n = fixed_fractional_size(equity, cash, entry, stop, fraction, weight)
    assert n >= 0
    assert n * abs(entry - stop) <= equity * fraction * (1 + 1e-9)
    assert n * entry <= min(weight * equity, cash)


@given(
    prices,
    st.floats(0.01, 100.0),
    st.sampled_from([1, -1]),
    st.integers(1, 10_000),
    st.floats(0.1, 3.0),
    st.integers(1, 8),
    st.floats(0.05, 1.0),
    st.floats(0.5, 5.0),
    st.integers(1, 50_000),
)
def test_pyramid_when_any_inputs_then_plan_invariants_hold(
    entry: float,
    atr: float,
    direction: int,
    base_qty: int,
    k_atr: float,
    max_levels: int,
    decay: float,
    stop_mult: float,
    max_total: int,
) -> None:
    args = (entry, atr, direction, base_qty, k_atr, max_levels, decay, stop_mult, max_total)
    triggers, sizes, stops = pyramid_plan(*args)
    again = pyramid_plan(*args)
    for a, b in zip((triggers, sizes, stops), again, strict=True):
        np.testing.assert_array_equal(a, b)  # deterministic
    assert len(triggers) <= max_levels
    assert len(triggers) >= 1  # the first tranche always fits: base and cap >= 1
    assert (sizes > 0).all()
    assert sizes.sum() <= max_total
    assert (np.diff(sizes) <= 0).all()  # decay <= 1: never a bigger tranche later
    assert (triggers > 0).all()
    assert triggers[0] == entry
    assert (direction * np.diff(triggers) > 0).all()  # each tranche further in profit
    assert (direction * np.diff(stops) >= 0).all()  # stops only tighten
    assert (direction * (triggers - stops) > 0).all()  # a stop is on the loss side
    assert stops[0] == max(entry - direction * stop_mult * atr, 0.0)
    for k in range(1, len(sizes)):
        average = float(np.dot(sizes[: k + 1], triggers[: k + 1]) / sizes[: k + 1].sum())
        assert stops[k] == pytest.approx(average, rel=1e-12)  # break-even from tranche 2
        loss_if_stopped = direction * np.dot(sizes[: k + 1], stops[k] - triggers[: k + 1])
        assert loss_if_stopped >= -1e-9 * entry * sizes[: k + 1].sum()
