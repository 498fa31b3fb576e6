"""One body of tests for every bus: the in-process bus and Redis Streams."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import redis

from adapters.bus.idempotent import (
    AppliedLedger,
    IdempotentConsumer,
    MemoryAppliedLedger,
    RedisAppliedLedger,
)
from adapters.bus.memory import InMemoryBus
from adapters.bus.policy import StreamPolicy
from adapters.bus.redis import RedisStreamBus
from core import topics
from core.messages import Envelope, Note
from core.ports import Bus, ReliableBus

TOPIC = topics.A2A
OTHER = topics.desk(topics.ORDERS_EVENTS, "execution")
POLICY = StreamPolicy(maxlen=10_000, claim_idle_ms=150, max_deliveries=3)


def note(i: int, cycle: str = "c1") -> Envelope:
    return Envelope(cycle_id=cycle, sender="tester", payload=Note(topic="n", data={"i": i}))


@dataclass
class Harness:
    make: Callable[[StreamPolicy], ReliableBus]
    make_ledger: Callable[[str], AppliedLedger]
    buses: list[ReliableBus] = field(default_factory=list)

    def bus(self, policy: StreamPolicy = POLICY) -> ReliableBus:
        b = self.make(policy)
        self.buses.append(b)
        return b

    @staticmethod
    def let_idle() -> None:
        """Wait past the claim timeout so unacked deliveries count as abandoned."""
        time.sleep(POLICY.claim_idle_ms / 1000 + 0.05)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        shared: dict[str, MemoryAppliedLedger] = {}
        memory_bus: list[InMemoryBus] = []

        def make_memory(policy: StreamPolicy) -> ReliableBus:
            # Several "processes" of one in-process bus share its state: same object.
            if not memory_bus or memory_bus[0].policy != policy:
                memory_bus.insert(0, InMemoryBus(policy))
            return memory_bus[0]

        h = Harness(make_memory, lambda name: shared.setdefault(name, MemoryAppliedLedger()))
    else:
        url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_prefix")
        client = redis.Redis.from_url(url)

        def make_redis(policy: StreamPolicy) -> ReliableBus:
            return RedisStreamBus.from_url(url, policy=policy, prefix=prefix)

        h = Harness(make_redis, lambda name: RedisAppliedLedger(client, name, prefix=prefix))
    yield h
    for b in h.buses:
        b.close()


def test_bus_implementations_satisfy_the_ports(harness: Harness) -> None:
    bus = harness.bus()
    assert isinstance(bus, Bus)
    assert isinstance(bus, ReliableBus)


def test_consume_when_published_then_delivers_in_order_with_equal_envelopes(
    harness: Harness,
) -> None:
    bus = harness.bus()
    sent = [note(i) for i in range(5)]
    ids = [bus.publish(TOPIC, m) for m in sent]
    assert len(set(ids)) == 5
    got = bus.consume(TOPIC, "g", "c1", count=10)
    assert [d.message for d in got] == sent
    assert [d.delivery_id for d in got] == ids
    assert all(d.attempts == 1 and d.topic == TOPIC for d in got)
    assert bus.pending(TOPIC, "g") == 5


def test_ack_when_all_acked_then_nothing_pending_and_nothing_redelivered(harness: Harness) -> None:
    bus = harness.bus()
    for i in range(3):
        bus.publish(TOPIC, note(i))
    got = bus.consume(TOPIC, "g", "c1", count=10)
    bus.ack(TOPIC, "g", got[0].delivery_id)
    bus.ack_many(TOPIC, "g", [d.delivery_id for d in got[1:]])
    assert bus.pending(TOPIC, "g") == 0
    harness.let_idle()
    assert bus.consume(TOPIC, "g", "c2", count=10) == []


def test_consume_when_count_smaller_than_backlog_then_delivers_in_batches(harness: Harness) -> None:
    bus = harness.bus()
    sent = [note(i) for i in range(7)]
    for m in sent:
        bus.publish(TOPIC, m)
    first = bus.consume(TOPIC, "g", "c1", count=3)
    second = bus.consume(TOPIC, "g", "c1", count=10)
    assert [d.message for d in first + second] == sent
    assert len(first) == 3


def test_groups_when_two_groups_then_each_gets_every_message(harness: Harness) -> None:
    bus = harness.bus()
    sent = [note(i) for i in range(4)]
    for m in sent:
        bus.publish(TOPIC, m)
    a = bus.consume(TOPIC, "risk", "c1", count=10)
    b = bus.consume(TOPIC, "journal", "c1", count=10)
    assert [d.message for d in a] == sent
    assert [d.message for d in b] == sent


def test_groups_when_two_consumers_in_one_group_then_messages_are_split(harness: Harness) -> None:
    bus = harness.bus()
    sent = [note(i) for i in range(6)]
    for m in sent:
        bus.publish(TOPIC, m)
    a = bus.consume(TOPIC, "g", "alice", count=3)
    b = bus.consume(TOPIC, "g", "bob", count=10)
    assert {d.message.id for d in a}.isdisjoint({d.message.id for d in b})
    assert sorted(d.message.id for d in a + b) == sorted(m.id for m in sent)


def test_topics_when_published_to_one_then_other_stays_empty(harness: Harness) -> None:
    bus = harness.bus()
    bus.publish(TOPIC, note(1))
    assert bus.consume(OTHER, "g", "c1") == []
    assert bus.length(OTHER) == 0
    assert bus.length(TOPIC) == 1


def test_redelivery_when_unacked_before_timeout_then_not_redelivered(harness: Harness) -> None:
    bus = harness.bus()
    bus.publish(TOPIC, note(1))
    assert len(bus.consume(TOPIC, "g", "c1")) == 1
    assert bus.consume(TOPIC, "g", "c2") == []


def test_redelivery_when_consumer_silent_past_timeout_then_other_consumer_gets_it(
    harness: Harness,
) -> None:
    bus = harness.bus()
    m = note(1)
    bus.publish(TOPIC, m)
    first = bus.consume(TOPIC, "g", "crashed")
    harness.let_idle()
    again = bus.consume(TOPIC, "g", "survivor")
    assert [d.message for d in again] == [m]
    assert again[0].delivery_id == first[0].delivery_id
    assert again[0].attempts == 2


def test_crash_mid_batch_then_every_message_redelivered_and_applied_exactly_once(
    harness: Harness,
) -> None:
    class Crash(BaseException):
        """Not an Exception: escapes the consumer like a process dying."""

    bus = harness.bus()
    sent = [note(i) for i in range(10)]
    for m in sent:
        bus.publish(TOPIC, m)
    applied: list[str] = []

    def dies_after_four(m: Envelope) -> None:
        if len(applied) == 4:
            raise Crash
        applied.append(m.id)

    def applied_by_survivor(m: Envelope) -> None:
        applied.append(m.id)

    crashing = IdempotentConsumer(
        bus, TOPIC, "appliers", "c1", harness.make_ledger("appliers"), dies_after_four
    )
    with pytest.raises(Crash):
        crashing.poll(count=10)
    assert bus.pending(TOPIC, "appliers") == 10  # nothing acked

    harness.let_idle()
    survivor = IdempotentConsumer(
        bus, TOPIC, "appliers", "c2", harness.make_ledger("appliers"), applied_by_survivor
    )
    result = survivor.poll(count=10)
    # Every message delivered again: 6 applied now, the 4 applied before the crash skipped.
    assert (result.applied, result.duplicates, result.failed) == (6, 4, 0)
    assert sorted(applied) == sorted(m.id for m in sent)  # each applied exactly once
    assert bus.pending(TOPIC, "appliers") == 0


def test_fail_when_attempts_left_then_redelivered_without_waiting(harness: Harness) -> None:
    bus = harness.bus()
    m = note(1)
    bus.publish(TOPIC, m)
    d = bus.consume(TOPIC, "g", "c1")[0]
    bus.fail(TOPIC, "g", d.delivery_id, "boom")
    again = bus.consume(TOPIC, "g", "c1")
    assert [x.message for x in again] == [m]
    assert again[0].attempts == 2
    assert bus.dead_letters(TOPIC) == []


def test_dead_letter_when_handler_fails_n_times_then_moved_with_error(harness: Harness) -> None:
    bus = harness.bus()
    good, poison = note(1), note(2)
    bus.publish(TOPIC, poison)
    bus.publish(TOPIC, good)
    applied: list[Envelope] = []

    def handler(m: Envelope) -> None:
        if m.id == poison.id:
            raise ValueError("cannot apply")
        applied.append(m)

    consumer = IdempotentConsumer(bus, TOPIC, "g", "c1", harness.make_ledger("g"), handler)
    failures = sum(consumer.poll(count=10).failed for _ in range(POLICY.max_deliveries + 2))
    assert failures == POLICY.max_deliveries
    assert applied == [good]
    dead = bus.dead_letters(TOPIC)
    assert [d.message for d in dead] == [poison]
    assert dead[0].attempts == POLICY.max_deliveries
    assert dead[0].error is not None and "ValueError: cannot apply" in dead[0].error
    assert bus.pending(TOPIC, "g") == 0


def test_dead_letter_when_abandoned_n_times_then_moved_as_abandoned(harness: Harness) -> None:
    bus = harness.bus()
    m = note(1)
    bus.publish(TOPIC, m)
    deliveries = 0
    for _ in range(POLICY.max_deliveries + 1):
        deliveries += len(bus.consume(TOPIC, "g", f"doomed-{deliveries}"))
        harness.let_idle()
    assert deliveries == POLICY.max_deliveries
    dead = bus.dead_letters(TOPIC)
    assert [d.message for d in dead] == [m]
    assert dead[0].error is not None and dead[0].error.startswith("abandoned")
    assert bus.consume(TOPIC, "g", "late") == []


def test_fail_when_already_acked_then_nothing_happens(harness: Harness) -> None:
    bus = harness.bus()
    bus.publish(TOPIC, note(1))
    d = bus.consume(TOPIC, "g", "c1")[0]
    bus.ack(TOPIC, "g", d.delivery_id)
    bus.fail(TOPIC, "g", d.delivery_id, "late failure")
    assert bus.consume(TOPIC, "g", "c1") == []
    assert bus.dead_letters(TOPIC) == []


def test_length_when_more_published_than_maxlen_then_stream_is_bounded(harness: Harness) -> None:
    small = StreamPolicy(maxlen=50, claim_idle_ms=POLICY.claim_idle_ms)
    bus = harness.bus(small)
    sent = [note(i) for i in range(600)]
    for m in sent:
        bus.publish(TOPIC, m)
    # Redis trims with MAXLEN ~: whole macro nodes (100 entries) at a time.
    assert 50 <= bus.length(TOPIC) <= 50 + 100
    got = bus.consume(TOPIC, "late-group", "c1", count=1000)
    assert got[-1].message == sent[-1]
    assert len(got) == bus.length(TOPIC)
    assert got[0].message != sent[0]


def test_pending_when_trimmed_away_before_redelivery_then_dropped_not_dead_lettered(
    harness: Harness,
) -> None:
    bus = harness.bus(StreamPolicy(maxlen=50, claim_idle_ms=POLICY.claim_idle_ms))
    lost = note(0)
    bus.publish(TOPIC, lost)
    assert [d.message for d in bus.consume(TOPIC, "g", "crashed", count=1)] == [lost]
    for i in range(1, 400):  # enough for MAXLEN ~ to drop whole macro nodes in Redis
        bus.publish(TOPIC, note(i))
    harness.let_idle()
    got = bus.consume(TOPIC, "g", "survivor", count=1000)
    assert lost not in [d.message for d in got]
    assert got and all(d.attempts == 1 for d in got)  # new deliveries only
    assert bus.pending(TOPIC, "g") == len(got)  # the trimmed one left the pending list
    assert bus.dead_letters(TOPIC) == []


def test_dead_letters_when_count_given_then_oldest_first_up_to_count(harness: Harness) -> None:
    bus = harness.bus()
    sent = [note(i) for i in range(3)]
    for m in sent:
        bus.publish(TOPIC, m)
    for _ in range(POLICY.max_deliveries):
        for d in bus.consume(TOPIC, "g", "c1", count=10):
            bus.fail(TOPIC, "g", d.delivery_id, "poison")
    assert [d.message for d in bus.dead_letters(TOPIC)] == sent
    assert [d.message for d in bus.dead_letters(TOPIC, count=2)] == sent[:2]
    assert bus.dead_letters(OTHER) == []


@pytest.mark.parametrize(("count", "block_ms"), [(0, 0), (-1, 0), (1, -5)])
def test_consume_when_count_or_block_invalid_then_value_error_and_nothing_delivered(
    harness: Harness, count: int, block_ms: int
) -> None:
    bus = harness.bus()
    bus.publish(TOPIC, note(1))
    with pytest.raises(ValueError, match="consume"):
        bus.consume(TOPIC, "g", "c1", count=count, block_ms=block_ms)
    assert bus.pending(TOPIC, "g") == 0
    assert len(bus.consume(TOPIC, "g", "c1", count=10)) == 1


def test_consume_when_blocking_then_wakes_on_publish(harness: Harness) -> None:
    bus = harness.bus()
    m = note(1)
    timer = threading.Timer(0.1, lambda: harness.bus().publish(TOPIC, m))
    bus.consume(TOPIC, "g", "c1")  # creates the group before the publish
    t0 = time.monotonic()
    timer.start()
    got = bus.consume(TOPIC, "g", "c1", block_ms=3000)
    timer.join()
    assert [d.message for d in got] == [m]
    assert time.monotonic() - t0 < 2.0


def test_consume_when_blocking_and_nothing_arrives_then_returns_empty_after_timeout(
    harness: Harness,
) -> None:
    bus = harness.bus()
    t0 = time.monotonic()
    assert bus.consume(TOPIC, "g", "c1", block_ms=200) == []
    assert 0.15 <= time.monotonic() - t0 < 2.0
