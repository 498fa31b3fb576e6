"""Contract qualification: US stocks SMART + primary exchange; Euronext Paris (SBF, EUR)
by symbol and by ISIN, including ISINs with several listings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.brokers.ibkr import AmbiguousContractError, ContractNotFoundError, IBKRBroker
from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.brokers.ibkr_sim.catalog import Catalog, Listing, load_listings
from adapters.storage.sqlite import SqliteStore
from core.instruments import Instrument
from core.orders import OrderIntent, OrderSide, OrderStatus
from tests.integration.conftest import assert_in_sync, sim_config

# every test here talks to a socket: a hang must fail fast, not stall the suite
pytestmark = pytest.mark.timeout(30)

AIRBUS = "NL0000235190"  # Paris, Frankfurt (IBIS) and Madrid (BM) listings in the sim


@pytest.mark.parametrize(
    ("symbol", "primary"),
    [("AAPL", "NASDAQ"), ("MSFT", "NASDAQ"), ("IBM", "NYSE"), ("GOOG", "NASDAQ")],
)
async def test_qualify_us_stock_then_smart_with_primary_exchange_in_usd(
    broker: IBKRBroker, symbol: str, primary: str
) -> None:
    got = await broker.qualify(Instrument(symbol=symbol, primary_exchange=primary))
    assert (got.symbol, got.exchange, got.primary_exchange, got.currency) == (
        symbol, "SMART", primary, "USD",
    )  # fmt: skip


async def test_qualify_euronext_by_symbol_then_sbf_in_eur_with_isin(broker: IBKRBroker) -> None:
    got = await broker.qualify(Instrument(symbol="TTE", primary_exchange="SBF", currency="EUR"))
    assert (got.exchange, got.primary_exchange, got.currency) == ("SMART", "SBF", "EUR")
    assert got.isin == "FR0000120271"


async def test_qualify_by_isin_with_several_listings_then_picks_primary_and_currency(
    broker: IBKRBroker,
) -> None:
    wanted = Instrument(symbol="AIR", primary_exchange="SBF", currency="EUR", isin=AIRBUS)
    got = await broker.qualify(wanted)
    assert (got.symbol, got.primary_exchange, got.currency, got.isin) == (
        "AIR",
        "SBF",
        "EUR",
        AIRBUS,
    )
    xetra = await broker.qualify(wanted.model_copy(update={"primary_exchange": "IBIS"}))
    assert xetra.primary_exchange == "IBIS"


async def test_qualify_by_isin_when_no_listing_matches_then_error_names_candidates(
    broker: IBKRBroker,
) -> None:
    wanted = Instrument(symbol="AIR", primary_exchange="LSE", currency="GBP", isin=AIRBUS)
    with pytest.raises(ContractNotFoundError, match=r"AIR@SBF/EUR.*AIR@IBIS/EUR"):
        await broker.qualify(wanted)


async def test_qualify_unknown_symbol_then_contract_not_found(broker: IBKRBroker) -> None:
    with pytest.raises(ContractNotFoundError, match="nothing"):
        await broker.qualify(Instrument(symbol="NOPE", primary_exchange="NASDAQ"))


@pytest.fixture
async def twin_listing_sim() -> AsyncIterator[TwsSimulator]:
    """Two SBF/EUR listings share an ISIN: nothing in the instrument can pick one."""
    twin = Listing(999_001, "AIRX", "SBF", "SBF", "EUR", AIRBUS, "AIRBUS TWIN LINE")
    sim = TwsSimulator(catalog=Catalog((*load_listings(), twin)))
    await sim.start()
    yield sim
    await sim.stop()


async def test_qualify_by_isin_when_two_listings_match_then_ambiguous(
    twin_listing_sim: TwsSimulator, store: SqliteStore
) -> None:
    broker = IBKRBroker(sim_config(twin_listing_sim.port), store)
    await broker.connect()
    try:
        wanted = Instrument(symbol="AIR", primary_exchange="SBF", currency="EUR", isin=AIRBUS)
        with pytest.raises(AmbiguousContractError, match="AIRX@SBF/EUR"):
            await broker.qualify(wanted)
    finally:
        await broker.disconnect()


async def test_euronext_order_fills_in_eur_with_eur_commission(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    await broker.qualify(Instrument(symbol="TTE", primary_exchange="SBF", currency="EUR"))
    order = await broker.place(OrderIntent(symbol="TTE", side=OrderSide.BUY, quantity=20), "q-tte")
    await assert_in_sync(broker, sim)
    (fill,) = broker.store.fills(order.order_id)
    assert (fill.currency, fill.price) == ("EUR", 60.0)
    assert fill.commission == pytest.approx(1.25)  # 0.05 % of 1,200 is below the minimum
    assert broker.store.order(order.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]


async def test_place_when_symbol_has_several_listings_and_not_qualified_then_order_error(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    from core.errors import OrderError

    with pytest.raises(OrderError, match="qualify"):
        await broker.place(OrderIntent(symbol="AIR", side=OrderSide.BUY, quantity=1), "q-air")
    assert sim.orders_placed("q-air") == 0
