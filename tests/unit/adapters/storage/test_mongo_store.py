"""MongoStore specifics beyond the Store contract (tests/contract/test_store_contract.py,
which also covers its idempotent writes, time zones and client_ref conflicts): schema,
indexes, counters across reopen, audit tampering done directly on the documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mongomock
import pytest
from pymongo.errors import DuplicateKeyError

from adapters.storage.mongo import SCHEMA_VERSION, MongoStore
from core.audit import AuditLog
from core.errors import AuditChainError, ConfigurationError, TemporaryError
from core.messages import Envelope, Note
from core.orders import Order, OrderIntent, OrderSide, OrderStatus
from core.portfolio import Portfolio

KEY = b"audit-key-for-tests"


@pytest.fixture
def client() -> mongomock.MongoClient:
    return mongomock.MongoClient(tz_aware=True)


@pytest.fixture
def store(client: mongomock.MongoClient) -> Iterator[MongoStore]:
    yield MongoStore(client, db_name="q")


def _order(oid: str, ref: str) -> Order:
    return Order(
        order_id=oid,
        client_ref=ref,
        intent=OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=1),
    )


def test_schema_when_new_database_then_version_document_written(
    store: MongoStore, client: mongomock.MongoClient
) -> None:
    assert store.schema_version == SCHEMA_VERSION
    assert client["q"]["meta"].find_one({"_id": "schema_version"})["value"] == SCHEMA_VERSION


def test_schema_when_database_is_newer_then_configuration_error(
    client: mongomock.MongoClient,
) -> None:
    client["q"]["meta"].insert_one({"_id": "schema_version", "value": SCHEMA_VERSION + 1})
    with pytest.raises(ConfigurationError, match="newer"):
        MongoStore(client, db_name="q")


def test_indexes_when_started_then_lookups_are_indexed_and_client_ref_unique(
    store: MongoStore, client: mongomock.MongoClient
) -> None:
    info = client["q"]["orders"].index_information()
    unique = [v for v in info.values() if v["key"] == [("client_ref", 1)]]
    assert unique and unique[0].get("unique") is True
    assert any(
        v["key"] == [("cycle_id", 1), ("seq", 1)]
        for v in client["q"]["journal"].index_information().values()
    )


def test_store_when_reopened_on_same_database_then_order_and_counters_continue(
    client: mongomock.MongoClient,
) -> None:
    first = MongoStore(client, db_name="q")
    first.save_order(_order("o1", "r1"))
    first.append_message(Envelope(cycle_id="c", sender="a", payload=Note(topic="t")))
    second = MongoStore(client, db_name="q")
    second.save_order(_order("o2", "r2"))
    second.save_order(_order("o1", "r1"))  # an update keeps its original position
    later = Envelope(cycle_id="c", sender="a", payload=Note(topic="later"))
    second.append_message(later)
    assert [o.order_id for o in second.orders()] == ["o1", "o2"]
    assert second.tail(1)[0] == later


def test_save_snapshot_when_same_snapshot_saved_twice_then_one_document(
    store: MongoStore, client: mongomock.MongoClient
) -> None:
    p = Portfolio.open(1000.0)
    store.save_snapshot(p, "paper")
    store.save_snapshot(p, "paper")
    assert client["q"]["snapshots"].count_documents({}) == 1
    assert store.latest_snapshot("paper") == p


def test_audit_append_when_seq_taken_by_other_record_then_chain_error(store: MongoStore) -> None:
    log = AuditLog(store, KEY)
    first = log.append("ops", "halt", {})
    rival = first.model_copy(update={"mac": "f" * 64})
    with pytest.raises(AuditChainError, match="seq 1"):
        store.audit_append(rival)


def test_audit_when_document_edited_then_verify_names_the_record(
    store: MongoStore, client: mongomock.MongoClient
) -> None:
    log = AuditLog(store, KEY)
    for i in range(4):
        log.append("ops", f"a{i}", {"i": i})
    client["q"]["audit"].update_one({"_id": 3}, {"$set": {"data": '{"i": 99}'}})
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_audit_when_newest_document_deleted_then_head_catches_it(
    store: MongoStore, client: mongomock.MongoClient
) -> None:
    log = AuditLog(store, KEY)
    for i in range(4):
        log.append("ops", f"a{i}", {"i": i})
    client["q"]["audit"].delete_one({"_id": 4})
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 4


def test_mongo_store_satisfies_the_store_port(store: MongoStore) -> None:
    from core.ports import Store

    assert isinstance(store, Store)


class _RacingOrders:
    """The ``orders`` collection as seen by a writer that loses an upsert race: just
    before its first upsert lands, another process inserts the same order id, so the
    server reports a duplicate ``_id`` (what a real mongod does; mongomock cannot race)."""

    def __init__(self, real: Any, rival: MongoStore, rival_order: Order) -> None:
        self._real, self._rival, self._rival_order = real, rival, rival_order
        self.raced = False

    def update_one(self, query: Any, update: Any, upsert: bool = False) -> Any:
        if upsert and not self.raced:
            self.raced = True
            self._rival.save_order(self._rival_order)
            raise DuplicateKeyError("E11000 duplicate key error index: _id_")
        return self._real.update_one(query, update, upsert=upsert)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_save_order_when_same_order_inserted_concurrently_then_applied_as_update(
    client: mongomock.MongoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, rival = MongoStore(client, db_name="q"), MongoStore(client, db_name="q")
    created = _order("o1", "r1")
    submitted = created.model_copy(update={"status": OrderStatus.SUBMITTED})
    racing = _RacingOrders(client["q"]["orders"], rival, created)
    real_c = ours._c
    monkeypatch.setattr(ours, "_c", lambda name: racing if name == "orders" else real_c(name))
    ours.save_order(submitted)  # no OrderError: the rival wrote the same order, not another
    assert racing.raced
    assert rival.orders() == [submitted]


def test_kv_set_when_every_version_is_taken_by_rivals_then_temporary_error(
    store: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    kv = store._c("kv")

    def always_taken(doc: Any) -> None:
        raise DuplicateKeyError("E11000 duplicate key error index: _id_")

    monkeypatch.setattr(kv, "insert_one", always_taken)
    real_c = store._c
    monkeypatch.setattr(store, "_c", lambda name: kv if name == "kv" else real_c(name))
    with pytest.raises(TemporaryError, match="lost 100 races"):
        store.kv_set("risk.max_drawdown", 0.05)


def test_indexes_when_started_then_every_declared_index_exists_with_its_uniqueness(
    store: MongoStore, client: mongomock.MongoClient
) -> None:
    from adapters.storage.mongo import _INDEXES

    for collection, keys, unique in _INDEXES:
        info = client["q"][collection].index_information().values()
        found = [v for v in info if list(v["key"]) == keys]
        assert found, f"{collection} lacks an index on {keys}"
        assert bool(found[0].get("unique", False)) is unique, (collection, keys)
    again = MongoStore(client, db_name="q")  # create_index is idempotent: reopening is fine
    assert again.schema_version == SCHEMA_VERSION


def test_audit_when_crash_left_head_behind_then_next_append_extends_tip_and_heals_head(
    store: MongoStore, client: mongomock.MongoClient
) -> None:
    log = AuditLog(store, KEY)
    first = log.append("ops", "halt", {})
    log.append("ops", "resume", {})
    # A crash between record 2's insert and its head update: the head still says 1.
    client["q"]["meta"].update_one({"_id": "audit_head"}, {"$set": {"seq": 1, "mac": first.mac}})
    assert not log.verify().ok
    third = log.append("ops", "halt", {})
    assert third.seq == 3
    assert store.audit_head() == (3, third.mac)
    assert log.verify().ok
