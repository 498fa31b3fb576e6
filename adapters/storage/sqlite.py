"""SQLite implementation of the ``Store`` port: the embedded default (WAL mode).

Domain objects are stored as their pydantic JSON next to the columns we query by;
the adapter maps rows to domain objects, never the other way round. The journal and the
audit log are append-only: triggers refuse UPDATE and DELETE on them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.audit import GENESIS_MAC, AuditRecord
from core.errors import AuditChainError, ConfigurationError, OrderError
from core.messages import Envelope
from core.orders import OPEN, Fill, Order
from core.portfolio import Portfolio
from core.ports import KvEntry

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    cycle_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    causation_id TEXT,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_cycle ON journal(cycle_id, seq);
CREATE INDEX IF NOT EXISTS journal_kind ON journal(kind, seq);
CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    client_ref TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_order ON fills(order_id);
CREATE INDEX IF NOT EXISTS fills_ts ON fills(ts);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    ts TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_label ON snapshots(label, id);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    value TEXT NOT NULL,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY (key, version)
);
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (collection, key)
);
CREATE TABLE IF NOT EXISTS audit (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_mac TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    mac TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _instant(ts: datetime) -> str:
    """A time as fixed-width UTC text, so SQL text order is time order whatever the
    offset it was given in (naive times are taken as UTC)."""
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SqliteStore:
    """Thread-safe (one connection, one lock); safe for several processes thanks to WAL."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ConfigurationError(f"{path}: cannot open as a Quorum store: {exc}") from exc
        self._db.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @property
    def schema_version(self) -> int:
        return int(self._query("SELECT value FROM meta WHERE key='schema_version'")[0][0])

    # -- journal -------------------------------------------------------------------------
    def append_message(self, message: Envelope) -> None:
        """Append once; appending the same message id again is a no-op (idempotent)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO journal(id, cycle_id, kind, sender, recipient,"
                " causation_id, created_at, body) VALUES (?,?,?,?,?,?,?,?)",
                (
                    message.id,
                    message.cycle_id,
                    message.kind,
                    message.sender,
                    message.recipient,
                    message.causation_id,
                    message.created_at.isoformat(),
                    message.model_dump_json(),
                ),
            )

    @staticmethod
    def _envelopes(rows: list[sqlite3.Row]) -> list[Envelope]:
        return [Envelope.model_validate_json(r["body"]) for r in rows]

    def messages_by_cycle(self, cycle_id: str) -> list[Envelope]:
        return self._envelopes(
            self._query("SELECT body FROM journal WHERE cycle_id=? ORDER BY seq", (cycle_id,))
        )

    def messages_by_kind(self, kind: str, cycle_id: str | None = None) -> list[Envelope]:
        if cycle_id is None:
            rows = self._query("SELECT body FROM journal WHERE kind=? ORDER BY seq", (kind,))
        else:
            rows = self._query(
                "SELECT body FROM journal WHERE kind=? AND cycle_id=? ORDER BY seq",
                (kind, cycle_id),
            )
        return self._envelopes(rows)

    def message(self, message_id: str) -> Envelope | None:
        rows = self._query("SELECT body FROM journal WHERE id=?", (message_id,))
        return self._envelopes(rows)[0] if rows else None

    def causation_chain(self, message_id: str) -> list[Envelope]:
        """The message and its causes, newest first, back to the root."""
        rows = self._query(
            """WITH RECURSIVE chain(id, causation_id, body, depth) AS (
                 SELECT id, causation_id, body, 0 FROM journal WHERE id = ?
                 UNION ALL
                 SELECT j.id, j.causation_id, j.body, chain.depth + 1
                 FROM journal j JOIN chain ON j.id = chain.causation_id
                 WHERE chain.depth < 10000)
               SELECT body FROM chain ORDER BY depth""",
            (message_id,),
        )
        return self._envelopes(rows)

    def tail(self, n: int = 20, cycle_id: str | None = None) -> list[Envelope]:
        if cycle_id is None:
            rows = self._query("SELECT body FROM journal ORDER BY seq DESC LIMIT ?", (n,))
        else:
            rows = self._query(
                "SELECT body FROM journal WHERE cycle_id=? ORDER BY seq DESC LIMIT ?",
                (cycle_id, n),
            )
        return list(reversed(self._envelopes(rows)))

    # -- orders and fills ----------------------------------------------------------------
    def save_order(self, order: Order) -> None:
        """Upsert by order id; a client_ref held by another order is an ``OrderError``."""
        with self._tx() as db:
            holder = db.execute(
                "SELECT order_id FROM orders WHERE client_ref=? AND order_id<>?",
                (order.client_ref, order.order_id),
            ).fetchone()
            if holder is not None:
                raise OrderError(
                    f"client_ref {order.client_ref} already belongs to order {holder[0]}"
                )
            db.execute(
                "INSERT INTO orders(order_id, client_ref, symbol, status, updated_at, body)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(order_id) DO UPDATE SET"
                " status=excluded.status, updated_at=excluded.updated_at, body=excluded.body",
                (
                    order.order_id,
                    order.client_ref,
                    order.symbol,
                    order.status.value,
                    order.updated_at.isoformat(),
                    order.model_dump_json(),
                ),
            )

    def order(self, order_id: str) -> Order | None:
        rows = self._query("SELECT body FROM orders WHERE order_id=?", (order_id,))
        return Order.model_validate_json(rows[0]["body"]) if rows else None

    def order_by_client_ref(self, client_ref: str) -> Order | None:
        rows = self._query("SELECT body FROM orders WHERE client_ref=?", (client_ref,))
        return Order.model_validate_json(rows[0]["body"]) if rows else None

    def orders(self, open_only: bool = False) -> list[Order]:
        if open_only:
            marks = ",".join("?" for _ in OPEN)
            rows = self._query(
                f"SELECT body FROM orders WHERE status IN ({marks}) ORDER BY rowid",
                tuple(s.value for s in OPEN),
            )
        else:
            rows = self._query("SELECT body FROM orders ORDER BY rowid")
        return [Order.model_validate_json(r["body"]) for r in rows]

    def save_fill(self, fill: Fill) -> bool:
        """Store a fill once. Returns False if this ``fill_id`` was already stored."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO fills(fill_id, order_id, ts, body) VALUES (?,?,?,?)",
                (fill.fill_id, fill.order_id, _instant(fill.ts), fill.model_dump_json()),
            )
            return cur.rowcount == 1

    def fills(self, order_id: str | None = None, since: datetime | None = None) -> list[Fill]:
        sql, args = "SELECT body FROM fills WHERE 1=1", []
        if order_id is not None:
            sql += " AND order_id=?"
            args.append(order_id)
        if since is not None:
            sql += " AND ts>=?"
            args.append(_instant(since))
        rows = self._query(sql + " ORDER BY ts, rowid", tuple(args))
        return [Fill.model_validate_json(r["body"]) for r in rows]

    # -- snapshots -----------------------------------------------------------------------
    def save_snapshot(self, portfolio: Portfolio, label: str = "") -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO snapshots(label, ts, body) VALUES (?,?,?)",
                (label, portfolio.as_of.isoformat(), portfolio.model_dump_json()),
            )

    def latest_snapshot(self, label: str = "") -> Portfolio | None:
        rows = self._query(
            "SELECT body FROM snapshots WHERE label=? ORDER BY id DESC LIMIT 1", (label,)
        )
        return Portfolio.model_validate_json(rows[0]["body"]) if rows else None

    # -- key-value with history ----------------------------------------------------------
    def kv_set(self, key: str, value: Any, actor: str = "system") -> KvEntry:
        with self._tx() as db:
            row = db.execute("SELECT MAX(version) FROM kv WHERE key=?", (key,)).fetchone()
            version = (row[0] or 0) + 1
            ts = _now()
            db.execute(
                "INSERT INTO kv(key, version, value, ts, actor) VALUES (?,?,?,?,?)",
                (key, version, json.dumps(value, default=str), ts, actor),
            )
        return KvEntry(
            key=key, value=value, version=version, ts=datetime.fromisoformat(ts), actor=actor
        )

    def kv_get(self, key: str) -> Any | None:
        rows = self._query("SELECT value FROM kv WHERE key=? ORDER BY version DESC LIMIT 1", (key,))
        return json.loads(rows[0]["value"]) if rows else None

    def kv_history(self, key: str) -> list[KvEntry]:
        rows = self._query("SELECT * FROM kv WHERE key=? ORDER BY version", (key,))
        return [
            KvEntry(
                key=r["key"],
                value=json.loads(r["value"]),
                version=r["version"],
                ts=datetime.fromisoformat(r["ts"]),
                actor=r["actor"],
            )
            for r in rows
        ]

    # -- documents (proposals, agent memory) -------------------------------------------
    def put_document(self, collection: str, key: str, doc: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO documents(collection, key, body, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT(collection, key) DO UPDATE SET body=excluded.body,"
                " updated_at=excluded.updated_at",
                (collection, key, json.dumps(doc, default=str), _now()),
            )

    def get_document(self, collection: str, key: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT body FROM documents WHERE collection=? AND key=?", (collection, key)
        )
        return json.loads(rows[0]["body"]) if rows else None

    def documents(self, collection: str) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT body FROM documents WHERE collection=? ORDER BY updated_at, key",
            (collection,),
        )
        return [json.loads(r["body"]) for r in rows]

    # -- audit chain ---------------------------------------------------------------------
    def audit_append(self, record: AuditRecord) -> None:
        """Append ``record`` if it extends the head; a retry of the record already stored
        there is a no-op. Anything else (a concurrent writer sealed the same seq, or the
        record does not follow the head) is an ``AuditChainError``, checked and written in
        one IMMEDIATE transaction so two processes cannot both extend the same head."""
        with self._tx() as db:
            head = db.execute("SELECT seq, mac FROM audit_head WHERE id=1").fetchone()
            if head is not None and int(head["seq"]) >= record.seq:
                stored = db.execute(
                    "SELECT mac FROM audit WHERE seq=? ORDER BY pos", (record.seq,)
                ).fetchall()
                if [r["mac"] for r in stored] == [record.mac]:
                    return  # the same record again (a retry whose first write had landed)
                raise AuditChainError(
                    f"audit seq {record.seq} already holds another record (concurrent writer?)"
                )
            want_seq, want_prev = (
                (1, GENESIS_MAC) if head is None else (head["seq"] + 1, head["mac"])
            )
            if record.seq != want_seq or record.prev_mac != want_prev:
                raise AuditChainError(
                    f"audit record seq {record.seq} does not extend the head "
                    f"(next is seq {want_seq})"
                )
            db.execute(
                "INSERT INTO audit(seq, ts, actor, action, data, prev_mac, mac)"
                " VALUES (?,?,?,?,?,?,?)",
                (
                    record.seq,
                    record.ts.isoformat(),
                    record.actor,
                    record.action,
                    json.dumps(record.data, sort_keys=True),
                    record.prev_mac,
                    record.mac,
                ),
            )
            db.execute(
                "INSERT INTO audit_head(id, seq, mac) VALUES (1, ?, ?) ON CONFLICT(id)"
                " DO UPDATE SET seq=excluded.seq, mac=excluded.mac",
                (record.seq, record.mac),
            )

    @staticmethod
    def _audit(row: sqlite3.Row) -> AuditRecord:
        return AuditRecord(
            seq=row["seq"],
            ts=datetime.fromisoformat(row["ts"]),
            actor=row["actor"],
            action=row["action"],
            data=json.loads(row["data"]),
            prev_mac=row["prev_mac"],
            mac=row["mac"],
        )

    def audit_last(self) -> AuditRecord | None:
        rows = self._query("SELECT * FROM audit ORDER BY pos DESC LIMIT 1")
        return self._audit(rows[0]) if rows else None

    def audit_records(self) -> list[AuditRecord]:
        # Storage order (pos), not seq: a record moved or re-inserted out of place shows up.
        return [self._audit(r) for r in self._query("SELECT * FROM audit ORDER BY pos")]

    def audit_head(self) -> tuple[int, str] | None:
        rows = self._query("SELECT seq, mac FROM audit_head WHERE id=1")
        return (int(rows[0]["seq"]), str(rows[0]["mac"])) if rows else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
