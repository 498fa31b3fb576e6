"""Tamper-evident audit log: an HMAC-SHA256 hash chain.

Each record's MAC covers its own content and the previous record's MAC, so editing,
deleting, inserting or reordering any record breaks every MAC from that point on.
Deleting the newest records is caught by comparing against the stored head (sequence
and MAC of the last record written), which the store keeps separately.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from core.errors import AuditChainError
from core.orders import utcnow

GENESIS_MAC = "0" * 64
APPEND_ATTEMPTS = 5  # concurrent writers: re-seal on top of the new head this many times


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    ts: datetime
    actor: str
    action: str
    data: dict[str, Any] = Field(default_factory=dict)
    prev_mac: str
    mac: str


class AuditVerification(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    records: int
    first_bad_seq: int | None = None
    reason: str | None = None


def _content(seq: int, ts: datetime, actor: str, action: str, data: dict[str, Any]) -> bytes:
    doc = {"seq": seq, "ts": ts.isoformat(), "actor": actor, "action": action, "data": data}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_mac(
    key: bytes, prev_mac: str, seq: int, ts: datetime, actor: str, action: str, data: dict[str, Any]
) -> str:
    msg = prev_mac.encode() + b"|" + _content(seq, ts, actor, action, data)
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def seal(
    key: bytes,
    previous: AuditRecord | None,
    actor: str,
    action: str,
    data: dict[str, Any],
    ts: datetime | None = None,
) -> AuditRecord:
    """The next record of the chain after ``previous``."""
    seq = 1 if previous is None else previous.seq + 1
    prev_mac = GENESIS_MAC if previous is None else previous.mac
    when = ts or utcnow()
    # Round-trip data through JSON so what is sealed is exactly what storage returns.
    clean = json.loads(json.dumps(data, sort_keys=True, default=str))
    mac = compute_mac(key, prev_mac, seq, when, actor, action, clean)
    return AuditRecord(
        seq=seq, ts=when, actor=actor, action=action, data=clean, prev_mac=prev_mac, mac=mac
    )


def verify_chain(
    key: bytes, records: Iterable[AuditRecord], head: tuple[int, str] | None = None
) -> AuditVerification:
    """Check every record in storage order. Names the first bad record, if any."""
    prev_mac = GENESIS_MAC
    expected_seq = 1
    count = 0
    last: AuditRecord | None = None
    for rec in records:
        count += 1
        if rec.seq != expected_seq:
            return AuditVerification(
                ok=False,
                records=count,
                first_bad_seq=rec.seq,
                reason=f"sequence {rec.seq} where {expected_seq} expected "
                "(record deleted, inserted or reordered)",
            )
        if not hmac.compare_digest(rec.prev_mac, prev_mac):
            return AuditVerification(
                ok=False,
                records=count,
                first_bad_seq=rec.seq,
                reason="previous-MAC link broken (record deleted, inserted or reordered before it)",
            )
        want = compute_mac(key, prev_mac, rec.seq, rec.ts, rec.actor, rec.action, rec.data)
        if not hmac.compare_digest(want, rec.mac):
            return AuditVerification(
                ok=False,
                records=count,
                first_bad_seq=rec.seq,
                reason="MAC mismatch (record content edited or wrong key)",
            )
        prev_mac = rec.mac
        expected_seq += 1
        last = rec
    if head is not None:
        head_seq, head_mac = head
        if last is None or last.seq != head_seq or not hmac.compare_digest(last.mac, head_mac):
            missing_from = (last.seq + 1) if last else 1
            return AuditVerification(
                ok=False,
                records=count,
                first_bad_seq=missing_from,
                reason=f"chain ends before the recorded head seq {head_seq} "
                "(newest records deleted)",
            )
    return AuditVerification(ok=True, records=count)


class AuditSink(Protocol):
    def audit_append(self, record: AuditRecord) -> None: ...
    def audit_last(self) -> AuditRecord | None: ...
    def audit_records(self) -> list[AuditRecord]: ...
    def audit_head(self) -> tuple[int, str] | None: ...


class AuditLog:
    """Appends sealed records to a store and verifies the whole chain."""

    def __init__(self, sink: AuditSink, key: bytes) -> None:
        self._sink = sink
        self._key = key
        self._lock = threading.Lock()

    def append(self, actor: str, action: str, data: dict[str, Any] | None = None) -> AuditRecord:
        """Seal and store the next record. Another process may extend the chain between
        our read of the last record and our write; the store then refuses the record
        (``AuditChainError``) and we seal again on top of the new last record."""
        with self._lock:
            for attempt in range(APPEND_ATTEMPTS):
                record = seal(self._key, self._sink.audit_last(), actor, action, data or {})
                try:
                    self._sink.audit_append(record)
                except AuditChainError:
                    if attempt == APPEND_ATTEMPTS - 1:
                        raise
                    continue
                return record
            raise AssertionError("unreachable")  # pragma: no cover

    def verify(self) -> AuditVerification:
        return verify_chain(self._key, self._sink.audit_records(), self._sink.audit_head())
