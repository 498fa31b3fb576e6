"""Many concurrent asyncio tasks placing, filling and cancelling never lose an update."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
from adapters.storage.sqlite import SqliteStore
from core.orders import OrderIntent, OrderSide
from tools.costs import SlippageModel


async def test_1000_concurrent_orders_then_cash_and_positions_match_fills(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.db")
    broker = PaperBroker(
        store,
        PaperBrokerConfig(starting_cash=10_000_000, slippage=SlippageModel(bps=3.0)),
    )
    await broker.connect()
    rng = random.Random(7)
    symbols = ["AAPL", "MSFT", "IBM", "GOOG"]
    intents = [
        OrderIntent(
            symbol=rng.choice(symbols),
            side=rng.choice([OrderSide.BUY, OrderSide.SELL]),
            quantity=rng.randint(1, 50),
        )
        for _ in range(1_000)
    ]

    async def feed_bars() -> None:
        for step in range(20):
            for symbol in symbols:
                price = 100.0 + step
                await broker.on_bar(symbol, price, price + 1, price - 1, price, 400)
            await asyncio.sleep(0)

    # Each order is placed twice concurrently (same client_ref): exactly one may exist.
    placing = [broker.place(intent, f"r{i % 1_000}") for i, intent in enumerate(intents * 2)]
    rng.shuffle(placing)
    await asyncio.gather(feed_bars(), *placing)
    while await broker.open_orders():
        for symbol in symbols:
            await broker.on_bar(symbol, 120.0, 121.0, 119.0, 120.0, 100_000)

    orders = store.orders()
    fills = await broker.executions()
    assert len(orders) == 1_000
    assert {o.client_ref for o in orders} == {f"r{i}" for i in range(1_000)}
    assert all(o.filled_quantity == o.intent.quantity for o in orders)
    assert len({f.fill_id for f in fills}) == len(fills)

    expected_cash = 10_000_000 - sum(
        f.side.sign * f.quantity * f.price + f.commission for f in fills
    )
    account = await broker.account()
    assert account.cash == pytest.approx(expected_cash, rel=1e-12)
    for position in await broker.positions():
        assert position.quantity == sum(
            f.side.sign * f.quantity for f in fills if f.symbol == position.symbol
        )
    net = {s: sum(f.side.sign * f.quantity for f in fills if f.symbol == s) for s in symbols}
    assert {p.symbol: p.quantity for p in await broker.positions()} == {
        s: q for s, q in net.items() if q != 0
    }

    restarted = PaperBroker(store, broker.config)
    await restarted.connect()
    assert await restarted.account() == account
