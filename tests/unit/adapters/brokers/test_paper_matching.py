"""Fill rules of the paper broker: price per order type on bars and quotes, volume caps,
per-order commission minimum."""

from __future__ import annotations

import pytest

from adapters.brokers.paper.matching import (
    Bar,
    Quote,
    bar_fill_price,
    incremental_commission,
    quote_fill_price,
    volume_cap,
)
from core.orders import Order, OrderEvent, OrderIntent, OrderSide, OrderType
from tools.costs import CommissionModel, SlippageModel

NO_SLIP = SlippageModel(bps=0.0)
TEN_BPS = SlippageModel(bps=10.0)


def _order(side: OrderSide, kind: OrderType = OrderType.MARKET, **prices: float) -> Order:
    intent = OrderIntent(symbol="AAPL", side=side, quantity=100, order_type=kind, **prices)
    return Order(order_id="o1", client_ref="r1", intent=intent).transition(OrderEvent.SUBMIT)


def _bar(o: float, h: float, low: float, c: float, v: float = 1_000.0) -> Bar:
    return Bar(open=o, high=h, low=low, close=c, volume=v)


def test_market_buy_when_bar_then_fills_at_open_plus_slippage() -> None:
    price = bar_fill_price(_order(OrderSide.BUY), _bar(100, 105, 95, 101), TEN_BPS)
    assert price == pytest.approx(100.10)


def test_market_sell_when_bar_then_fills_at_open_minus_slippage() -> None:
    price = bar_fill_price(_order(OrderSide.SELL), _bar(100, 105, 95, 101), TEN_BPS)
    assert price == pytest.approx(99.90)


@pytest.mark.parametrize(
    ("side", "limit", "bar", "expected"),
    [
        (OrderSide.BUY, 98.0, _bar(100, 101, 97, 99), 98.0),  # low reaches the limit
        (OrderSide.BUY, 98.0, _bar(97, 99, 96, 98), 97.0),  # opened below: better price
        (OrderSide.BUY, 98.0, _bar(100, 101, 98.5, 99), None),  # never reached
        (OrderSide.SELL, 102.0, _bar(100, 103, 99, 101), 102.0),
        (OrderSide.SELL, 102.0, _bar(104, 105, 103, 104), 104.0),
        (OrderSide.SELL, 102.0, _bar(100, 101.5, 99, 101), None),
    ],
)
def test_limit_on_bar_fills_at_limit_or_better_and_never_with_slippage(
    side: OrderSide, limit: float, bar: Bar, expected: float | None
) -> None:
    order = _order(side, OrderType.LIMIT, limit_price=limit)
    assert bar_fill_price(order, bar, TEN_BPS) == expected


@pytest.mark.parametrize(
    ("side", "stop", "bar", "trigger"),
    [
        (OrderSide.BUY, 102.0, _bar(100, 103, 99, 101), 102.0),  # high touches the stop
        (OrderSide.BUY, 102.0, _bar(104, 105, 103, 104), 104.0),  # gapped through: open
        (OrderSide.BUY, 102.0, _bar(100, 101.9, 99, 101), None),
        (OrderSide.SELL, 95.0, _bar(100, 101, 94, 96), 95.0),
        (OrderSide.SELL, 95.0, _bar(93, 94, 92, 93), 93.0),
        (OrderSide.SELL, 95.0, _bar(100, 101, 95.1, 96), None),
    ],
)
def test_stop_on_bar_triggers_when_touched_and_fills_with_slippage(
    side: OrderSide, stop: float, bar: Bar, trigger: float | None
) -> None:
    order = _order(side, OrderType.STOP, stop_price=stop)
    price = bar_fill_price(order, bar, TEN_BPS)
    if trigger is None:
        assert price is None
    else:
        assert price == pytest.approx(trigger * (1 + side.sign * 10e-4))


def test_stop_when_partly_filled_then_trades_as_market_at_open() -> None:
    order = _order(OrderSide.SELL, OrderType.STOP, stop_price=90.0)
    order = order.transition(OrderEvent.PARTIAL_FILL, filled_quantity=10, avg_fill_price=90.0)
    assert bar_fill_price(order, _bar(100, 101, 99, 100), NO_SLIP) == 100.0


def test_quote_market_orders_take_the_touch() -> None:
    quote = Quote(bid=99.0, ask=101.0)
    assert quote_fill_price(_order(OrderSide.BUY), quote, NO_SLIP) == 101.0
    assert quote_fill_price(_order(OrderSide.SELL), quote, NO_SLIP) == 99.0
    assert quote.mid == 100.0


def test_quote_limit_fills_only_when_touch_crosses() -> None:
    quote = Quote(bid=99.0, ask=101.0)
    assert (
        quote_fill_price(_order(OrderSide.BUY, OrderType.LIMIT, limit_price=101.5), quote, NO_SLIP)
        == 101.0
    )
    assert (
        quote_fill_price(_order(OrderSide.BUY, OrderType.LIMIT, limit_price=100.0), quote, NO_SLIP)
        is None
    )
    assert (
        quote_fill_price(_order(OrderSide.SELL, OrderType.LIMIT, limit_price=98.0), quote, NO_SLIP)
        == 99.0
    )
    assert (
        quote_fill_price(_order(OrderSide.SELL, OrderType.LIMIT, limit_price=99.5), quote, NO_SLIP)
        is None
    )


def test_quote_stop_triggers_on_touch() -> None:
    quote = Quote(bid=99.0, ask=101.0)
    buy_stop = _order(OrderSide.BUY, OrderType.STOP, stop_price=101.0)
    sell_stop = _order(OrderSide.SELL, OrderType.STOP, stop_price=98.0)
    assert quote_fill_price(buy_stop, quote, NO_SLIP) == 101.0
    assert quote_fill_price(sell_stop, quote, NO_SLIP) is None


@pytest.mark.parametrize(
    ("volume", "share", "cap"), [(1000, 0.1, 100), (999, 0.1, 99), (0, 0.5, 0), (7, 1.0, 7)]
)
def test_volume_cap_floors_the_share_of_volume(volume: float, share: float, cap: int) -> None:
    assert volume_cap(volume, share) == cap


def test_incremental_commission_charges_the_minimum_once_per_order() -> None:
    us = CommissionModel.ibkr_us_fixed()  # 0.005/share, min 1, max 1 %
    first = incremental_commission(us, 0, 0.0, 50, 100.0)  # 0.25 -> minimum 1.00
    second = incremental_commission(us, 50, 5_000.0, 250, 100.0)  # total 300 sh -> 1.50
    assert first == pytest.approx(1.0)
    assert second == pytest.approx(0.5)
    assert first + second == pytest.approx(300 * 0.005)


def test_incremental_commission_percent_with_minimum_for_euro_orders() -> None:
    eur = CommissionModel.percent_with_minimum(0.0005, 1.25)
    assert incremental_commission(eur, 0, 0.0, 10, 50.0) == pytest.approx(1.25)
    assert incremental_commission(eur, 0, 0.0, 1000, 50.0) == pytest.approx(25.0)
