"""MongoDB implementation of the ``Store`` port (pymongo), for multi-process deployments.

Documents hold each domain object's pydantic JSON (``body``) next to the fields we query
by, exactly like the SQLite store, so both return identical objects (BSON dates would
drop microseconds and time zones). No multi-document transactions: every write is
idempotent and keyed by an id (journal by message id, orders by order id, fills by fill
id, kv by key + version, audit by sequence number), so a retried write after a crash or
a network error changes nothing. Insertion order comes from an atomic counter document.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.audit import GENESIS_MAC, AuditRecord
from core.errors import AuditChainError, ConfigurationError, OrderError, TemporaryError
from core.messages import Envelope
from core.orders import OPEN, Fill, Order
from core.portfolio import Portfolio
from core.ports import KvEntry

SCHEMA_VERSION = 1
Doc = dict[str, Any]

# (collection, keys, unique) — created at start-up; create_index is idempotent.
_INDEXES: list[tuple[str, list[tuple[str, int]], bool]] = [
    ("journal", [("seq", 1)], True),
    ("journal", [("cycle_id", 1), ("seq", 1)], False),
    ("journal", [("kind", 1), ("seq", 1)], False),
    ("journal", [("causation_id", 1)], False),
    ("orders", [("client_ref", 1)], True),
    ("orders", [("status", 1), ("seq", 1)], False),
    ("fills", [("order_id", 1), ("ts_us", 1)], False),
    ("fills", [("ts_us", 1), ("seq", 1)], False),
    ("snapshots", [("label", 1), ("seq", -1)], False),
    ("kv", [("key", 1), ("version", 1)], True),
    ("documents", [("collection", 1), ("key", 1)], True),
    ("documents", [("collection", 1), ("updated_at", 1)], False),
]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _micros(ts: datetime) -> int:
    """Exact, zone-independent ordering key (ISO strings compare wrongly across offsets)."""
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _same_record_or_raise(stored: Doc | None, record: AuditRecord) -> None:
    if stored is None or stored["mac"] != record.mac:
        raise AuditChainError(
            f"audit seq {record.seq} already holds another record (concurrent writer?)"
        )


class MongoStore:
    def __init__(self, client: pymongo.MongoClient[Doc], db_name: str = "quorum") -> None:
        self._client = client
        self._db: Database[Doc] = client[db_name]
        for name, keys, unique in _INDEXES:
            self._db[name].create_index(keys, unique=unique)
        self._check_schema()

    @classmethod
    def from_uri(cls, uri: str, db_name: str = "quorum") -> MongoStore:
        return cls(pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000), db_name)

    def _check_schema(self) -> None:
        meta = self._db["meta"]
        meta.update_one(
            {"_id": "schema_version"}, {"$setOnInsert": {"value": SCHEMA_VERSION}}, upsert=True
        )
        found = self.schema_version
        if found > SCHEMA_VERSION:
            raise ConfigurationError(
                f"MongoDB schema version {found} is newer than this Quorum ({SCHEMA_VERSION})"
            )

    @property
    def schema_version(self) -> int:
        doc = self._db["meta"].find_one({"_id": "schema_version"})
        return int(doc["value"]) if doc else 0

    def _c(self, name: str) -> Collection[Doc]:
        return self._db[name]

    def _next(self, counter: str) -> int:
        """An atomic, strictly increasing number (gaps allowed) for insertion order."""
        doc = self._db["counters"].find_one_and_update(
            {"_id": counter},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=pymongo.ReturnDocument.AFTER,
        )
        assert doc is not None  # upsert=True with ReturnDocument.AFTER always returns it
        return int(doc["value"])

    # -- journal -------------------------------------------------------------------------
    def append_message(self, message: Envelope) -> None:
        """Append once; appending the same message id again is a no-op (idempotent)."""
        if self._c("journal").find_one({"_id": message.id}, {"_id": 1}) is not None:
            return
        doc = {
            "_id": message.id,
            "seq": self._next("journal"),
            "cycle_id": message.cycle_id,
            "kind": message.kind,
            "sender": message.sender,
            "recipient": message.recipient,
            "causation_id": message.causation_id,
            "created_at": message.created_at.isoformat(),
            "body": message.model_dump_json(),
        }
        with contextlib.suppress(DuplicateKeyError):  # appended by another process meanwhile
            self._c("journal").insert_one(doc)

    def _envelopes(self, query: Doc, sort: int = 1, limit: int = 0) -> list[Envelope]:
        cursor = self._c("journal").find(query, {"body": 1}).sort("seq", sort).limit(limit)
        return [Envelope.model_validate_json(d["body"]) for d in cursor]

    def messages_by_cycle(self, cycle_id: str) -> list[Envelope]:
        return self._envelopes({"cycle_id": cycle_id})

    def messages_by_kind(self, kind: str, cycle_id: str | None = None) -> list[Envelope]:
        query: Doc = {"kind": kind}
        if cycle_id is not None:
            query["cycle_id"] = cycle_id
        return self._envelopes(query)

    def message(self, message_id: str) -> Envelope | None:
        doc = self._c("journal").find_one({"_id": message_id}, {"body": 1})
        return Envelope.model_validate_json(doc["body"]) if doc else None

    def causation_chain(self, message_id: str) -> list[Envelope]:
        """The message and its causes, newest first, back to the root."""
        chain: list[Envelope] = []
        seen: set[str] = set()
        current: str | None = message_id
        while current is not None and current not in seen and len(chain) < 10_000:
            seen.add(current)
            found = self.message(current)
            if found is None:
                break
            chain.append(found)
            current = found.causation_id
        return chain

    def tail(self, n: int = 20, cycle_id: str | None = None) -> list[Envelope]:
        query: Doc = {} if cycle_id is None else {"cycle_id": cycle_id}
        return list(reversed(self._envelopes(query, sort=-1, limit=n)))

    # -- orders and fills ----------------------------------------------------------------
    def save_order(self, order: Order) -> None:
        """Upsert by order id; a client_ref held by another order is an ``OrderError``."""
        changes: Doc = {
            "status": order.status.value,
            "updated_at": order.updated_at.isoformat(),
            "body": order.model_dump_json(),
        }
        try:
            self._c("orders").update_one(
                {"_id": order.order_id},
                {
                    "$set": changes,
                    "$setOnInsert": {
                        "client_ref": order.client_ref,
                        "symbol": order.symbol,
                        "seq": self._next("orders"),
                    },
                },
                upsert=True,
            )
        except DuplicateKeyError as exc:
            holder = self._c("orders").find_one({"client_ref": order.client_ref}, {"_id": 1})
            if holder is not None and holder["_id"] != order.order_id:
                raise OrderError(
                    f"client_ref {order.client_ref} already belongs to order {holder['_id']}"
                ) from exc
            # Another process inserted this very order between our upsert's match and its
            # insert (an _id collision): it exists now, so ours applies as a plain update.
            self._c("orders").update_one({"_id": order.order_id}, {"$set": changes})

    def _order(self, query: Doc) -> Order | None:
        doc = self._c("orders").find_one(query, {"body": 1})
        return Order.model_validate_json(doc["body"]) if doc else None

    def order(self, order_id: str) -> Order | None:
        return self._order({"_id": order_id})

    def order_by_client_ref(self, client_ref: str) -> Order | None:
        return self._order({"client_ref": client_ref})

    def orders(self, open_only: bool = False) -> list[Order]:
        query: Doc = {"status": {"$in": [s.value for s in OPEN]}} if open_only else {}
        cursor = self._c("orders").find(query, {"body": 1}).sort("seq", 1)
        return [Order.model_validate_json(d["body"]) for d in cursor]

    def save_fill(self, fill: Fill) -> bool:
        """Store a fill once. Returns False if this ``fill_id`` was already stored."""
        if self._c("fills").find_one({"_id": fill.fill_id}, {"_id": 1}) is not None:
            return False
        doc = {
            "_id": fill.fill_id,
            "order_id": fill.order_id,
            "ts_us": _micros(fill.ts),
            "seq": self._next("fills"),
            "body": fill.model_dump_json(),
        }
        try:
            self._c("fills").insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def fills(self, order_id: str | None = None, since: datetime | None = None) -> list[Fill]:
        query: Doc = {}
        if order_id is not None:
            query["order_id"] = order_id
        if since is not None:
            query["ts_us"] = {"$gte": _micros(since)}
        cursor = self._c("fills").find(query, {"body": 1}).sort([("ts_us", 1), ("seq", 1)])
        return [Fill.model_validate_json(d["body"]) for d in cursor]

    # -- snapshots -----------------------------------------------------------------------
    def save_snapshot(self, portfolio: Portfolio, label: str = "") -> None:
        body = portfolio.model_dump_json()
        # Keyed by content: saving the same snapshot twice stores it once (and makes it latest).
        key = hashlib.sha256(f"{label}\x00{body}".encode()).hexdigest()
        self._c("snapshots").update_one(
            {"_id": key},
            {"$set": {"label": label, "seq": self._next("snapshots"), "body": body}},
            upsert=True,
        )

    def latest_snapshot(self, label: str = "") -> Portfolio | None:
        doc = self._c("snapshots").find_one({"label": label}, {"body": 1}, sort=[("seq", -1)])
        return Portfolio.model_validate_json(doc["body"]) if doc else None

    # -- key-value with history ----------------------------------------------------------
    def kv_set(self, key: str, value: Any, actor: str = "system") -> KvEntry:
        encoded = json.dumps(value, default=str)
        for _ in range(100):  # optimistic: a concurrent writer took our version, try the next
            last = self._c("kv").find_one({"key": key}, {"version": 1}, sort=[("version", -1)])
            version = (int(last["version"]) if last else 0) + 1
            ts = _now()
            doc = {"_id": f"{key}#{version}", "key": key, "version": version}
            try:
                self._c("kv").insert_one({**doc, "value": encoded, "ts": ts, "actor": actor})
            except DuplicateKeyError:
                continue
            return KvEntry(
                key=key, value=value, version=version, ts=datetime.fromisoformat(ts), actor=actor
            )
        raise TemporaryError(f"kv_set({key!r}) lost 100 races in a row to other writers")

    def kv_get(self, key: str) -> Any | None:
        doc = self._c("kv").find_one({"key": key}, {"value": 1}, sort=[("version", -1)])
        return json.loads(doc["value"]) if doc else None

    def kv_history(self, key: str) -> list[KvEntry]:
        return [
            KvEntry(
                key=d["key"],
                value=json.loads(d["value"]),
                version=d["version"],
                ts=datetime.fromisoformat(d["ts"]),
                actor=d["actor"],
            )
            for d in self._c("kv").find({"key": key}).sort("version", 1)
        ]

    # -- documents (proposals, agent memory) -------------------------------------------
    def put_document(self, collection: str, key: str, doc: dict[str, Any]) -> None:
        self._c("documents").update_one(
            {"_id": f"{collection}/{key}"},
            {
                "$set": {
                    "collection": collection,
                    "key": key,
                    "body": json.dumps(doc, default=str),
                    "updated_at": _now(),
                }
            },
            upsert=True,
        )

    def get_document(self, collection: str, key: str) -> dict[str, Any] | None:
        found = self._c("documents").find_one({"_id": f"{collection}/{key}"}, {"body": 1})
        return json.loads(found["body"]) if found else None

    def documents(self, collection: str) -> list[dict[str, Any]]:
        cursor = self._c("documents").find({"collection": collection}, {"body": 1})
        cursor = cursor.sort([("updated_at", 1), ("key", 1)])
        return [json.loads(d["body"]) for d in cursor]

    # -- audit chain ---------------------------------------------------------------------
    def audit_append(self, record: AuditRecord) -> None:
        """Append ``record`` if it extends the chain's tip (its highest seq); a retry of a
        record already stored is a no-op; anything else is an ``AuditChainError``.

        No transaction is needed to serialise writers: seq is the document ``_id``, so of
        two records sealed on the same tip one insert wins and the other collides (and
        ``AuditLog`` seals again on the new tip). A crash between the insert and the head
        update leaves the head one record behind; verification reports it until the next
        append, or a retry of this one, moves the head on.
        """
        audit = self._c("audit")
        existing = audit.find_one({"_id": record.seq}, {"mac": 1})
        if existing is not None:
            _same_record_or_raise(existing, record)
        else:
            tip = audit.find_one({}, {"mac": 1}, sort=[("_id", -1)])
            want_seq, want_prev = (
                (1, GENESIS_MAC) if tip is None else (int(tip["_id"]) + 1, str(tip["mac"]))
            )
            if record.seq != want_seq or record.prev_mac != want_prev:
                raise AuditChainError(
                    f"audit record seq {record.seq} does not extend the chain"
                    f" (next is seq {want_seq})"
                )
            try:
                audit.insert_one(
                    {
                        "_id": record.seq,
                        "ts": record.ts.isoformat(),
                        "actor": record.actor,
                        "action": record.action,
                        "data": json.dumps(record.data, sort_keys=True),
                        "prev_mac": record.prev_mac,
                        "mac": record.mac,
                    }
                )
            except DuplicateKeyError:
                _same_record_or_raise(audit.find_one({"_id": record.seq}, {"mac": 1}), record)
        # Move the head forward only: the upsert's insert collides (and is ignored) when a
        # head with a later seq already exists.
        with contextlib.suppress(DuplicateKeyError):
            self._db["meta"].update_one(
                {"_id": "audit_head", "seq": {"$lt": record.seq}},
                {"$set": {"seq": record.seq, "mac": record.mac}},
                upsert=True,
            )

    @staticmethod
    def _audit(doc: Doc) -> AuditRecord:
        return AuditRecord(
            seq=doc["_id"],
            ts=datetime.fromisoformat(doc["ts"]),
            actor=doc["actor"],
            action=doc["action"],
            data=json.loads(doc["data"]),
            prev_mac=doc["prev_mac"],
            mac=doc["mac"],
        )

    def audit_last(self) -> AuditRecord | None:
        doc = self._c("audit").find_one({}, sort=[("_id", -1)])
        return self._audit(doc) if doc else None

    def audit_records(self) -> list[AuditRecord]:
        return [self._audit(d) for d in self._c("audit").find({}).sort("_id", 1)]

    def audit_head(self) -> tuple[int, str] | None:
        doc = self._db["meta"].find_one({"_id": "audit_head"})
        return (int(doc["seq"]), str(doc["mac"])) if doc else None

    def close(self) -> None:
        self._client.close()
