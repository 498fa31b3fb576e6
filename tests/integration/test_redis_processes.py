"""Redis backends across real OS processes: what the in-process tests cannot show."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapters.bus.idempotent import IdempotentConsumer, RedisAppliedLedger
from adapters.bus.policy import StreamPolicy
from adapters.bus.redis import RedisStreamBus
from adapters.state.redis_state import RedisSharedState
from core import topics
from core.messages import Envelope, Note

pytestmark = pytest.mark.redis

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY = StreamPolicy(claim_idle_ms=300, max_deliveries=3)


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _line(proc: subprocess.Popen[str], timeout_s: float = 30.0) -> str:
    """Next stdout line of a child, failing (with its stderr) if it dies first."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=timeout_s)
        err = proc.stderr.read() if proc.stderr else ""
        pytest.fail(f"child exited {proc.returncode} without output: {err[-2000:]}")
    return line.strip()


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        for stream in (p.stdin, p.stdout, p.stderr):
            if stream:
                stream.close()


KILL_SWITCH_WATCHER = """
    import sys, time
    from adapters.state.redis_state import RedisSharedState
    state = RedisSharedState.from_url(sys.argv[1], prefix=sys.argv[2])
    v0 = state.status().version
    print("ready", v0, flush=True)
    seen = state.wait_for_change(v0, timeout_s=20)
    print("seen", repr(time.time()), int(seen.kill_switch), seen.effective.value, flush=True)
"""


def test_kill_switch_when_engaged_then_another_process_sees_it_within_100ms(
    redis_url: str, redis_prefix: str, children: list[subprocess.Popen[str]]
) -> None:
    watcher = _spawn(KILL_SWITCH_WATCHER, redis_url, redis_prefix)
    children.append(watcher)
    assert _line(watcher).startswith("ready")
    time.sleep(0.2)  # let it subscribe and block
    state = RedisSharedState.from_url(redis_url, prefix=redis_prefix)
    engaged_at = time.time()
    state.engage_kill_switch("drawdown 5.1% > 5%", actor="drawdown_guard")
    word, seen_at, kill, effective = _line(watcher).split()
    state.close()
    assert (word, kill, effective) == ("seen", "1", "HALTED")
    assert float(seen_at) - engaged_at < 0.100


LIMITER_CLIENT = """
    import sys, time
    from adapters.state.redis_state import RedisSharedState
    state = RedisSharedState.from_url(sys.argv[1], prefix=sys.argv[2])
    limiter = state.rate_limiter("ibkr", capacity=int(sys.argv[3]), refill_per_s=float(sys.argv[4]))
    print("ready", flush=True)
    start, end = map(float, sys.stdin.readline().split())
    time.sleep(max(0.0, start - time.time()))
    granted = 0
    while (left := end - time.time()) > 0:
        granted += limiter.acquire(timeout_s=left)
    print("granted", granted, flush=True)
"""


def test_rate_limiter_when_two_processes_compete_then_budget_shared_fairly(
    redis_url: str, redis_prefix: str, children: list[subprocess.Popen[str]]
) -> None:
    capacity, rate, duration = 5, 40.0, 1.5
    procs = [
        _spawn(LIMITER_CLIENT, redis_url, redis_prefix, str(capacity), str(rate)) for _ in "ab"
    ]
    children.extend(procs)
    for p in procs:
        assert _line(p) == "ready"
    start = time.time() + 0.3
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(f"{start} {start + duration}\n")
        p.stdin.flush()
    granted = [int(_line(p).split()[1]) for p in procs]
    budget = capacity + rate * duration
    assert sum(granted) <= budget + 1  # never more than the one shared bucket allows
    assert sum(granted) >= 0.85 * budget  # and the budget is used, not wasted
    assert min(granted) / sum(granted) >= 0.35  # neither process starves the other


CRASHING_CONSUMER = """
    import sys, time, redis
    from adapters.bus.idempotent import IdempotentConsumer, RedisAppliedLedger
    from adapters.bus.policy import StreamPolicy
    from adapters.bus.redis import RedisStreamBus
    from core import topics
    url, prefix = sys.argv[1], sys.argv[2]
    client = redis.Redis.from_url(url)
    bus = RedisStreamBus(client, StreamPolicy(claim_idle_ms=300, max_deliveries=3), prefix)
    applied = 0
    def apply(m):
        global applied
        if applied == 4:
            print("crashing", flush=True)
            time.sleep(3600)  # the parent SIGKILLs us here, mid-batch, nothing acked
        client.rpush(prefix + "effects", m.id)
        applied += 1
    ledger = RedisAppliedLedger(client, "appliers", prefix=prefix)
    IdempotentConsumer(bus, topics.A2A, "appliers", "worker-1", ledger, apply).poll(count=10)
"""


def test_consumer_process_killed_mid_batch_then_survivor_applies_each_message_once(
    redis_url: str, redis_prefix: str, children: list[subprocess.Popen[str]]
) -> None:
    client = redis.Redis.from_url(redis_url)
    bus = RedisStreamBus(client, POLICY, redis_prefix)
    sent = [
        Envelope(cycle_id="c1", sender="tester", payload=Note(topic="n", data={"i": i}))
        for i in range(10)
    ]
    for m in sent:
        bus.publish(topics.A2A, m)
    worker = _spawn(CRASHING_CONSUMER, redis_url, redis_prefix)
    children.append(worker)
    assert _line(worker) == "crashing"
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert bus.pending(topics.A2A, "appliers") == 10

    def apply(m: Envelope) -> None:
        client.rpush(redis_prefix + "effects", m.id)

    ledger = RedisAppliedLedger(client, "appliers", prefix=redis_prefix)
    survivor = IdempotentConsumer(bus, topics.A2A, "appliers", "worker-2", ledger, apply)
    time.sleep(POLICY.claim_idle_ms / 1000 + 0.1)
    result = survivor.poll(count=10)
    effects = [e.decode() for e in client.lrange(redis_prefix + "effects", 0, -1)]
    client.close()
    assert (result.applied, result.duplicates) == (6, 4)  # all 10 delivered again
    assert sorted(effects) == sorted(m.id for m in sent)  # and each applied exactly once
    assert bus.pending(topics.A2A, "appliers") == 0


def test_undecodable_entry_when_consumed_then_dead_lettered_not_crashing(
    redis_url: str, redis_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    bus = RedisStreamBus(client, POLICY, redis_prefix)
    client.xadd(redis_prefix + topics.A2A, {"env": b'{"not": "an envelope"}'})
    good = Envelope(cycle_id="c1", sender="tester", payload=Note(topic="n"))
    bus.publish(topics.A2A, good)
    got = bus.consume(topics.A2A, "g", "c1", count=10)
    assert [d.message for d in got] == [good]
    dead = client.xrange(redis_prefix + topics.dead_letter(topics.A2A))
    assert len(dead) == 1 and dead[0][1][b"error"].startswith(b"undecodable")
    assert bus.pending(topics.A2A, "g") == 1  # only the good one, awaiting its ack
    client.close()


def test_pending_entry_when_trimmed_away_then_dropped_not_redelivered(
    redis_url: str, redis_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    bus = RedisStreamBus(client, StreamPolicy(maxlen=1, claim_idle_ms=50), redis_prefix)
    first = Envelope(cycle_id="c1", sender="tester", payload=Note(topic="n"))
    bus.publish(topics.A2A, first)
    assert len(bus.consume(topics.A2A, "g", "c1")) == 1
    client.xtrim(redis_prefix + topics.A2A, maxlen=0)  # exact trim: the entry is gone
    time.sleep(0.1)
    assert bus.consume(topics.A2A, "g", "c2") == []
    assert bus.pending(topics.A2A, "g") == 0
    assert bus.dead_letters(topics.A2A) == []
    client.close()


LOCK_WORKER = """
    import sys, time, redis
    from adapters.state.redis_state import RedisSharedState
    url, prefix = sys.argv[1], sys.argv[2]
    client = redis.Redis.from_url(url)
    state = RedisSharedState(client, prefix=prefix)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(15):
        lock = state.lock("daily_cycle", ttl_ms=5000)
        assert lock.acquire(timeout_s=20)
        inside = client.incr(prefix + "inside")
        client.set(prefix + "max_inside", max(inside, int(client.get(prefix + "max_inside") or 0)))
        value = int(client.get(prefix + "counter") or 0)
        time.sleep(0.002)  # a read-modify-write a second holder would corrupt
        client.set(prefix + "counter", value + 1)
        client.decr(prefix + "inside")
        assert lock.release()
    print("done", flush=True)
"""


def test_lock_when_two_processes_contend_then_one_holder_at_a_time_and_no_lost_update(
    redis_url: str, redis_prefix: str, children: list[subprocess.Popen[str]]
) -> None:
    procs = [_spawn(LOCK_WORKER, redis_url, redis_prefix) for _ in "ab"]
    children.extend(procs)
    for p in procs:
        assert _line(p) == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    assert [_line(p) for p in procs] == ["done", "done"]
    client = redis.Redis.from_url(redis_url)
    assert int(client.get(redis_prefix + "counter") or 0) == 30
    assert int(client.get(redis_prefix + "max_inside") or 0) == 1
    client.close()
