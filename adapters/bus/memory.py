"""In-process bus with the Redis bus's semantics: consumer groups, at-least-once delivery,
redelivery of unacked messages after ``claim_idle_ms``, dead letters after
``max_deliveries``, length-bounded streams. Thread-safe; one process only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.bus.policy import StreamPolicy, check_consume_args
from core import topics
from core.messages import Envelope
from core.ports import Delivery

ABANDONED = "abandoned: delivery timed out"


@dataclass
class _Pending:
    consumer: str
    delivered_at: float
    times: int
    error: str | None = None
    due_now: bool = False


@dataclass
class _Group:
    last_seq: int = 0
    pending: dict[int, _Pending] = field(default_factory=dict)


@dataclass
class _Stream:
    entries: deque[tuple[int, Envelope]] = field(default_factory=deque)
    next_seq: int = 1
    groups: dict[str, _Group] = field(default_factory=dict)

    def get(self, seq: int) -> Envelope | None:
        if not self.entries or seq < self.entries[0][0] or seq > self.entries[-1][0]:
            return None
        return self.entries[seq - self.entries[0][0]][1]


def _seq(delivery_id: str) -> int:
    try:
        return int(delivery_id.split("-", 1)[0])
    except ValueError:
        raise KeyError(f"not a delivery id of this bus: {delivery_id!r}") from None


class InMemoryBus:
    """The single-process default. ``clock`` is injectable for tests of timeouts."""

    def __init__(
        self, policy: StreamPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or StreamPolicy()
        self._clock = clock
        self._streams: dict[str, _Stream] = {}
        self._dead: dict[str, deque[Delivery]] = {}
        self._cond = threading.Condition()
        self._closed = False

    # -- Bus ------------------------------------------------------------------------------
    def publish(self, topic: str, message: Envelope) -> str:
        with self._cond:
            self._check_open()
            stream = self._streams.setdefault(topic, _Stream())
            seq = stream.next_seq
            stream.next_seq += 1
            stream.entries.append((seq, message))
            while len(stream.entries) > self.policy.maxlen:
                stream.entries.popleft()
            self._cond.notify_all()
            return f"{seq}-0"

    def publish_many(self, topic: str, messages: list[Envelope]) -> list[str]:
        return [self.publish(topic, m) for m in messages]

    def consume(
        self, topic: str, group: str, consumer: str, count: int = 10, block_ms: int = 0
    ) -> list[Delivery]:
        check_consume_args(count, block_ms)
        deadline = self._clock() + block_ms / 1000
        with self._cond:
            while True:
                self._check_open()
                stream = self._streams.setdefault(topic, _Stream())
                grp = stream.groups.setdefault(group, _Group())
                out = self._reclaim(topic, stream, grp, group, consumer, count)
                out += self._new(topic, stream, grp, consumer, count - len(out))
                remaining = deadline - self._clock()
                if out or remaining <= 0:
                    return out
                self._cond.wait(timeout=min(remaining, self.policy.reclaim_interval_s))

    def ack(self, topic: str, group: str, delivery_id: str) -> None:
        self.ack_many(topic, group, [delivery_id])

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- ReliableBus ----------------------------------------------------------------------
    def ack_many(self, topic: str, group: str, delivery_ids: list[str]) -> None:
        with self._cond:
            grp = self._group(topic, group)
            if grp is None:
                return
            for delivery_id in delivery_ids:
                grp.pending.pop(_seq(delivery_id), None)

    def fail(self, topic: str, group: str, delivery_id: str, error: str = "") -> None:
        with self._cond:
            stream = self._streams.get(topic)
            grp = self._group(topic, group)
            seq = _seq(delivery_id)
            if stream is None or grp is None or seq not in grp.pending:
                return  # already acked, dead-lettered or reclaimed and acked elsewhere
            p = grp.pending[seq]
            p.error = error or "failed"
            if p.times >= self.policy.max_deliveries:
                self._to_dead_letter(topic, stream, grp, group, seq)
            else:
                p.due_now = True
            self._cond.notify_all()

    def dead_letters(self, topic: str, count: int = 100) -> list[Delivery]:
        with self._cond:
            return list(self._dead.get(topics.dead_letter(topic), ()))[:count]

    def pending(self, topic: str, group: str) -> int:
        with self._cond:
            grp = self._group(topic, group)
            return 0 if grp is None else len(grp.pending)

    def length(self, topic: str) -> int:
        with self._cond:
            stream = self._streams.get(topic)
            return 0 if stream is None else len(stream.entries)

    # -- internals (called with the condition held) ---------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("bus is closed")

    def _group(self, topic: str, group: str) -> _Group | None:
        stream = self._streams.get(topic)
        return None if stream is None else stream.groups.get(group)

    def _reclaim(
        self, topic: str, stream: _Stream, grp: _Group, group: str, consumer: str, count: int
    ) -> list[Delivery]:
        now = self._clock()
        idle_s = self.policy.claim_idle_ms / 1000
        out: list[Delivery] = []
        for seq in sorted(grp.pending):
            if len(out) >= count:
                break
            p = grp.pending[seq]
            if not p.due_now and now - p.delivered_at < idle_s:
                continue
            message = stream.get(seq)
            if message is None:  # trimmed away while pending: nothing left to deliver
                del grp.pending[seq]
            elif p.times >= self.policy.max_deliveries:
                self._to_dead_letter(topic, stream, grp, group, seq)
            else:
                p.consumer, p.delivered_at, p.due_now = consumer, now, False
                p.times += 1
                out.append(
                    Delivery(delivery_id=f"{seq}-0", topic=topic, message=message, attempts=p.times)
                )
        return out

    def _new(
        self, topic: str, stream: _Stream, grp: _Group, consumer: str, count: int
    ) -> list[Delivery]:
        if count <= 0 or not stream.entries:
            return []
        first = stream.entries[0][0]
        start = max(grp.last_seq + 1, first)
        now = self._clock()
        out: list[Delivery] = []
        for seq in range(start, min(start + count, stream.next_seq)):
            message = stream.entries[seq - first][1]
            grp.pending[seq] = _Pending(consumer=consumer, delivered_at=now, times=1)
            grp.last_seq = seq
            out.append(Delivery(delivery_id=f"{seq}-0", topic=topic, message=message))
        return out

    def _to_dead_letter(
        self, topic: str, stream: _Stream, grp: _Group, group: str, seq: int
    ) -> None:
        p = grp.pending.pop(seq)
        message = stream.get(seq)
        if message is None:
            return
        dead = self._dead.setdefault(
            topics.dead_letter(topic), deque(maxlen=self.policy.dead_maxlen)
        )
        dead.append(
            Delivery(
                delivery_id=f"{seq}-0",
                topic=topic,
                message=message,
                attempts=p.times,
                error=p.error or ABANDONED,
            )
        )
