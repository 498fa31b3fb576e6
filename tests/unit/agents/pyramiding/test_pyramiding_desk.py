from __future__ import annotations

from datetime import date

import pytest

from adapters.marketdata.files import FileMarketData
from adapters.storage.sqlite import SqliteStore
from agents.common import memory_get, memory_put
from agents.pyramiding import pyramiding, stop_manager
from core.orders import Fill, OrderSide
from core.portfolio import Portfolio, apply_fill
from tests.unit.agents.conftest import DAY, MakeContext
from tools.indicators import atr


def hold(store: SqliteStore, symbol: str, qty: int, price: float) -> None:
    fill = Fill(
        fill_id=f"f-{symbol}",
        order_id="o",
        client_ref="r",
        symbol=symbol,
        side=OrderSide.BUY,
        quantity=qty,
        price=price,
    )
    store.save_snapshot(apply_fill(Portfolio.open(100_000.0), fill), "book")


@pytest.fixture
def goog(market: FileMarketData) -> tuple[float, float]:
    bars = market.bars("GOOG", start=date(2011, 7, 24), end=DAY)
    return float(bars.close[-1]), float(atr(bars.high, bars.low, bars.close, 14)[-1])


def test_pyramiding_when_close_reaches_next_tranche_then_add_figures(
    make_ctx: MakeContext, store: SqliteStore, goog: tuple[float, float]
) -> None:
    close, atr14 = goog
    hold(store, "GOOG", 40, close - 1.5 * atr14)
    [env] = pyramiding.run(make_ctx(), [])
    f = env.payload.figures
    assert env.payload.tool == "pyramid_add" and f["level"] == 1 and f["tranche_quantity"] == 20
    assert f["trigger_price"] == pytest.approx(close - 0.5 * atr14)
    assert f["stop_after_fill"] >= close - 1.5 * atr14  # break-even after the second tranche


def test_pyramiding_when_close_below_trigger_then_nothing_but_stop_kept(
    make_ctx: MakeContext, store: SqliteStore, goog: tuple[float, float]
) -> None:
    close, atr14 = goog
    hold(store, "GOOG", 40, close)
    ctx = make_ctx()
    assert pyramiding.run(ctx, []) == []
    assert memory_get(ctx, "pyramiding", "GOOG:stop")["stop_price"] == pytest.approx(
        close - 2 * atr14
    )


def test_pyramiding_when_no_position_then_nothing(make_ctx: MakeContext) -> None:
    assert pyramiding.run(make_ctx(), []) == []


def test_stop_manager_when_close_above_stop_then_figures_without_exit(
    make_ctx: MakeContext, store: SqliteStore, goog: tuple[float, float]
) -> None:
    close, atr14 = goog
    hold(store, "GOOG", 40, close)
    [env] = stop_manager.run(make_ctx(), [])
    f = env.payload.figures
    assert f["exit"] == 0.0 and f["stop_price"] == pytest.approx(close - 3 * atr14)
    assert f["take_profit"] == pytest.approx(close + 6 * atr14)


def test_stop_manager_when_close_falls_through_trailing_stop_then_exit(
    make_ctx: MakeContext, store: SqliteStore, goog: tuple[float, float]
) -> None:
    close, atr14 = goog
    hold(store, "GOOG", 40, close)
    ctx = make_ctx()
    memory_put(ctx, "stop_manager", "GOOG", {"high_water": close + 4 * atr14, "sign": 1.0})
    [env] = stop_manager.run(ctx, [])
    assert env.payload.figures["exit"] == 1.0 and env.payload.figures["stopped"] == 1.0


def test_stop_manager_when_profit_target_reached_then_exit(
    make_ctx: MakeContext, store: SqliteStore, goog: tuple[float, float]
) -> None:
    close, atr14 = goog
    hold(store, "GOOG", 40, close - 7 * atr14)
    [env] = stop_manager.run(make_ctx(), [])
    assert env.payload.figures["took_profit"] == 1.0 and env.payload.figures["exit"] == 1.0


def test_stop_manager_when_position_closed_then_its_memory_is_cleared(
    make_ctx: MakeContext, store: SqliteStore, goog: tuple[float, float]
) -> None:
    hold(store, "GOOG", 40, goog[0])
    ctx = make_ctx()
    stop_manager.run(ctx, [])
    assert memory_get(ctx, "stop_manager", "GOOG")
    store.save_snapshot(Portfolio.open(100_000.0), "book")
    assert stop_manager.run(ctx, []) == []
    assert memory_get(ctx, "stop_manager", "GOOG") == {}
