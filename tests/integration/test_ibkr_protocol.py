"""The simulator speaks TWS's text protocol the way ib_async 2.1.0 decodes it.

The session tests drive the real ``ib_async.IB`` (not our broker) through every message
type the simulator sends and capture ib_async's logging: a field out of place shows up
there as "Error handling fields" / "Error for ..." and fails the test.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket

import pytest
from ib_async import IB, Contract, LimitOrder, MarketOrder, Stock, StopOrder

from adapters.brokers.ibkr import IBKRBroker
from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.brokers.ibkr_sim.protocol import (
    SERVER_VERSION,
    FrameReader,
    ProtocolError,
    frame,
    negotiate_version,
)
from core.orders import OrderIntent, OrderSide, OrderType
from tests.integration.conftest import wait_until

# every test here talks to a socket: a hang must fail fast, not stall the suite
pytestmark = pytest.mark.timeout(30)

DECODE_PROBLEMS = re.compile(r"Error handling fields|Error for |No order found|Traceback|decode")


def decode_problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if DECODE_PROBLEMS.search(r.getMessage())]


def test_negotiate_version_when_client_range_overlaps_then_176_never_protobuf() -> None:
    assert negotiate_version(b"v157..178") == SERVER_VERSION == 176
    assert negotiate_version(b"v100..250 +PACEAPI") == 176  # still below 201 (protobuf)


@pytest.mark.parametrize("payload", [b"v100..150", b"v157..170", b"v180..220", b"hello"])
def test_negotiate_version_when_no_common_range_then_protocol_error(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        negotiate_version(payload)


def test_frame_reader_when_bytes_arrive_split_then_whole_messages_only() -> None:
    data = frame([9, 1, 42]) + frame(["15", "1", "DU1"])
    reader = FrameReader()
    assert reader.feed(data[:5]) == []
    assert reader.feed(data[5:]) == [["9", "1", "42"], ["15", "1", "DU1"]]


@pytest.mark.parametrize("address", [("192.0.2.1", 7497), ("2001:db8::1", 4002, 0, 0)])
def test_connect_outside_loopback_then_refused_by_the_test_guard(
    loopback_only: list[str], address: tuple[object, ...]
) -> None:
    family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
    with socket.socket(family) as sock, pytest.raises(PermissionError, match="loopback"):
        sock.connect(address)
    assert loopback_only == [repr(address)]
    loopback_only.clear()  # seen; the guard's own teardown check would fail the test


def test_simulator_when_host_not_loopback_then_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        TwsSimulator(host="0.0.0.0")


async def test_full_session_then_ib_async_decodes_everything_without_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ib_async")
    sim = await TwsSimulator(prices={"AAPL": 190.0, "TTE": 60.0}).start()
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", sim.port, clientId=3, timeout=3)
        (aapl,) = await ib.qualifyContractsAsync(
            Stock("AAPL", "SMART", "USD", primaryExchange="NASDAQ")
        )
        airbus = await ib.reqContractDetailsAsync(Contract(secIdType="ISIN", secId="NL0000235190"))
        assert {(d.contract.exchange, d.contract.currency) for d in airbus} == {
            ("SBF", "EUR"), ("IBIS", "EUR"), ("BM", "EUR"),
        }  # fmt: skip
        assert airbus[0].secIdList[0].value == "NL0000235190"
        (tte,) = await ib.qualifyContractsAsync(Stock("TTE", "SMART", "EUR", primaryExchange="SBF"))

        orders = {
            "mkt": ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="r-mkt")),
            "lmt": ib.placeOrder(aapl, LimitOrder("BUY", 5, 150.0, orderRef="r-lmt")),
            "stp": ib.placeOrder(aapl, StopOrder("SELL", 5, 170.0, orderRef="r-stp")),
            "eur": ib.placeOrder(tte, MarketOrder("BUY", 7, orderRef="r-eur")),
        }
        for leg in ib.bracketOrder("BUY", 3, 191.0, 200.0, 180.0):
            leg.orderRef = f"r-bracket-{leg.orderType}"
            ib.placeOrder(aapl, leg)
        await asyncio.sleep(0.1)
        ib.cancelOrder(orders["lmt"].order)
        await wait_until(lambda: orders["lmt"].orderStatus.status == "Cancelled")
        sim.set_price("AAPL", 169.0)  # the stop triggers
        await wait_until(lambda: orders["stp"].orderStatus.status == "Filled")

        await ib.reqAccountSummaryAsync()
        summary = list(ib.wrapper.acctSummary.values())
        assert {v.tag for v in summary} >= {"NetLiquidation", "TotalCashValue", "BuyingPower"}
        await ib.reqAllOpenOrdersAsync()
        await ib.reqCurrentTimeAsync()
        assert orders["mkt"].fills[0].commissionReport.commission == pytest.approx(1.0)
        assert orders["eur"].fills[0].commissionReport.currency == "EUR"

        ib.disconnect()  # a second session sees it all at start-up
        await wait_until(lambda: not sim.connected_client_ids())
        await ib.connectAsync("127.0.0.1", sim.port, clientId=3, timeout=3)
        by_ref = {t.order.orderRef: t for t in ib.trades()}
        assert by_ref["r-mkt"].orderStatus.status == "Filled"
        assert by_ref["r-lmt"].orderStatus.status == "Cancelled"
        assert by_ref["r-bracket-LMT"].order.parentId == 0  # the parent filled at 190
        assert {f.execution.orderRef for f in ib.fills()} >= {"r-mkt", "r-stp", "r-eur"}
        assert all(f.commissionReport.execId for f in ib.fills())
        positions = {p.contract.symbol: p.position for p in ib.positions()}
        # 10 bought, stop sold 5, bracket bought 3 and its stop-loss (180) sold them at 169
        assert positions == {"AAPL": 10 - 5 + 3 - 3, "TTE": 7}
        assert by_ref["r-bracket-STP"].orderStatus.status == "Filled"
        assert {v.tag for v in ib.accountValues()} >= {"NetLiquidation", "CashBalance"}
    finally:
        ib.disconnect()
        await sim.stop()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert decode_problems(caplog) == []


async def test_fault_session_then_only_ib_error_codes_logged_never_decode_errors(
    caplog: pytest.LogCaptureFixture, broker: IBKRBroker, sim: TwsSimulator
) -> None:
    caplog.set_level(logging.DEBUG, logger="ib_async")
    buy = OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=10)
    sim.faults.reject_next_order(201)
    await broker.place(buy, "q-log-reject")
    sim.faults.partial_fills([4])
    await broker.place(buy, "q-log-partial")
    sim.faults.duplicate_exec_details()
    await broker.place(buy, "q-log-dup")
    sim.faults.pacing_violation("order")
    await broker.place(buy, "q-log-paced")
    await sim.faults.connectivity_lost_then_restored(gap=0.05)
    await wait_until(lambda: not broker._connectivity_lost)
    sim.faults.drop_connection_after_order(fill_while_away=True)
    await broker.place(buy, "q-log-drop")
    await wait_until(lambda: sim.api_sessions == 2 and broker.last_reconcile != [])
    limit = OrderIntent(
        symbol="AAPL", side=OrderSide.BUY, quantity=1, order_type=OrderType.LIMIT, limit_price=1.0
    )
    await broker.place(limit, "q-log-cancel")
    await broker.sync()
    assert decode_problems(caplog) == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    allowed = re.compile(r"^(Error (201|100|1100|1102), reqId|Peer closed connection)")
    assert [m for m in errors if not allowed.match(m)] == []
