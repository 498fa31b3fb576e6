"""Backtest engine: fills at the next open, costs, sizing, stops, pyramiding, shared cash."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.bars import BarSeries
from core.errors import DataValidationError
from tools.backtest import BacktestConfig, run_arrays, run_bars
from tools.costs import CommissionModel

F = np.float64


def bars(
    open_: list[float],
    high: list[float] | None = None,
    low: list[float] | None = None,
    close: list[float] | None = None,
) -> tuple[np.ndarray, ...]:
    o = np.array(open_, dtype=F)
    c = o.copy() if close is None else np.array(close, dtype=F)
    h = np.maximum(o, c) if high is None else np.array(high, dtype=F)
    lo = np.minimum(o, c) if low is None else np.array(low, dtype=F)
    return o, h, lo, c


def sig(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int8)


def test_signal_at_bar_t_when_run_then_filled_at_open_of_t_plus_1() -> None:
    o, h, lo, c = bars([10, 11, 12, 13, 14], close=[10.5, 11.5, 12.5, 13.5, 14.5])
    result = run_arrays(o, h, lo, c, sig(1, 1, 0, 0, 0), BacktestConfig(cash=1000))
    (trade,) = result.trades
    assert (trade.entry_bar, trade.entry_price) == (1, 11.0)
    assert (trade.exit_bar, trade.exit_price) == (3, 13.0)
    assert trade.size == 90  # floor(1000 / 11)
    assert trade.pnl == pytest.approx(90 * 2.0)
    assert result.equity[0] == 1000.0
    assert result.equity[1] == pytest.approx(1000 - 90 * 11 + 90 * 11.5)
    assert result.metrics.equity_final == pytest.approx(1000 + 180)


def test_last_bar_signal_when_no_next_bar_then_not_traded() -> None:
    o, h, lo, c = bars([10, 11, 12])
    result = run_arrays(o, h, lo, c, sig(0, 0, 1), BacktestConfig(cash=1000))
    assert result.trades == []
    assert result.metrics.equity_final == 1000.0


@given(cut=st.integers(3, 38), seed=st.integers(0, 1000))
def test_future_bars_when_changed_then_past_equity_unchanged(cut: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 40)))
    open_ = close * np.exp(rng.normal(0, 0.005, 40))
    high, low = np.maximum(open_, close) * 1.01, np.minimum(open_, close) * 0.99
    signal = rng.integers(-1, 2, 40).astype(np.int8)
    cfg = BacktestConfig(allow_short=True, stop_loss=0.03, trailing_stop=0.05, slippage_bps=3)
    base = run_arrays(open_, high, low, close, signal, cfg)
    changed = [a.copy() for a in (open_, high, low, close)]
    for a in changed:
        a[cut + 1 :] *= 1.7
    signal2 = signal.copy()
    signal2[cut + 1 :] = -signal2[cut + 1 :]
    other = run_arrays(*changed, signal2, cfg)
    np.testing.assert_array_equal(base.equity[: cut + 1], other.equity[: cut + 1])


def test_short_when_price_falls_then_profit_and_cash_accounting_holds() -> None:
    o, h, lo, c = bars([100, 100, 90, 80, 80])
    result = run_arrays(
        o, h, lo, c, sig(-1, -1, 0, 0, 0), BacktestConfig(cash=10_000, allow_short=True)
    )
    (trade,) = result.trades
    assert trade.side == "short" and trade.size == 100
    assert trade.pnl == pytest.approx(100 * (100 - 80))
    assert result.metrics.equity_final == pytest.approx(12_000)


def test_short_signal_when_long_only_then_stays_flat() -> None:
    o, h, lo, c = bars([100, 100, 90, 80])
    result = run_arrays(o, h, lo, c, sig(-1, -1, -1, -1), BacktestConfig(cash=10_000))
    assert result.trades == [] and result.metrics.exposure == 0.0


def test_reversal_when_signal_flips_then_exit_and_opposite_entry_same_open() -> None:
    o, h, lo, c = bars([10, 10, 12, 9, 9])
    result = run_arrays(
        o, h, lo, c, sig(1, -1, 0, 0, 0), BacktestConfig(cash=1000, allow_short=True)
    )
    long_, short = result.trades
    assert (long_.side, long_.exit_bar, short.side, short.entry_bar) == ("long", 2, "short", 2)
    assert short.size == 1200 // 12  # sized on equity after the long closed (1000 + 200)


def test_percent_commission_when_entering_then_included_in_budget() -> None:
    o, h, lo, c = bars([10, 10, 10, 10])
    cfg = BacktestConfig(cash=1000, commission=CommissionModel(kind="percent", rate=0.01))
    (trade,) = run_arrays(o, h, lo, c, sig(1, 0, 0, 0), cfg).trades
    assert trade.size == 99  # 100 shares would cost 1010 with the fee
    assert trade.fees == pytest.approx(2 * 0.01 * 990)


def test_per_share_commission_minimum_when_small_order_then_minimum_charged_each_side() -> None:
    o, h, lo, c = bars([10, 10, 10, 10])
    cfg = BacktestConfig(cash=1000, commission=CommissionModel.ibkr_us_fixed())
    (trade,) = run_arrays(o, h, lo, c, sig(1, 0, 0, 0), cfg).trades
    assert trade.size == 99  # 100 × 10 + $1 minimum would exceed the $1000 budget
    assert trade.fees == pytest.approx(2.0)
    assert trade.pnl == pytest.approx(-2.0)


def test_slippage_when_buy_and_sell_then_both_against_trader() -> None:
    o, h, lo, c = bars([100, 100, 100, 100])
    cfg = BacktestConfig(cash=10_000, slippage_bps=10, size_fraction=0.5)
    (trade,) = run_arrays(o, h, lo, c, sig(1, 0, 0, 0), cfg).trades
    assert trade.entry_price == pytest.approx(100.1)
    assert trade.exit_price == pytest.approx(99.9)
    assert trade.size == 49  # floor(5000 / 100.1)
    assert trade.pnl == pytest.approx(-49 * 0.2)


def test_size_fraction_when_half_then_half_of_equity_in_whole_shares() -> None:
    o, h, lo, c = bars([7, 7, 7])
    (trade,) = run_arrays(
        o, h, lo, c, sig(1, 1, 1), BacktestConfig(cash=1000, size_fraction=0.5)
    ).trades
    assert trade.size == 71 and trade.exit_reason == "open"


def test_stop_loss_when_low_touches_then_filled_at_stop_level() -> None:
    o, h, lo, c = bars([100, 100, 99, 99], low=[100, 99, 94, 98], high=[100, 101, 100, 100])
    cfg = BacktestConfig(cash=10_000, stop_loss=0.05)
    (trade,) = run_arrays(o, h, lo, c, sig(1, 1, 1, 1), cfg).trades
    assert (trade.exit_reason, trade.exit_bar, trade.exit_price) == ("stop_loss", 2, 95.0)


def test_stop_loss_when_bar_gaps_through_then_filled_at_open() -> None:
    o, h, lo, c = bars([100, 100, 90, 90], low=[100, 99, 88, 89], high=[100, 101, 91, 91])
    cfg = BacktestConfig(cash=10_000, stop_loss=0.05)
    (trade,) = run_arrays(o, h, lo, c, sig(1, 1, 1, 1), cfg).trades
    assert (trade.exit_reason, trade.exit_price) == ("stop_loss", 90.0)


def test_stop_and_target_when_same_bar_then_stop_assumed_first() -> None:
    o, h, lo, c = bars([100, 100, 100, 100], low=[100, 99, 90, 99], high=[100, 101, 120, 101])
    cfg = BacktestConfig(cash=10_000, stop_loss=0.05, take_profit=0.1)
    (trade,) = run_arrays(o, h, lo, c, sig(1, 1, 1, 1), cfg).trades
    assert trade.exit_reason == "stop_loss"


def test_take_profit_when_high_reaches_target_then_filled_at_target() -> None:
    o, h, lo, c = bars([100, 100, 105, 105], low=[100, 99, 104, 104], high=[100, 101, 112, 106])
    cfg = BacktestConfig(cash=10_000, take_profit=0.1)
    (trade,) = run_arrays(o, h, lo, c, sig(1, 1, 1, 1), cfg).trades
    assert (trade.exit_reason, trade.exit_price) == ("take_profit", pytest.approx(110.0))


def test_trailing_stop_when_price_rises_then_falls_then_exits_below_prior_high() -> None:
    o = [100, 100, 110, 120, 115, 115]
    h = [100, 101, 112, 125, 118, 116]
    lo = [100, 99, 109, 119, 111, 114]
    cfg = BacktestConfig(cash=10_000, trailing_stop=0.1)
    (trade,) = run_arrays(*bars(o, h, lo), sig(1, 1, 1, 1, 1, 1), cfg).trades
    # Highest high through bar 3 is 125 → trail 112.5, touched by bar 4's low 111.
    assert (trade.exit_reason, trade.exit_bar, trade.exit_price) == (
        "trailing_stop",
        4,
        pytest.approx(112.5),
    )


def test_trailing_stop_when_short_and_price_falls_then_rises_then_exits_above_prior_low() -> None:
    o = [100, 100, 90, 80, 80, 80]
    h = [100, 101, 91, 81, 84, 81]
    lo = [100, 99, 88, 75, 79, 79]
    cfg = BacktestConfig(cash=10_000, allow_short=True, trailing_stop=0.1)
    (trade,) = run_arrays(*bars(o, h, lo), sig(-1, -1, -1, -1, -1, -1), cfg).trades
    # Lowest low through bar 3 is 75 → trail 82.5, touched by bar 4's high 84.
    assert (trade.side, trade.exit_reason, trade.exit_bar) == ("short", "trailing_stop", 4)
    assert trade.exit_price == pytest.approx(82.5)
    assert trade.pnl == pytest.approx((100 - 82.5) * trade.size)


def test_take_profit_when_short_and_low_reaches_target_then_filled_at_target() -> None:
    o, h, lo = [100, 100, 95, 95], [100, 101, 96, 96], [100, 99, 88, 94]
    cfg = BacktestConfig(cash=10_000, allow_short=True, take_profit=0.1)
    (trade,) = run_arrays(*bars(o, h, lo), sig(-1, -1, -1, -1), cfg).trades
    assert (trade.exit_reason, trade.exit_bar) == ("take_profit", 2)
    assert trade.exit_price == pytest.approx(90.0)


def test_after_stop_when_signal_unchanged_then_no_reentry_until_signal_changes() -> None:
    o = [100, 100, 94, 94, 94, 94, 94]
    lo = [100, 99, 93, 93, 93, 93, 93]
    cfg = BacktestConfig(cash=10_000, stop_loss=0.05)
    result = run_arrays(*bars(o, None, lo), sig(1, 1, 1, 0, 1, 1, 1), cfg)
    first, second = result.trades
    assert first.exit_reason == "stop_loss" and first.exit_bar == 2
    assert second.entry_bar == 5  # signal went 0 at bar 3, back to 1 at bar 4 → open of 5


def test_pyramiding_when_price_climbs_atr_steps_then_tranches_added_and_breakeven_stop() -> None:
    o = [100, 100, 102, 104, 106, 98]
    h = [100, 101, 103, 105, 107, 99]
    lo = [100, 99, 101, 103, 105, 97]
    atr = np.full(6, 2.0)
    cfg = BacktestConfig(
        cash=10_000,
        size_fraction=0.5,
        pyramid_levels=2,
        pyramid_atr_k=1.0,
        pyramid_fraction=0.25,
        stop_loss=0.2,
    )
    result = run_arrays(*bars(o, h, lo), sig(1, 1, 1, 1, 1, 1), cfg, atr=atr)
    (trade,) = result.trades
    assert trade.tranches == 3  # entry at 100, adds at 102 and 104
    assert trade.size == 50 + 24 + 24
    avg = (50 * 100 + 24 * 102 + 24 * 104) / 98
    assert trade.entry_price == pytest.approx(avg)
    # Break-even stop after the adds: bar 5 opens at 98 < avg → filled at the open.
    assert (trade.exit_reason, trade.exit_bar, trade.exit_price) == ("stop_loss", 5, 98.0)


def test_pyramiding_when_short_and_price_falls_atr_steps_then_mirror_image() -> None:
    o = [100, 100, 98, 96, 94, 102]
    h = [100, 101, 99, 97, 95, 103]
    lo = [100, 99, 97, 95, 93, 101]
    cfg = BacktestConfig(
        cash=10_000,
        size_fraction=0.5,
        allow_short=True,
        pyramid_levels=2,
        pyramid_atr_k=1.0,
        pyramid_fraction=0.25,
        stop_loss=0.2,
    )
    result = run_arrays(*bars(o, h, lo), sig(-1, -1, -1, -1, -1, -1), cfg, atr=np.full(6, 2.0))
    (trade,) = result.trades
    # Adds at 98 and 96 (first fill - i·ATR), each 25 % of the equity at that bar's open:
    # 0.25 × 10,100 / 98 → 25 shares, 0.25 × 10,250 / 96 → 26 shares.
    assert (trade.side, trade.tranches, trade.size) == ("short", 3, 50 + 25 + 26)
    avg = (50 * 100 + 25 * 98 + 26 * 96) / 101
    assert trade.entry_price == pytest.approx(avg)
    # Break-even stop (avg ≈ 98.48) instead of the 20 % stop at 120: the gap to 102 exits.
    assert (trade.exit_reason, trade.exit_bar, trade.exit_price) == ("stop_loss", 5, 102.0)
    assert trade.pnl == pytest.approx((avg - 102.0) * 101)


def test_pyramiding_config_when_it_needs_leverage_then_rejected() -> None:
    with pytest.raises(ValidationError, match="leverage"):
        BacktestConfig(size_fraction=0.8, pyramid_levels=2, pyramid_fraction=0.2)


def test_shared_cash_when_two_symbols_enter_then_second_limited_by_remaining_cash() -> None:
    o = np.array([[10, 10, 10], [20, 20, 20]], dtype=F)
    s = np.array([[1, 1, 1], [1, 1, 1]], dtype=np.int8)
    result = run_arrays(
        o, o, o, o, s, BacktestConfig(cash=1000, size_fraction=0.6), symbols=["A", "B"]
    )
    a, b = result.trades
    assert (a.symbol, a.size) == ("A", 60)
    assert (b.symbol, b.size) == ("B", 20)  # 600 budget but only 400 cash left
    assert result.metrics.equity_final == pytest.approx(1000.0)


def test_run_bars_when_timestamps_differ_then_data_validation_error() -> None:
    def series(sym: str, start: str) -> BarSeries:
        ts = np.arange(np.datetime64(start), np.datetime64(start) + np.timedelta64(3, "D"))
        one = np.ones(3)
        return BarSeries(
            symbol=sym, timestamps=ts, open=one, high=one, low=one, close=one, volume=one
        )

    with pytest.raises(DataValidationError) as err:
        run_bars(
            [series("A", "2024-01-01"), series("B", "2024-01-02")],
            np.zeros((2, 3)),
            BacktestConfig(),
        )
    assert "B" in err.value.problems[0]


def test_run_arrays_when_signal_has_bad_value_or_shape_then_rejected() -> None:
    o, h, lo, c = bars([1, 2, 3])
    with pytest.raises(DataValidationError):
        run_arrays(o, h, lo, c, np.array([0, 2, 0]), BacktestConfig())
    with pytest.raises(DataValidationError):
        run_arrays(o, h, lo, c, np.array([0, 1]), BacktestConfig())


@pytest.mark.parametrize(
    ("column", "bad", "named"),
    [
        (0, np.nan, "open[symbol 1, bar 2] = nan"),
        (2, 0.0, "low[symbol 1, bar 2] = 0.0"),
        (3, -5.0, "close[symbol 1, bar 2] = -5.0"),
        (1, np.inf, "high[symbol 1, bar 2] = inf"),
    ],
)
def test_run_arrays_when_price_not_finite_positive_then_error_names_column_symbol_bar(
    column: int, bad: float, named: str
) -> None:
    prices = [np.vstack([a, a]) for a in bars([10, 11, 12, 13], close=[10, 11, 12, 13])]
    prices[column][1, 2] = bad
    with pytest.raises(DataValidationError, match="finite and > 0") as err:
        run_arrays(*prices, np.ones((2, 4), dtype=np.int8), BacktestConfig())
    assert err.value.problems == [f"{named}: not a price > 0"]


def test_run_arrays_when_price_arrays_differ_in_shape_then_rejected_before_the_kernel() -> None:
    o, h, lo, c = bars([10, 11, 12, 13])
    with pytest.raises(DataValidationError, match="differ in shape") as err:
        run_arrays(o[:3], h, lo, c, sig(1, 1, 1, 1), BacktestConfig())
    assert "open: (1, 3)" in err.value.problems


def test_run_arrays_when_atr_shape_differs_then_rejected_not_read_out_of_bounds() -> None:
    o, h, lo, c = bars([10, 11, 12, 13, 14, 15])
    cfg = BacktestConfig(size_fraction=0.5, pyramid_levels=2, pyramid_fraction=0.2)
    with pytest.raises(DataValidationError, match="atr shape") as err:
        run_arrays(o, h, lo, c, sig(1, 1, 1, 1, 0, 0), cfg, atr=np.ones(3))
    assert err.value.problems == ["atr: (1, 3), prices: (1, 6)"]


def test_short_when_price_explodes_then_ruined_and_liquidated() -> None:
    o, h, lo, c = bars([100, 100, 150, 260, 300], close=[100, 100, 150, 260, 300])
    result = run_arrays(
        o, h, lo, c, sig(-1, -1, -1, -1, -1), BacktestConfig(cash=1000, allow_short=True)
    )
    assert result.ruined
    assert result.trades[-1].exit_reason == "ruin"
    assert result.equity[-1] == result.equity[3] <= 0.0


def test_metrics_when_known_equity_then_match_independent_formulas() -> None:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0005, 0.015, 300)))
    o = np.concatenate(([close[0]], close[:-1]))
    result = run_arrays(
        o,
        np.maximum(o, close),
        np.minimum(o, close),
        close,
        np.ones(300, np.int8),
        BacktestConfig(cash=1e6),
    )
    eq = result.equity
    r = eq[1:] / eq[:-1] - 1
    assert result.metrics.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252), rel=1e-9)
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert result.metrics.sortino == pytest.approx(r.mean() / downside * np.sqrt(252), rel=1e-9)
    assert result.metrics.max_drawdown == pytest.approx(np.max(1 - eq / np.maximum.accumulate(eq)))
    assert result.metrics.total_return == pytest.approx(eq[-1] / 1e6 - 1)
    assert result.metrics.cagr == pytest.approx((eq[-1] / 1e6) ** (252 / 299) - 1)
    assert result.metrics.exposure == pytest.approx(299 / 300)
