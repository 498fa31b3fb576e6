"""Pre-trade check: every rule trips and just passes, precedence, sequential batches, and
properties checked against ``core.portfolio.apply_fill`` (an independent simulation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.orders import Fill, OrderIntent, OrderSide, OrderType
from core.portfolio import Portfolio, Position, apply_fill
from core.risk import DenialCode, RiskLimits, TradingState, Verdict
from tools.pretrade import (
    STATE_ACTIVE,
    STATE_HALTED,
    STATE_REDUCING,
    TRADING_STATE_CODES,
    check_orders,
    pretrade_check,
)

PRICES = {"AAPL": 100.0, "MSFT": 200.0, "IBM": 50.0, "GOOG": 400.0, "AMZN": 100.0}
LIMITS = RiskLimits()  # 5 % drawdown, 30 % position, 2 % daily loss, 1.0 gross, 10 open
ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


def make_portfolio(
    cash: float = 100_000.0,
    positions: dict[str, int] | None = None,
    peak: float | None = None,
    day_start: float | None = None,
) -> Portfolio:
    pos = {
        s: Position(symbol=s, quantity=q, avg_price=PRICES[s], last_price=PRICES[s])
        for s, q in (positions or {}).items()
    }
    pf = Portfolio(cash=cash, positions=pos)
    return pf.model_copy(
        update={
            "peak_equity": pf.equity if peak is None else peak,
            "day_start_equity": pf.equity if day_start is None else day_start,
        }
    )


def buy(symbol: str, qty: int, price: float | None = None) -> OrderIntent:
    if price is None:
        return OrderIntent(symbol=symbol, side=OrderSide.BUY, quantity=qty)
    return OrderIntent(
        symbol=symbol, side=OrderSide.BUY, quantity=qty, order_type=OrderType.LIMIT,
        limit_price=price,
    )  # fmt: skip


def sell(symbol: str, qty: int, price: float | None = None) -> OrderIntent:
    if price is None:
        return OrderIntent(symbol=symbol, side=OrderSide.SELL, quantity=qty)
    return OrderIntent(
        symbol=symbol, side=OrderSide.SELL, quantity=qty, order_type=OrderType.LIMIT,
        limit_price=price,
    )  # fmt: skip


def codes(
    pf: Portfolio,
    intents: list[OrderIntent],
    state: TradingState = ACTIVE,
    limits: RiskLimits = LIMITS,
) -> list[DenialCode | None]:
    outcome = check_orders(pf, intents, PRICES, limits, state)
    return [None if d is None else d.code for d in outcome.denials]


D = DenialCode


# --- each rule: one order that trips it, one that just passes --------------------------


def test_halted_when_any_order_then_trading_halted_even_a_reduction() -> None:
    pf = make_portfolio(positions={"AAPL": 100})
    outcome = check_orders(pf, [buy("MSFT", 1), sell("AAPL", 100)], PRICES, LIMITS, HALTED)
    assert [d.code if d else None for d in outcome.denials] == [D.TRADING_HALTED] * 2
    assert outcome.state is HALTED
    assert codes(pf, [buy("MSFT", 1), sell("AAPL", 100)], ACTIVE) == [None, None]


def test_drawdown_when_at_limit_then_all_denied_and_state_halted() -> None:
    pf = make_portfolio(cash=95_000, peak=100_000)  # exactly 5 % below the peak
    outcome = check_orders(pf, [buy("AAPL", 1), buy("MSFT", 1)], PRICES, LIMITS, ACTIVE)
    assert [d.code if d else None for d in outcome.denials] == [D.MAX_DRAWDOWN_BREACHED] * 2
    assert outcome.state is HALTED
    denial = outcome.denials[0]
    assert denial is not None
    assert denial.context["drawdown"] == pytest.approx(0.05)
    assert denial.context["limit"] == 0.05


def test_drawdown_when_just_under_limit_then_approved_and_state_unchanged() -> None:
    pf = make_portfolio(cash=95_001, peak=100_000)
    outcome = check_orders(pf, [buy("AAPL", 1)], PRICES, LIMITS, REDUCING)
    assert codes(pf, [buy("AAPL", 1)]) == [None]
    assert outcome.state is REDUCING


def test_drawdown_when_batch_empty_then_state_still_halted() -> None:
    pf = make_portfolio(cash=90_000, peak=100_000)
    assert check_orders(pf, [], PRICES, LIMITS, ACTIVE).state is HALTED
    assert check_orders(make_portfolio(), [], PRICES, LIMITS, ACTIVE).state is ACTIVE


def test_drawdown_when_position_loss_then_counted_through_marking() -> None:
    pf = make_portfolio(cash=50_000, positions={"AAPL": 500})  # equity 100k at 100
    lower = dict(PRICES, AAPL=90.0)  # 5k loss = 5 % of the 100k peak
    outcome = check_orders(pf, [buy("MSFT", 1)], lower, LIMITS, ACTIVE)
    assert outcome.denials[0] is not None
    assert outcome.denials[0].code is D.MAX_DRAWDOWN_BREACHED
    assert outcome.state is HALTED


def test_daily_loss_when_at_limit_then_entries_denied_but_reductions_pass() -> None:
    pf = make_portfolio(cash=88_000, positions={"AAPL": 100}, day_start=100_000, peak=100_000)
    assert codes(pf, [buy("MSFT", 1), sell("AAPL", 50)]) == [D.DAILY_LOSS_LIMIT, None]


def test_daily_loss_when_just_under_limit_then_entries_pass() -> None:
    pf = make_portfolio(cash=88_001, positions={"AAPL": 100}, day_start=100_000, peak=100_000)
    assert codes(pf, [buy("MSFT", 1)]) == [None]


def test_reducing_when_order_grows_exposure_then_reducing_only() -> None:
    pf = make_portfolio(positions={"AAPL": 100, "MSFT": -50})
    intents = [buy("IBM", 1), buy("AAPL", 1), sell("MSFT", 1), sell("AAPL", 150)]
    assert codes(pf, intents, REDUCING) == [D.REDUCING_ONLY] * 4  # new, add, add short, flip


def test_reducing_when_order_shrinks_or_closes_then_approved() -> None:
    pf = make_portfolio(positions={"AAPL": 100, "MSFT": -50})
    intents = [sell("AAPL", 40), buy("MSFT", 50), sell("AAPL", 60)]
    assert codes(pf, intents, REDUCING) == [None, None, None]


def test_fat_finger_when_price_outside_band_then_denied_both_sides() -> None:
    pf = make_portfolio()
    intents = [buy("AAPL", 1, 105.01), sell("AAPL", 1, 94.99), buy("AAPL", 1, 104.99)]
    assert codes(pf, intents) == [D.FAT_FINGER_PRICE, D.FAT_FINGER_PRICE, None]
    denial = check_orders(pf, intents[:1], PRICES, LIMITS, ACTIVE).denials[0]
    assert denial is not None
    assert denial.context["last"] == 100.0
    assert denial.context["deviation"] == pytest.approx(0.0501)


def test_fat_finger_when_no_last_price_then_unknown_symbol() -> None:
    assert codes(make_portfolio(), [buy("NOPE", 1, 10.0)]) == [D.UNKNOWN_SYMBOL]


def test_notional_when_above_cap_then_denied_and_at_cap_passes() -> None:
    pf = make_portfolio(cash=1_000_000)
    assert codes(pf, [buy("AAPL", 2501), buy("AAPL", 2500)]) == [D.NOTIONAL_CAP_EXCEEDED, None]


def test_notional_when_reduction_too_large_then_still_denied() -> None:
    pf = make_portfolio(cash=0, positions={"AAPL": 3000}, peak=300_000, day_start=300_000)
    assert codes(pf, [sell("AAPL", 3000)]) == [D.NOTIONAL_CAP_EXCEEDED]
    assert codes(pf, [sell("AAPL", 2500), sell("AAPL", 500)]) == [None, None]


def test_position_cap_when_weight_above_limit_then_denied() -> None:
    pf = make_portfolio()
    assert codes(pf, [buy("AAPL", 301)]) == [D.POSITION_CAP_EXCEEDED]
    assert codes(pf, [buy("AAPL", 299)]) == [None]
    assert codes(pf, [sell("AAPL", 301)]) == [D.POSITION_CAP_EXCEEDED]  # shorts too


def test_position_cap_when_adding_to_existing_then_resulting_weight_counts() -> None:
    pf = make_portfolio(cash=75_000, positions={"AAPL": 250})
    assert codes(pf, [buy("AAPL", 51)]) == [D.POSITION_CAP_EXCEEDED]
    assert codes(pf, [buy("AAPL", 49)]) == [None]


def test_position_cap_when_adding_above_last_then_held_shares_revalued_as_apply_fill_does() -> None:
    # 250 held at 100, equity 100k. Buying at 104 re-marks the 250 held shares: equity
    # 101k, cap 30.3k. 290 x 104 = 30,160 passes; 292 x 104 = 30,368 does not.
    pf = make_portfolio(cash=75_000, positions={"AAPL": 250})
    assert codes(pf, [buy("AAPL", 40, 104.0)]) == [None]
    assert codes(pf, [buy("AAPL", 42, 104.0)]) == [D.POSITION_CAP_EXCEEDED]


def test_position_cap_when_sell_flips_long_to_large_short_then_denied() -> None:
    pf = make_portfolio(cash=90_000, positions={"AAPL": 100})
    assert codes(pf, [sell("AAPL", 450)]) == [D.POSITION_CAP_EXCEEDED]  # -350 x 100 = 35 %
    assert codes(pf, [sell("AAPL", 350)]) == [None]  # -250: a flip within the cap


def test_position_cap_when_two_orders_together_break_it_then_second_denied() -> None:
    pf = make_portfolio()
    assert codes(pf, [buy("AAPL", 200), buy("AAPL", 200), buy("AAPL", 99)]) == [
        None,
        D.POSITION_CAP_EXCEEDED,
        None,
    ]


def test_position_cap_when_already_oversized_then_reduction_allowed() -> None:
    pf = make_portfolio(cash=60_000, positions={"AAPL": 400})  # 40 % of equity
    assert codes(pf, [sell("AAPL", 50)]) == [None]
    assert codes(pf, [buy("AAPL", 1)]) == [D.POSITION_CAP_EXCEEDED]


def test_position_cap_context_when_denied_then_names_weight_and_limit() -> None:
    denial = check_orders(make_portfolio(), [buy("AAPL", 400)], PRICES, LIMITS, ACTIVE).denials[0]
    assert denial is not None
    assert (
        str(denial)
        == "POSITION_CAP_EXCEEDED: symbol=AAPL side=BUY quantity=400 weight=0.4 limit=0.3"
    )


def test_max_open_when_limit_reached_then_new_position_denied_but_adds_pass() -> None:
    limits = RiskLimits(max_open_positions=2)
    pf = make_portfolio(cash=80_000, positions={"AAPL": 100, "MSFT": 50})
    assert codes(pf, [buy("IBM", 1), buy("AAPL", 1)], limits=limits) == [
        D.MAX_OPEN_POSITIONS,
        None,
    ]


def test_max_open_when_one_closes_in_batch_then_next_open_passes() -> None:
    limits = RiskLimits(max_open_positions=2)
    pf = make_portfolio(cash=80_000, positions={"AAPL": 100, "MSFT": 50})
    assert codes(pf, [sell("AAPL", 100), buy("IBM", 1), buy("GOOG", 1)], limits=limits) == [
        None,
        None,
        D.MAX_OPEN_POSITIONS,
    ]


def test_gross_when_exposure_above_limit_then_denied() -> None:
    pf = make_portfolio(cash=13_000, positions={"AAPL": 290, "MSFT": 145, "IBM": 580})
    # equity 100k, gross 87k; +14k -> 101k > 1.0x, +13k -> 100k passes
    assert codes(pf, [buy("GOOG", 35)]) == [D.GROSS_EXPOSURE_EXCEEDED]
    assert codes(pf, [buy("GOOG", 32)]) == [None]


def test_gross_when_shorts_then_count_as_exposure() -> None:
    pf = make_portfolio(cash=160_000, positions={"AAPL": -290, "MSFT": -145})  # gross 58k
    limits = RiskLimits(max_gross_exposure=0.8)
    assert codes(pf, [sell("IBM", 500)], limits=limits) == [D.GROSS_EXPOSURE_EXCEEDED]
    assert codes(pf, [sell("IBM", 400)], limits=limits) == [None]


# --- precedence: the first rule in Verdict order wins ---------------------------------


@pytest.mark.parametrize(
    ("pf", "intent", "state", "expected"),
    [
        (make_portfolio(cash=80_000, peak=100_000), buy("AAPL", 1, 200.0), HALTED,
         D.TRADING_HALTED),
        (make_portfolio(cash=90_000, peak=100_000, day_start=100_000), buy("AAPL", 1), ACTIVE,
         D.MAX_DRAWDOWN_BREACHED),
        (make_portfolio(cash=97_000, peak=100_000, day_start=100_000), buy("AAPL", 1), REDUCING,
         D.DAILY_LOSS_LIMIT),
        (make_portfolio(), buy("AAPL", 1, 200.0), REDUCING, D.REDUCING_ONLY),
        (make_portfolio(), buy("AAPL", 5000, 200.0), ACTIVE, D.FAT_FINGER_PRICE),
        (make_portfolio(), buy("AAPL", 5000), ACTIVE, D.NOTIONAL_CAP_EXCEEDED),
        (make_portfolio(cash=50_000, positions={"MSFT": 100, "GOOG": 50}), buy("AAPL", 600),
         ACTIVE, D.POSITION_CAP_EXCEEDED),
    ],
)  # fmt: skip
def test_precedence_when_several_rules_broken_then_first_in_verdict_order(
    pf: Portfolio, intent: OrderIntent, state: TradingState, expected: DenialCode
) -> None:
    assert codes(pf, [intent], state) == [expected]


def test_precedence_when_open_and_gross_both_broken_then_max_open() -> None:
    limits = RiskLimits(max_open_positions=2)
    pf = make_portfolio(cash=10_000, positions={"MSFT": 150, "GOOG": 75})  # gross 60k of 70k
    assert codes(pf, [buy("AAPL", 200)], limits=limits) == [D.MAX_OPEN_POSITIONS]
    assert codes(pf, [buy("AAPL", 200)]) == [D.GROSS_EXPOSURE_EXCEEDED]


def test_denied_order_when_followed_by_others_then_changes_nothing() -> None:
    pf = make_portfolio()
    assert codes(pf, [buy("AAPL", 1000), buy("AAPL", 299)]) == [D.POSITION_CAP_EXCEEDED, None]


# --- the kernel directly: inputs the typed wrapper cannot produce ---------------------


def run_kernel(
    symbols: list[int], quantities: list[int], prices: list[float], state: int = STATE_ACTIVE
) -> list[int]:
    verdicts, _measures, _state = pretrade_check(
        100_000.0, 100_000.0, 100_000.0,
        np.array([0, 10], dtype=np.int64), np.array([100.0, 50.0]), 1, 500.0,
        np.array(symbols, dtype=np.int64), np.array(quantities, dtype=np.int64),
        np.array(prices, dtype=np.float64), state,
        0.05, 0.02, 0.30, 1.0, 10, 0.05, 250_000.0,
    )  # fmt: skip
    return [int(v) for v in verdicts]


def test_kernel_when_zero_quantity_then_invalid_quantity_even_when_reducing() -> None:
    assert run_kernel([0, 0], [0, 1], [100.0, 100.0]) == [Verdict.INVALID_QUANTITY, Verdict.OK]
    assert run_kernel([1], [0], [50.0], STATE_REDUCING) == [Verdict.INVALID_QUANTITY]


@pytest.mark.parametrize("price", [math.nan, math.inf, 0.0, -100.0])
def test_kernel_when_price_not_a_positive_number_then_fat_finger(price: float) -> None:
    assert run_kernel([0], [1], [price]) == [Verdict.FAT_FINGER_PRICE]


def test_kernel_when_symbol_id_out_of_range_then_fat_finger_not_crash() -> None:
    assert run_kernel([2, -1], [1, 1], [100.0, 100.0]) == [Verdict.FAT_FINGER_PRICE] * 2


@pytest.mark.parametrize("short", ["last_prices", "quantities", "prices"])
def test_kernel_when_array_lengths_differ_then_value_error_not_out_of_bounds(short: str) -> None:
    last = np.array([100.0] if short == "last_prices" else [100.0, 50.0])
    quantities = np.array([1] if short == "quantities" else [1, 1], dtype=np.int64)
    prices = np.array([100.0] if short == "prices" else [100.0, 50.0])
    with pytest.raises(ValueError, match="differ in length"):
        pretrade_check(
            100_000.0, 100_000.0, 100_000.0, np.array([0, 10], dtype=np.int64), last, 1, 500.0,
            np.array([0, 1], dtype=np.int64), quantities, prices, STATE_ACTIVE,
            0.05, 0.02, 0.30, 1.0, 10, 0.05, 250_000.0,
        )  # fmt: skip


def test_kernel_when_unknown_state_code_then_treated_as_halted() -> None:
    assert run_kernel([0], [1], [100.0], state=7) == [Verdict.TRADING_HALTED]


def test_kernel_when_state_codes_then_match_mapping() -> None:
    assert TRADING_STATE_CODES == {ACTIVE: STATE_ACTIVE, REDUCING: STATE_REDUCING, HALTED: 2}
    assert STATE_HALTED == 2


# --- properties --------------------------------------------------------------------------

SYMBOLS = ["AAPL", "MSFT", "IBM", "GOOG", "AMZN"]


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[Portfolio, list[OrderIntent], dict[str, float], RiskLimits, TradingState]:
    prices = {s: draw(st.floats(5.0, 500.0)) for s in SYMBOLS}
    held = {s: draw(st.integers(-300, 300)) for s in SYMBOLS[:4]}
    positions = {
        s: Position(symbol=s, quantity=q, avg_price=prices[s], last_price=prices[s])
        for s, q in held.items()
        if q != 0
    }
    pf = Portfolio(cash=draw(st.floats(20_000.0, 500_000.0)), positions=positions)
    if pf.equity <= 0:
        pf = pf.model_copy(update={"cash": pf.cash - pf.equity + 10_000.0})
    pf = pf.model_copy(
        update={
            "peak_equity": pf.equity * draw(st.floats(1.0, 1.055)),
            "day_start_equity": pf.equity * draw(st.floats(0.98, 1.025)),
        }
    )
    limits = RiskLimits(
        max_position_weight=draw(st.floats(0.05, 0.30)),
        max_gross_exposure=draw(st.floats(0.3, 2.0)),
        max_open_positions=draw(st.integers(1, 6)),
        fat_finger_band=draw(st.floats(0.01, 0.10)),
        max_order_notional=draw(st.floats(1_000.0, 500_000.0)),
    )
    intents = []
    for _ in range(draw(st.integers(0, 25))):
        symbol = draw(st.sampled_from(SYMBOLS))
        side = draw(st.sampled_from(list(OrderSide)))
        qty = draw(st.integers(1, 600))
        if draw(st.booleans()):
            intents.append(OrderIntent(symbol=symbol, side=side, quantity=qty))
        else:
            price = prices[symbol] * (1 + draw(st.floats(-0.12, 0.12)))
            intents.append(
                OrderIntent(
                    symbol=symbol,
                    side=side,
                    quantity=qty,
                    order_type=OrderType.LIMIT,
                    limit_price=price,
                )
            )
    state = draw(st.sampled_from([ACTIVE, ACTIVE, ACTIVE, ACTIVE, REDUCING, HALTED]))
    return pf, intents, prices, limits, state


@given(scenarios())
def test_property_when_approved_then_portfolio_within_every_limit(
    scenario: tuple[Portfolio, list[OrderIntent], dict[str, float], RiskLimits, TradingState],
) -> None:
    pf, intents, prices, limits, state = scenario
    outcome = check_orders(pf, intents, prices, limits, state)
    assert len(outcome.denials) == len(intents)
    current = pf.mark({s: p for s, p in prices.items() if s in pf.positions})
    for k, (intent, denial) in enumerate(zip(intents, outcome.denials, strict=True)):
        if denial is not None:
            continue
        assert state is not HALTED
        price = intent.limit_price or prices[intent.symbol]
        old = current.quantity(intent.symbol)
        current = apply_fill(
            current,
            Fill(fill_id=f"f{k}", order_id=f"o{k}", client_ref=f"c{k}", symbol=intent.symbol,
                 side=intent.side, quantity=intent.quantity, price=price),
        )  # fmt: skip
        new = current.quantity(intent.symbol)
        assert abs(price / prices[intent.symbol] - 1) <= limits.fat_finger_band + 1e-12
        assert intent.quantity * price <= limits.max_order_notional * (1 + 1e-12)
        grows = abs(new) > abs(old) or old * new < 0
        if state is REDUCING:
            assert not grows
        if not grows:
            continue
        equity = current.equity
        weight = abs(current.positions[intent.symbol].market_value) / equity
        assert weight <= limits.max_position_weight * (1 + 1e-9)
        assert current.gross_exposure / equity <= limits.max_gross_exposure * (1 + 1e-9)
        if old == 0:
            assert len(current.open_positions) <= limits.max_open_positions


@given(scenarios())
def test_property_when_denied_orders_removed_then_the_rest_all_approved(
    scenario: tuple[Portfolio, list[OrderIntent], dict[str, float], RiskLimits, TradingState],
) -> None:
    pf, intents, prices, limits, state = scenario
    outcome = check_orders(pf, intents, prices, limits, state)
    approved = [i for i, d in zip(intents, outcome.denials, strict=True) if d is None]
    again = check_orders(pf, approved, prices, limits, state)
    assert again.denials == [None] * len(approved)
    # A prefix of a batch gets the same verdicts as in the whole batch.
    half = len(intents) // 2
    prefix = check_orders(pf, intents[:half], prices, limits, state)
    assert prefix.denials == outcome.denials[:half]


@given(scenarios())
def test_property_when_halted_or_drawdown_breached_then_nothing_passes(
    scenario: tuple[Portfolio, list[OrderIntent], dict[str, float], RiskLimits, TradingState],
) -> None:
    pf, intents, prices, limits, state = scenario
    outcome = check_orders(pf, intents, prices, limits, state)
    marked = pf.mark({s: p for s, p in prices.items() if s in pf.positions})
    if state is HALTED:
        assert all(d is not None and d.code is D.TRADING_HALTED for d in outcome.denials)
        assert outcome.state is HALTED
    elif marked.drawdown >= limits.max_drawdown:
        assert all(d is not None and d.code is D.MAX_DRAWDOWN_BREACHED for d in outcome.denials)
        assert outcome.state is HALTED
    else:
        assert outcome.state is state


@given(scenarios())
def test_property_when_reducing_then_reductions_allowed(
    scenario: tuple[Portfolio, list[OrderIntent], dict[str, float], RiskLimits, TradingState],
) -> None:
    pf, _intents, prices, limits, _state = scenario
    marked = pf.mark({s: p for s, p in prices.items() if s in pf.positions})
    if marked.drawdown >= limits.max_drawdown or not marked.open_positions:
        return
    # Close half of every open position at the last price, each under the notional cap.
    intents = []
    for symbol, position in marked.open_positions.items():
        qty = abs(position.quantity) // 2
        if qty == 0 or qty * prices[symbol] > limits.max_order_notional:
            continue
        side = OrderSide.SELL if position.quantity > 0 else OrderSide.BUY
        intents.append(OrderIntent(symbol=symbol, side=side, quantity=qty))
    outcome = check_orders(pf, intents, prices, limits, REDUCING)
    assert outcome.denials == [None] * len(intents)
