"""Idempotent consumers: delivery is at-least-once, application is once per message id.

A ledger records the ids of messages already applied. A message delivered again (its
consumer crashed before acking, or an ack was lost) is acked without being applied a
second time. The handler's effect and ``mark_applied`` are two steps: a crash exactly
between them applies the message again on redelivery, so handlers whose effect lives in
the same database as the ledger should record both in one write.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from core.messages import Envelope
from core.ports import ReliableBus


class AppliedLedger(Protocol):
    def is_applied(self, message_id: str) -> bool: ...
    def mark_applied(self, message_id: str) -> None: ...


class MemoryAppliedLedger:
    """Bounded: remembers the newest ``capacity`` ids (older redeliveries are unlikely)."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def is_applied(self, message_id: str) -> bool:
        return message_id in self._ids

    def mark_applied(self, message_id: str) -> None:
        self._ids[message_id] = None
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


class RedisAppliedLedger:
    """One key per applied id, expiring after ``ttl_s``; shared by every process."""

    def __init__(
        self, client: redis.Redis, name: str, prefix: str = "quorum:", ttl_s: int = 7 * 86400
    ) -> None:
        self._r = client
        self._base = f"{prefix}applied:{name}:"
        self._ttl_s = ttl_s

    def is_applied(self, message_id: str) -> bool:
        return bool(self._r.exists(self._base + message_id))

    def mark_applied(self, message_id: str) -> None:
        self._r.set(self._base + message_id, b"1", ex=self._ttl_s)


@dataclass(frozen=True)
class PollResult:
    applied: int = 0
    duplicates: int = 0
    failed: int = 0


class IdempotentConsumer:
    """Consume ``topic`` as ``consumer`` of ``group``; apply each message id at most once.

    A handler that raises reports the delivery as failed (it comes back, and after
    ``max_deliveries`` goes to the dead letters); the rest of the batch carries on.
    """

    def __init__(
        self,
        bus: ReliableBus,
        topic: str,
        group: str,
        consumer: str,
        ledger: AppliedLedger,
        handler: Callable[[Envelope], None],
    ) -> None:
        self.bus, self.topic, self.group, self.consumer = bus, topic, group, consumer
        self.ledger = ledger
        self.handler = handler

    def poll(self, count: int = 10, block_ms: int = 0) -> PollResult:
        applied = duplicates = failed = 0
        done: list[str] = []
        for delivery in self.bus.consume(self.topic, self.group, self.consumer, count, block_ms):
            message_id = delivery.message.id
            if self.ledger.is_applied(message_id):
                duplicates += 1
                done.append(delivery.delivery_id)
                continue
            try:
                self.handler(delivery.message)
            except Exception as exc:  # any handler failure: redeliver, then dead-letter
                failed += 1
                self.bus.fail(
                    self.topic, self.group, delivery.delivery_id, f"{type(exc).__name__}: {exc}"
                )
                continue
            self.ledger.mark_applied(message_id)
            applied += 1
            done.append(delivery.delivery_id)
        self.bus.ack_many(self.topic, self.group, done)
        return PollResult(applied=applied, duplicates=duplicates, failed=failed)
