from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IllegalTransitionError, OrderError
from core.orders import (
    CANCELLABLE,
    MODIFIABLE,
    OPEN,
    TERMINAL,
    TRANSITIONS,
    Fill,
    Order,
    OrderChange,
    OrderEvent,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    make_client_ref,
    next_status,
    order_change,
)

EXPECTED = {
    (OrderStatus.NEW, OrderEvent.SUBMIT): OrderStatus.SUBMITTED,
    (OrderStatus.NEW, OrderEvent.DENY): OrderStatus.DENIED,
    (OrderStatus.NEW, OrderEvent.REJECT): OrderStatus.REJECTED,
    (OrderStatus.NEW, OrderEvent.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.SUBMITTED, OrderEvent.PARTIAL_FILL): OrderStatus.PARTIALLY_FILLED,
    (OrderStatus.SUBMITTED, OrderEvent.FILL): OrderStatus.FILLED,
    (OrderStatus.SUBMITTED, OrderEvent.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.SUBMITTED, OrderEvent.REJECT): OrderStatus.REJECTED,
    (OrderStatus.PARTIALLY_FILLED, OrderEvent.PARTIAL_FILL): OrderStatus.PARTIALLY_FILLED,
    (OrderStatus.PARTIALLY_FILLED, OrderEvent.FILL): OrderStatus.FILLED,
    (OrderStatus.PARTIALLY_FILLED, OrderEvent.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.SUBMITTED, OrderEvent.MODIFY): OrderStatus.SUBMITTED,
    (OrderStatus.PARTIALLY_FILLED, OrderEvent.MODIFY): OrderStatus.PARTIALLY_FILLED,
}
ALL_PAIRS = list(itertools.product(OrderStatus, OrderEvent))


def _intent(**kw: object) -> OrderIntent:
    base: dict[str, object] = {"symbol": "AAPL", "side": OrderSide.BUY, "quantity": 10}
    base.update(kw)
    return OrderIntent(**base)  # type: ignore[arg-type]


def _order(status: OrderStatus = OrderStatus.NEW, qty: int = 10) -> Order:
    return Order(order_id="o1", client_ref="r1", intent=_intent(quantity=qty), status=status)


def test_transition_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("status", "event"), list(EXPECTED))
def test_transition_when_pair_legal_then_reaches_expected_status(
    status: OrderStatus, event: OrderEvent
) -> None:
    assert next_status(status, event) is EXPECTED[(status, event)]
    assert _order(status).transition(event).status is EXPECTED[(status, event)]


@pytest.mark.parametrize(("status", "event"), [p for p in ALL_PAIRS if p not in EXPECTED])
def test_transition_when_pair_illegal_then_raises(status: OrderStatus, event: OrderEvent) -> None:
    with pytest.raises(IllegalTransitionError):
        next_status(status, event)
    with pytest.raises(IllegalTransitionError):
        _order(status).transition(event)


def test_terminal_states_accept_no_event() -> None:
    for status in TERMINAL:
        assert not any((status, e) in TRANSITIONS for e in OrderEvent)
    assert OPEN <= CANCELLABLE
    assert not (TERMINAL & CANCELLABLE)


def test_modify_only_while_working() -> None:
    assert MODIFIABLE == OPEN
    assert {s for (s, e) in EXPECTED if e is OrderEvent.MODIFY} == set(MODIFIABLE)


def _stop(status: OrderStatus = OrderStatus.SUBMITTED, filled: int = 0) -> Order:
    intent = _intent(side=OrderSide.SELL, order_type=OrderType.STOP, stop_price=95.0)
    return Order(
        order_id="o1", client_ref="r1", intent=intent, status=status, filled_quantity=filled
    )


def test_modified_when_stop_price_changes_then_same_order_new_price_same_status() -> None:
    order = _stop(OrderStatus.PARTIALLY_FILLED, filled=4)
    moved = order.modified(OrderChange(stop_price=97.5, quantity=12))
    assert (moved.order_id, moved.client_ref, moved.status) == (
        "o1",
        "r1",
        OrderStatus.PARTIALLY_FILLED,
    )
    assert (moved.intent.stop_price, moved.intent.quantity, moved.remaining) == (97.5, 12, 8)
    assert moved.intent.side is OrderSide.SELL and moved.filled_quantity == 4


def test_modified_when_nothing_differs_then_the_same_order() -> None:
    order = _stop()
    assert order.modified(OrderChange(stop_price=95.0, quantity=10)) is order


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (OrderChange(limit_price=99.0), "has no limit price"),
        (OrderChange(quantity=4), "must exceed"),
    ],
)
def test_modified_when_change_does_not_fit_the_order_then_order_error(
    change: OrderChange, message: str
) -> None:
    with pytest.raises(OrderError, match=message):
        _stop(OrderStatus.PARTIALLY_FILLED, filled=4).modified(change)


def test_modified_when_limit_order_gets_a_stop_price_then_order_error() -> None:
    order = _order(OrderStatus.SUBMITTED).model_copy(
        update={"intent": _intent(order_type=OrderType.LIMIT, limit_price=90.0)}
    )
    with pytest.raises(OrderError, match="has no stop price"):
        order.modified(OrderChange(stop_price=80.0))
    assert order.modified(OrderChange(limit_price=91.0)).intent.limit_price == 91.0


@pytest.mark.parametrize("status", [s for s in OrderStatus if s not in MODIFIABLE])
def test_modified_when_order_not_working_then_illegal_transition(status: OrderStatus) -> None:
    with pytest.raises(IllegalTransitionError):
        _stop(status).modified(OrderChange(stop_price=96.0))


def test_order_change_when_empty_then_refused() -> None:
    with pytest.raises(OrderError, match="needs a quantity"):
        OrderChange()


def test_order_change_from_keywords_or_model_but_not_both() -> None:
    assert order_change(stop_price=96.0) == OrderChange(stop_price=96.0)
    change = OrderChange(quantity=3)
    assert order_change(change) is change
    with pytest.raises(OrderError, match="not both"):
        order_change(change, stop_price=96.0)
    with pytest.raises(OrderError, match="needs a quantity"):
        order_change()


def test_with_fill_when_partial_then_partially_filled_with_average_price() -> None:
    order = _order(OrderStatus.SUBMITTED, qty=10)
    f1 = Fill(
        fill_id="e1",
        order_id="o1",
        client_ref="r1",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=4,
        price=100.0,
    )
    f2 = Fill(
        fill_id="e2",
        order_id="o1",
        client_ref="r1",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=6,
        price=110.0,
    )
    o1 = order.with_fill(f1)
    assert o1.status is OrderStatus.PARTIALLY_FILLED and o1.remaining == 6
    o2 = o1.with_fill(f2)
    assert o2.status is OrderStatus.FILLED
    assert o2.avg_fill_price == pytest.approx(106.0)
    assert order.status is OrderStatus.SUBMITTED  # immutable: the original is unchanged


def test_with_fill_when_overfilled_or_foreign_then_raises() -> None:
    order = _order(OrderStatus.SUBMITTED, qty=5)
    too_big = Fill(
        fill_id="e1",
        order_id="o1",
        client_ref="r1",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=6,
        price=1.0,
    )
    foreign = too_big.model_copy(update={"order_id": "other", "quantity": 1})
    with pytest.raises(OrderError):
        order.with_fill(too_big)
    with pytest.raises(OrderError):
        order.with_fill(foreign)


def test_client_ref_when_same_intent_same_cycle_then_identical() -> None:
    a, b = _intent(), _intent()
    assert make_client_ref("c1", a) == make_client_ref("c1", b)
    assert make_client_ref("c1", a) != make_client_ref("c2", a)
    assert make_client_ref("c1", a) != make_client_ref("c1", _intent(quantity=11))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"order_type": OrderType.LIMIT},
        {"order_type": OrderType.STOP},
        {"order_type": OrderType.MARKET, "limit_price": 10.0},
        {"take_profit": 90.0, "stop_loss": 95.0},  # BUY bracket upside down
        {"quantity": 0},
        {"quantity": -3},
    ],
)
def test_intent_when_inconsistent_then_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises((OrderError, ValueError)):
        _intent(**kwargs)


def test_order_is_immutable() -> None:
    with pytest.raises(ValueError):
        _order().status = OrderStatus.FILLED  # type: ignore[misc]


@given(st.lists(st.sampled_from(list(OrderEvent)), max_size=12))
def test_any_event_sequence_follows_the_table_or_raises_and_changes_nothing(
    events: list[OrderEvent],
) -> None:
    order = _order()
    for event in events:
        before = order
        if (order.status, event) in EXPECTED:
            order = order.transition(event)
            assert order.status is EXPECTED[(before.status, event)]
        else:
            with pytest.raises(IllegalTransitionError):
                order.transition(event)
            assert order == before
        if before.status in TERMINAL:
            assert order.status is before.status  # nothing leaves a terminal state
