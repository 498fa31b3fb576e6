"""Commission and slippage kernels: the numbers the backtest and paper broker both charge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tools.costs import (
    COMMISSION_NONE,
    COMMISSION_PER_SHARE,
    COMMISSION_PERCENT,
    CommissionModel,
    SlippageModel,
    commission,
    commission_kernel,
    commission_per_share,
    commission_percent,
    fill_price,
    slipped_price,
)

IBKR = CommissionModel.ibkr_us_fixed()


def test_per_share_when_above_minimum_then_rate_times_shares() -> None:
    assert commission(IBKR, 1000, 50.0) == pytest.approx(5.0)


def test_per_share_when_below_minimum_then_minimum_charged() -> None:
    assert commission(IBKR, 10, 50.0) == pytest.approx(1.0)


def test_per_share_when_cap_below_minimum_then_cap_wins() -> None:
    # 100 shares at $0.25: value $25, 1 % cap = $0.25 < $1 minimum.
    assert commission(IBKR, 100, 0.25) == pytest.approx(0.25)


def test_per_share_when_rate_exceeds_cap_then_capped_at_pct_of_value() -> None:
    # 10,000 shares at $0.30: 0.005*10000 = $50 > 1 % of $3,000 = $30.
    assert commission(IBKR, 10_000, 0.30) == pytest.approx(30.0)


def test_per_share_when_max_pct_zero_then_no_cap() -> None:
    assert commission_per_share(10_000.0, 0.30, 0.005, 1.0, 0.0) == pytest.approx(50.0)


def test_per_share_when_sell_quantity_negative_then_same_as_buy() -> None:
    assert commission(IBKR, -1000, 50.0) == commission(IBKR, 1000, 50.0)


def test_commission_when_quantity_zero_then_nothing_charged() -> None:
    assert commission(IBKR, 0, 50.0) == 0.0
    assert commission(CommissionModel.percent_with_minimum(0.001, 5.0), 0, 50.0) == 0.0


def test_percent_when_above_minimum_then_fraction_of_value() -> None:
    model = CommissionModel.percent_with_minimum(0.001, 1.25)
    assert commission(model, 200, 50.0) == pytest.approx(10.0)


def test_percent_when_below_minimum_then_minimum_charged() -> None:
    model = CommissionModel.percent_with_minimum(0.0005, 1.25)
    assert commission(model, 10, 50.0) == pytest.approx(1.25)
    assert commission_percent(-10.0, 50.0, 0.0005, 1.25) == pytest.approx(1.25)


def test_none_model_when_any_order_then_free() -> None:
    assert commission(CommissionModel(), 1000, 50.0) == 0.0


def test_kernel_dispatch_matches_specific_kernels() -> None:
    assert commission_kernel(COMMISSION_PER_SHARE, 300.0, 10.0, 0.005, 1.0, 0.01) == (
        commission_per_share(300.0, 10.0, 0.005, 1.0, 0.01)
    )
    assert commission_kernel(COMMISSION_PERCENT, 300.0, 10.0, 0.001, 1.0, 0.0) == (
        commission_percent(300.0, 10.0, 0.001, 1.0)
    )
    assert commission_kernel(COMMISSION_NONE, 300.0, 10.0, 0.001, 1.0, 0.0) == 0.0


def test_model_when_percent_rate_given_as_whole_percent_then_rejected() -> None:
    with pytest.raises(ValidationError, match="fraction"):
        CommissionModel(kind="percent", rate=0.5)


def test_model_when_negative_rate_or_unknown_key_then_rejected() -> None:
    with pytest.raises(ValidationError):
        CommissionModel(kind="per_share", rate=-0.01)
    with pytest.raises(ValidationError):
        CommissionModel.model_validate({"kind": "per_share", "rate": 0.01, "fee": 1})


def test_model_when_max_pct_on_percent_kind_then_rejected() -> None:
    with pytest.raises(ValidationError, match="max_pct"):
        CommissionModel(kind="percent", rate=0.001, max_pct=0.01)


def test_slippage_when_buy_then_pays_up_and_when_sell_then_receives_less() -> None:
    assert slipped_price(100.0, 1, 10.0) == pytest.approx(100.1)
    assert slipped_price(100.0, -1, 10.0) == pytest.approx(99.9)
    assert slipped_price(100.0, 0, 10.0) == 100.0
    assert fill_price(100.0, 1, SlippageModel(bps=25)) == pytest.approx(100.25)


def test_slippage_model_when_negative_bps_then_rejected() -> None:
    with pytest.raises(ValidationError):
        SlippageModel(bps=-1)


@given(
    qty=st.floats(-1e7, 1e7, allow_nan=False),
    price=st.floats(0.01, 1e5, allow_nan=False),
)
def test_per_share_when_any_order_then_between_zero_and_cap(qty: float, price: float) -> None:
    fee = commission(IBKR, qty, price)
    assert fee >= 0.0
    assert fee <= 0.01 * abs(qty) * price + 1e-9
    if qty != 0.0 and 0.01 * abs(qty) * price >= 1.0:
        assert fee >= 1.0 - 1e-12


@given(price=st.floats(0.01, 1e5, allow_nan=False), bps=st.floats(0.0, 1000.0))
def test_slippage_when_any_price_then_buy_never_below_sell(price: float, bps: float) -> None:
    assert slipped_price(price, 1, bps) >= price >= slipped_price(price, -1, bps)
