from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.orders import Fill, OrderSide
from core.portfolio import Portfolio, apply_fill

fills = st.lists(
    st.tuples(
        st.sampled_from(["AAPL", "MSFT", "IBM"]),
        st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
        st.integers(min_value=1, max_value=5_000),
        st.floats(min_value=0.5, max_value=5_000, allow_nan=False, allow_infinity=False),
        st.floats(min_value=0.0, max_value=20.0, allow_nan=False),
    ),
    max_size=40,
)


def _fill(i: int, sym: str, side: OrderSide, qty: int, px: float, fee: float = 0.0) -> Fill:
    return Fill(
        fill_id=f"f{i}",
        order_id=f"o{i}",
        client_ref=f"r{i}",
        symbol=sym,
        side=side,
        quantity=qty,
        price=px,
        commission=fee,
    )


@given(fills)
def test_apply_fill_conserves_cash_plus_market_value_minus_commissions(seq: list) -> None:
    p = Portfolio.open(1_000_000.0)
    for i, (sym, side, qty, px, fee) in enumerate(seq):
        # value every position at this fill's price before and after: a trade at the
        # market price only moves value between cash and the position, less its fee
        marks = {s: px for s in p.positions}
        before = p.mark(marks).equity
        p = apply_fill(p, _fill(i, sym, side, qty, px, fee))
        after = p.mark({s: px for s in p.positions}).equity
        assert after == pytest.approx(before - fee, rel=1e-9, abs=1e-6)
    total_fees = sum(f[4] for f in seq)
    assert p.commissions == pytest.approx(total_fees)


@given(fills)
def test_positions_equal_signed_sum_of_fills(seq: list) -> None:
    p = Portfolio.open(1_000_000.0)
    for i, (sym, side, qty, px, fee) in enumerate(seq):
        p = apply_fill(p, _fill(i, sym, side, qty, px, fee))
    for sym in ("AAPL", "MSFT", "IBM"):
        want = sum(q * s.sign for (sy, s, q, _, _) in seq if sy == sym)
        assert p.quantity(sym) == want


@given(fills)
def test_realized_plus_unrealized_equals_equity_change(seq: list) -> None:
    p = Portfolio.open(1_000_000.0)
    for i, (sym, side, qty, px, fee) in enumerate(seq):
        p = apply_fill(p, _fill(i, sym, side, qty, px, fee))
    pnl = sum(pos.realized_pnl + pos.unrealized_pnl for pos in p.positions.values())
    assert p.equity - 1_000_000.0 == pytest.approx(pnl - p.commissions, rel=1e-9, abs=1e-5)


def test_apply_fill_when_same_fill_id_twice_then_applied_once() -> None:
    p = Portfolio.open(10_000.0)
    f = _fill(1, "AAPL", OrderSide.BUY, 10, 100.0, 1.0)
    once = apply_fill(p, f)
    assert apply_fill(once, f) == once
    assert once.cash == pytest.approx(10_000 - 1_000 - 1)


def test_round_trip_long_then_short_flip_realizes_pnl_and_reopens_at_fill_price() -> None:
    p = Portfolio.open(10_000.0)
    p = apply_fill(p, _fill(1, "AAPL", OrderSide.BUY, 10, 100.0))
    p = apply_fill(p, _fill(2, "AAPL", OrderSide.SELL, 15, 110.0))
    pos = p.positions["AAPL"]
    assert pos.quantity == -5
    assert pos.realized_pnl == pytest.approx(100.0)
    assert pos.avg_price == pytest.approx(110.0)


def test_drawdown_and_peak_follow_marks() -> None:
    p = apply_fill(Portfolio.open(10_000.0), _fill(1, "AAPL", OrderSide.BUY, 100, 100.0))
    p = p.mark({"AAPL": 120.0})
    assert p.peak_equity == pytest.approx(12_000.0)
    p = p.mark({"AAPL": 90.0})
    assert p.peak_equity == pytest.approx(12_000.0)
    assert p.drawdown == pytest.approx((12_000 - 9_000) / 12_000)
    assert p.start_day().daily_pnl == 0.0


SYMBOLS = ("AAPL", "MSFT", "IBM")
marks = st.fixed_dictionaries(
    {s: st.floats(min_value=1.0, max_value=1_000.0, allow_nan=False) for s in SYMBOLS}
)


@given(fills, st.lists(marks, min_size=1, max_size=40))
def test_cash_plus_market_value_at_fixed_marks_changes_only_by_price_gap_and_fee(
    seq: list, mark_seq: list[dict[str, float]]
) -> None:
    # Each symbol valued at its own mark: a fill at price px moves value between cash and
    # the position; equity at unchanged marks moves only by what the trade gave away
    # against the mark (qty * (mark - px) for a buy) and by the commission.
    p = Portfolio.open(1_000_000.0)
    for i, (sym, side, qty, px, fee) in enumerate(seq):
        m = mark_seq[i % len(mark_seq)]
        before = p.mark(m).equity
        p = apply_fill(p, _fill(i, sym, side, qty, px, fee))
        after = p.mark(m).equity
        gap = side.sign * qty * (m[sym] - px)
        assert after == pytest.approx(before + gap - fee, rel=1e-9, abs=1e-6)


@given(fills, st.lists(marks, max_size=10))
def test_peak_never_falls_and_drawdown_stays_between_0_and_1(
    seq: list, mark_seq: list[dict[str, float]]
) -> None:
    p = Portfolio.open(1_000_000.0)
    peak = p.peak_equity
    for i, (sym, side, qty, px, fee) in enumerate(seq):
        p = apply_fill(p, _fill(i, sym, side, qty, px, fee))
        for m in mark_seq:
            p = p.mark(m)
            assert p.peak_equity >= peak
            peak = p.peak_equity
            if p.equity > 0:
                assert 0.0 <= p.drawdown <= 1.0
