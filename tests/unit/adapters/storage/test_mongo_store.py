"""MongoStore specifics beyond the Store contract (tests/contract/test_store_contract.py,
which also covers its idempotent writes, time zones and client_ref conflicts): schema,
indexes, counters across reopen, audit tampering done directly on the documents."""

from __future__ import annotations

from collections.abc import Iterator

import mongomock
import pytest

from adapters.storage.mongo import SCHEMA_VERSION, MongoStore
from core.audit import AuditLog
from core.errors import AuditChainError, ConfigurationError
from core.messages import Envelope, Note
from core.orders import Order, OrderIntent, OrderSide
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
