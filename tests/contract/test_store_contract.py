"""One body of tests for every ``Store`` implementation (the ``store`` fixture's params)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.audit import AuditLog, seal
from core.errors import AuditChainError, OrderError
from core.messages import Envelope, Note
from core.orders import Fill, Order, OrderIntent, OrderSide, OrderStatus
from core.portfolio import Portfolio, apply_fill
from core.ports import Store

KEY = b"k" * 32


def _make_sqlite(tmp_path: Path) -> Store:
    from adapters.storage.sqlite import SqliteStore

    return SqliteStore(tmp_path / "store.db")


def _make_mongomock(tmp_path: Path) -> Store:
    import mongomock

    from adapters.storage.mongo import MongoStore

    return MongoStore(mongomock.MongoClient(tz_aware=True), db_name="quorum_test")


def _make_mongo(tmp_path: Path) -> Store:
    """A real server (MONGODB_URI): one database per test, dropped first so runs are clean."""
    import pymongo

    from adapters.storage.mongo import MongoStore

    db_name = "quorum_test_" + tmp_path.name[-40:]
    uri = os.environ["MONGODB_URI"]
    client = pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    client.drop_database(db_name)
    return MongoStore(client, db_name=db_name)


# Backends register here: name -> factory(tmp_path) -> Store.
STORE_FACTORIES = {"sqlite": _make_sqlite, "mongomock": _make_mongomock}
if os.environ.get("MONGODB_URI"):
    STORE_FACTORIES["mongo"] = _make_mongo


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = STORE_FACTORIES[request.param](tmp_path)
    yield s
    s.close()


def _env(cycle: str = "c1", cause: str | None = None, topic: str = "t") -> Envelope:
    return Envelope(cycle_id=cycle, sender="agent", payload=Note(topic=topic), causation_id=cause)


def _order(oid: str = "o1", ref: str = "r1") -> Order:
    intent = OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=10)
    return Order(order_id=oid, client_ref=ref, intent=intent)


def test_journal_queries_by_cycle_kind_and_causation_chain(store: Store) -> None:
    root = _env()
    mid = _env(cause=root.id)
    leaf = _env(cause=mid.id)
    other = _env(cycle="c2")
    for m in (root, mid, leaf, other):
        store.append_message(m)
    assert [m.id for m in store.messages_by_cycle("c1")] == [root.id, mid.id, leaf.id]
    assert len(store.messages_by_kind("note")) == 4
    assert len(store.messages_by_kind("note", cycle_id="c2")) == 1
    assert [m.id for m in store.causation_chain(leaf.id)] == [leaf.id, mid.id, root.id]
    assert store.message(mid.id) == mid
    assert store.message("missing") is None
    assert [m.id for m in store.tail(2)] == [leaf.id, other.id]
    assert [m.id for m in store.tail(5, cycle_id="c2")] == [other.id]


def test_journal_append_when_same_id_twice_then_stored_once(store: Store) -> None:
    m = _env()
    store.append_message(m)
    store.append_message(m)
    assert len(store.messages_by_cycle("c1")) == 1


def test_orders_upsert_by_id_and_find_by_client_ref(store: Store) -> None:
    o = _order()
    store.save_order(o)
    submitted = o.model_copy(update={"status": OrderStatus.SUBMITTED})
    store.save_order(submitted)
    assert store.order("o1") == submitted
    assert store.order_by_client_ref("r1") == submitted
    assert store.order_by_client_ref("nope") is None
    store.save_order(_order("o2", "r2"))
    assert [o.order_id for o in store.orders()] == ["o1", "o2"]
    assert [o.order_id for o in store.orders(open_only=True)] == ["o1"]


def test_fills_are_deduplicated_by_fill_id_and_filtered(store: Store) -> None:
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    f1 = Fill(
        fill_id="e1",
        order_id="o1",
        client_ref="r1",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=5,
        price=10.0,
        ts=t0,
    )
    f2 = f1.model_copy(update={"fill_id": "e2", "ts": t0 + timedelta(hours=1)})
    assert store.save_fill(f1) is True
    assert store.save_fill(f1) is False
    assert store.save_fill(f2) is True
    assert [f.fill_id for f in store.fills()] == ["e1", "e2"]
    assert [f.fill_id for f in store.fills(order_id="o1", since=t0 + timedelta(minutes=1))] == [
        "e2"
    ]


def test_snapshots_return_latest_per_label(store: Store) -> None:
    p = Portfolio.open(1000.0)
    store.save_snapshot(p, label="paper")
    fill = Fill(
        fill_id="e1",
        order_id="o1",
        client_ref="r1",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=1,
        price=10.0,
    )
    p2 = apply_fill(p, fill)
    store.save_snapshot(p2, label="paper")
    assert store.latest_snapshot("paper") == p2
    assert store.latest_snapshot("other") is None


def test_kv_keeps_every_version(store: Store) -> None:
    assert store.kv_get("risk.max_drawdown") is None
    store.kv_set("risk.max_drawdown", 0.05, actor="ops")
    e2 = store.kv_set("risk.max_drawdown", 0.04, actor="proposal:7")
    assert e2.version == 2
    assert store.kv_get("risk.max_drawdown") == 0.04
    hist = store.kv_history("risk.max_drawdown")
    assert [(h.version, h.value, h.actor) for h in hist] == [
        (1, 0.05, "ops"),
        (2, 0.04, "proposal:7"),
    ]


def test_documents_upsert_idempotently(store: Store) -> None:
    store.put_document("proposals", "p1", {"status": "pending"})
    store.put_document("proposals", "p1", {"status": "approved"})
    assert store.get_document("proposals", "p1") == {"status": "approved"}
    assert store.documents("proposals") == [{"status": "approved"}]
    assert store.get_document("proposals", "p2") is None


def test_audit_chain_verifies_when_untouched(store: Store) -> None:
    log = AuditLog(store, KEY)
    for i in range(5):
        log.append("ops", "halt" if i % 2 else "resume", {"i": i, "note": "x"})
    result = log.verify()
    assert result.ok and result.records == 5
    assert store.audit_head() == (5, store.audit_last().mac)  # type: ignore[union-attr]


def test_audit_chain_with_wrong_key_fails_at_first_record(store: Store) -> None:
    AuditLog(store, KEY).append("ops", "halt", {})
    result = AuditLog(store, b"another-key").verify()
    assert not result.ok and result.first_bad_seq == 1


# -- behaviour every backend must share (found diverging in review) -------------------------
def test_documents_when_several_collections_then_each_lists_its_own_in_update_order(
    store: Store,
) -> None:
    store.put_document("agent_memory", "momentum", {"lesson": "late entries"})
    store.put_document("agent_memory", "reflection", {"lesson": "cut losers"})
    store.put_document("proposals", "p1", {"status": "pending"})
    store.put_document("agent_memory", "momentum", {"lesson": "late entries", "seen": 2})
    assert store.documents("agent_memory") == [
        {"lesson": "cut losers"},
        {"lesson": "late entries", "seen": 2},
    ]
    assert store.documents("proposals") == [{"status": "pending"}]
    assert store.documents("nothing") == []
    assert store.get_document("proposals", "momentum") is None


def test_kv_when_values_are_json_types_then_round_trip_and_unknown_key_has_no_history(
    store: Store,
) -> None:
    value = {"symbols": ["AAPL", "MSFT"], "cap": 0.3, "live": False, "note": None}
    entry = store.kv_set("universe", value, actor="ops")
    assert (entry.version, entry.value, entry.actor) == (1, value, "ops")
    assert store.kv_get("universe") == value
    assert store.kv_history("never-set") == []


def test_snapshots_when_earlier_snapshot_saved_again_then_it_is_latest(store: Store) -> None:
    a, b = Portfolio.open(1000.0), Portfolio.open(2000.0)
    for p in (a, b, a):
        store.save_snapshot(p, label="paper")
    assert store.latest_snapshot("paper") == a


def test_causation_chain_when_a_cause_is_missing_then_stops_there(store: Store) -> None:
    orphan = _env(cause="never-journaled")
    store.append_message(orphan)
    assert [m.id for m in store.causation_chain(orphan.id)] == [orphan.id]
    assert store.causation_chain("unknown") == []


def test_save_order_when_client_ref_belongs_to_another_order_then_order_error_and_unchanged(
    store: Store,
) -> None:
    store.save_order(_order("o1", "r1"))
    with pytest.raises(OrderError, match="r1"):
        store.save_order(_order("o2", "r1"))
    assert [o.order_id for o in store.orders()] == ["o1"]


def test_fills_when_time_zones_differ_then_ordered_and_filtered_as_instants(store: Store) -> None:
    paris = timezone(timedelta(hours=2))
    base = {"order_id": "o1", "client_ref": "r1", "symbol": "AAPL", "side": OrderSide.BUY}
    early = Fill(
        fill_id="f1", quantity=1, price=1.0, ts=datetime(2024, 6, 3, 11, tzinfo=paris), **base
    )
    late = Fill(
        fill_id="f2", quantity=1, price=1.0, ts=datetime(2024, 6, 3, 10, 30, tzinfo=UTC), **base
    )
    store.save_fill(late)
    store.save_fill(early)  # 09:00Z: earlier, though "11:00+02:00" sorts after "10:30+00:00"
    assert [f.fill_id for f in store.fills()] == ["f1", "f2"]
    assert [f.fill_id for f in store.fills(since=datetime(2024, 6, 3, 10, tzinfo=UTC))] == ["f2"]
    assert store.fills()[0].ts == early.ts


def test_audit_append_when_same_record_retried_then_stored_once_and_chain_verifies(
    store: Store,
) -> None:
    log = AuditLog(store, KEY)
    record = log.append("ops", "halt", {"why": "drill"})
    store.audit_append(record)  # a retry after a timeout whose write had landed
    assert store.audit_records() == [record]
    assert log.verify().ok


def test_audit_append_when_record_does_not_extend_the_chain_then_chain_error_and_unchanged(
    store: Store,
) -> None:
    log = AuditLog(store, KEY)
    first, second = log.append("ops", "halt", {}), log.append("ops", "resume", {})
    stale = seal(KEY, first, "ops", "halt", {"late": True})  # seq 2 again: lost a race
    gap = seal(KEY, second.model_copy(update={"seq": 5}), "ops", "halt", {})  # seq 6
    forked = seal(KEY, second.model_copy(update={"mac": "f" * 64}), "ops", "halt", {})
    for record in (stale, gap, forked):
        with pytest.raises(AuditChainError, match=f"seq {record.seq}"):
            store.audit_append(record)
    assert store.audit_records() == [first, second]
    assert store.audit_head() == (2, second.mac)
    assert log.verify().ok
    assert log.append("ops", "after", {}).seq == 3  # the chain goes on from its real tip
