"""/metrics and /healthz over loopback: the real WSGI server on a free port, scraped with
httpx and parsed with prometheus_client's own parser; every value is checked against
what was written to a real SQLite store (and a real Redis bus)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.bus.policy import StreamPolicy
from adapters.daemon.health import HealthProblem, HealthServer, PortProbe, health_report, make_app
from adapters.daemon.metrics import DaemonStatus, StoreCollector, build_registry, rejection_code
from adapters.storage.sqlite import SqliteStore
from core import topics
from core.messages import Envelope, Note
from core.orders import Fill, Order, OrderIntent, OrderSide, OrderStatus
from workflows.daemon import DaemonEvent, DaemonRecord, EventKind
from workflows.service import CYCLES, EQUITY_KEY

AT = datetime(2012, 11, 20, 21, 45, tzinfo=UTC)


def summary(status: str, llm_calls: int, cost: float, rejected: list[str]) -> dict[str, Any]:
    return {
        "status": status,
        "orders": [],
        "fills": 0,
        "rejected": [{"source": "risk_manager", "reason": r} for r in rejected],
        "llm": {"calls": llm_calls, "tokens": 10 * llm_calls, "cost_usd": cost, "fallbacks": 1},
    }


def order(n: int, status: OrderStatus) -> Order:
    intent = OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=10)
    return Order(order_id=f"o{n}", client_ref=f"r{n}", intent=intent, status=status)


def fill(n: int, order_n: int) -> Fill:
    return Fill(
        fill_id=f"f{n}",
        order_id=f"o{order_n}",
        client_ref=f"r{order_n}",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=10,
        price=50.0,
        ts=AT,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "q.db")
    first = summary("completed", 4, 0.25, ["MARKET_CLOSED: symbol=AAPL", "POSITION_CAP_EXCEEDED"])
    db.put_document(CYCLES, "cycle-2012-11-19", {"summary": first})
    second = summary("halted", 2, 0.5, ["MARKET_CLOSED: symbol=MSFT"])
    db.put_document(CYCLES, "cycle-2012-11-20", {"summary": second})
    db.put_document(CYCLES, "cycle-2012-11-21", {"as_of": "2012-11-21"})  # not finished
    for n, status in enumerate([OrderStatus.FILLED, OrderStatus.FILLED, OrderStatus.REJECTED]):
        db.save_order(order(n, status))
    for n in range(2):
        db.save_fill(fill(n, n))
    for day, equity in (
        ("2012-11-19", 100_000.0),
        ("2012-11-20", 104_000.0),
        ("2012-11-21", 98_800.0),
    ):
        db.kv_set(EQUITY_KEY, {"date": day, "equity": equity, "cycle_id": f"cycle-{day}"})
    record = DaemonRecord(db)
    for kind, day in (
        (EventKind.RAN, 19),
        (EventKind.RAN, 20),
        (EventKind.HOLIDAY, 22),
        (EventKind.MISSED, 21),
        (EventKind.FAILED, 23),
    ):
        record.append(DaemonEvent(kind=kind, session=date(2012, 11, day), at=AT.replace(day=day)))
    yield db
    db.close()


def serve(store: SqliteStore, status: DaemonStatus, **collector: Any) -> HealthServer:
    registry = build_registry(StoreCollector(lambda: store, status, **collector))
    return HealthServer(
        "127.0.0.1", 0, make_app(registry, lambda: health_report(status, lambda: store))
    )


def scrape(server: HealthServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.fixture
def status() -> DaemonStatus:
    nxt = datetime(2012, 11, 26, 21, 30, tzinfo=UTC)
    return DaemonStatus(
        broker_kind="paper", lock_held=True, next_run=lambda: nxt, broker_probe=lambda: True
    )


def test_metrics_when_scraped_then_values_match_the_store(
    store: SqliteStore, status: DaemonStatus
) -> None:
    server = serve(store, status)
    try:
        m = scrape(server)
    finally:
        server.close()
    assert m[("quorum_daemon_cycles_total", (("outcome", "ran"),))] == 2
    assert m[("quorum_daemon_cycles_total", (("outcome", "missed"),))] == 1
    assert m[("quorum_daemon_cycles_total", (("outcome", "failed"),))] == 1
    assert m[("quorum_daemon_cycles_total", (("outcome", "stopped"),))] == 0
    assert m[("quorum_daemon_last_success_timestamp_seconds", ())] == AT.timestamp()
    assert (
        m[("quorum_daemon_next_run_timestamp_seconds", ())]
        == datetime(2012, 11, 26, 21, 30, tzinfo=UTC).timestamp()
    )
    assert m[("quorum_daemon_lock_held", ())] == 1
    assert m[("quorum_cycles_recorded_total", (("status", "completed"),))] == 1
    assert m[("quorum_cycles_recorded_total", (("status", "halted"),))] == 1
    assert m[("quorum_orders_total", ())] == 3
    assert m[("quorum_orders_by_status", (("status", "filled"),))] == 2
    assert m[("quorum_orders_by_status", (("status", "rejected"),))] == 1
    assert m[("quorum_fills_total", ())] == 2
    assert m[("quorum_rejections_total", (("code", "MARKET_CLOSED"),))] == 2
    assert m[("quorum_rejections_total", (("code", "POSITION_CAP_EXCEEDED"),))] == 1
    assert m[("quorum_llm_calls_total", ())] == 6
    assert m[("quorum_llm_tokens_total", ())] == 60
    assert m[("quorum_llm_fallbacks_total", ())] == 2
    assert m[("quorum_llm_cost_usd_total", ())] == pytest.approx(0.75)
    assert m[("quorum_equity", ())] == 98_800.0
    assert m[("quorum_peak_equity", ())] == 104_000.0
    assert m[("quorum_drawdown_ratio", ())] == pytest.approx(0.05)
    assert m[("quorum_broker_connected", (("broker", "paper"),))] == 1
    assert m[("quorum_store_up", ())] == 1
    assert ("process_resident_memory_bytes", ()) in m  # the process collector is there
    assert not any(name.startswith("quorum_bus") for name, _ in m)  # no Redis bus here


def test_metrics_when_store_grows_then_next_scrape_reads_it(
    store: SqliteStore, status: DaemonStatus
) -> None:
    server = serve(store, status)
    try:
        before = scrape(server)
        store.save_fill(fill(9, 2))
        after = scrape(server)
    finally:
        server.close()
    assert after[("quorum_fills_total", ())] == before[("quorum_fills_total", ())] + 1


def test_healthz_when_the_last_event_failed_then_degraded_503_with_its_code(
    store: SqliteStore, status: DaemonStatus
) -> None:
    server = serve(store, status)
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
    finally:
        server.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["problems"] == [HealthProblem.LAST_CYCLE_FAILED]
    assert body["last_success"] == AT.isoformat()
    assert body["lock_held"] is True and body["broker"] == {"kind": "paper", "connected": True}
    assert body["last_event"]["kind"] == "failed"


def test_healthz_when_the_last_cycle_ran_then_ok_200(tmp_path: Path, status: DaemonStatus) -> None:
    store = SqliteStore(tmp_path / "ok.db")
    DaemonRecord(store).append(DaemonEvent(kind=EventKind.RAN, session=date(2012, 11, 19), at=AT))
    server = serve(store, status)
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
        missing = httpx.get(f"http://127.0.0.1:{server.port}/nope", timeout=5)
        post = httpx.post(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
    finally:
        server.close()
        store.close()
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["problems"] == []
    assert missing.status_code == 404 and post.status_code == 405


def test_healthz_when_lock_lost_and_broker_down_then_both_codes(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "h.db")
    status = DaemonStatus(broker_kind="ibkr", lock_held=False, broker_probe=lambda: False)
    try:
        report = health_report(status, lambda: store)
    finally:
        store.close()
    assert report["status"] == "degraded"
    assert report["problems"] == [HealthProblem.LOCK_NOT_HELD, HealthProblem.BROKER_DISCONNECTED]
    assert report["last_success"] is None


def test_metrics_when_store_unreadable_then_store_up_zero_and_scrape_still_answers(
    status: DaemonStatus,
) -> None:
    def broken() -> SqliteStore:
        raise OSError("disk gone")

    registry = build_registry(StoreCollector(broken, status), process=False)
    server = HealthServer("127.0.0.1", 0, make_app(registry, lambda: health_report(status, broken)))
    try:
        m = scrape(server)
        health = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).json()
    finally:
        server.close()
    assert m[("quorum_store_up", ())] == 0
    assert HealthProblem.STORE_UNREADABLE in health["problems"]


@pytest.mark.redis
def test_metrics_when_redis_bus_has_pending_and_dead_letters_then_reported(
    store: SqliteStore, status: DaemonStatus, redis_url: str
) -> None:
    from adapters.bus.redis import RedisStreamBus

    bus = RedisStreamBus.from_url(redis_url, policy=StreamPolicy(max_deliveries=1))
    for n in range(3):
        bus.publish(topics.A2A, Envelope(cycle_id="c", sender="s", payload=Note(topic=str(n))))
    delivered = bus.consume(topics.A2A, "chat", "c1", count=2, block_ms=0)
    bus.fail(topics.A2A, "chat", delivered[0].delivery_id, "boom")  # 1 delivery: dead now
    bus.consume(topics.A2A, "chat", "c1", count=1, block_ms=0)
    server = serve(store, status, bus=lambda: bus, bus_groups=[(topics.A2A, "chat")])
    try:
        m = scrape(server)
    finally:
        server.close()
        bus.close()
    assert m[("quorum_bus_up", ())] == 1
    assert m[("quorum_bus_stream_length", (("topic", topics.A2A),))] == 3
    assert m[("quorum_bus_dead_letters", (("topic", topics.A2A),))] == 1
    # the failed one went to the dead letters; the other two are delivered, unacked
    assert m[("quorum_bus_pending", (("group", "chat"), ("topic", topics.A2A)))] == 2


def test_port_probe_when_port_closed_then_false_and_cached_until_the_next_check() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.listen()
    ticks = [0.0]
    probe = PortProbe("127.0.0.1", port, clock=lambda: ticks[0])
    assert probe() is True
    listener.close()
    assert probe() is True  # cached: checked less than 30 s ago
    ticks[0] = 31.0
    assert probe() is False
    probe.live = lambda: True  # a cycle is running: its broker answers
    assert probe() is True


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("MARKET_CLOSED: symbol=AAPL", "MARKET_CLOSED"),
        ("LLM_OUTPUT_REJECTED: agent=x", "LLM_OUTPUT_REJECTED"),
        ("POSITION_CAP_EXCEEDED", "POSITION_CAP_EXCEEDED"),
        ("something went wrong", "OTHER"),
        ("", "OTHER"),
    ],
)
def test_rejection_code_when_reason_given_then_its_code_or_other(reason: str, code: str) -> None:
    assert rejection_code(reason) == code
