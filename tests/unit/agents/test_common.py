"""agents.common: the book the agents read."""

from __future__ import annotations


def test_current_portfolio_when_fills_stored_then_counted_up_to_the_as_of_date_only(
    make_ctx, store
) -> None:
    from datetime import UTC, date, datetime

    from agents.common import current_portfolio
    from core.orders import Fill, OrderSide

    def fill(fill_id: str, day: int) -> Fill:
        return Fill(
            fill_id=fill_id,
            order_id="o",
            client_ref="r",
            symbol="IBM",
            side=OrderSide.BUY,
            quantity=10,
            price=100.0,
            ts=datetime(2013, 1, day, 14, 30, tzinfo=UTC),
        )

    store.save_fill(fill("before", 23))
    store.save_fill(fill("after", 25))
    book = current_portfolio(make_ctx(as_of=date(2013, 1, 24)))
    assert book.quantity("IBM") == 10 and book.cash == 100_000.0 - 1_000.0
