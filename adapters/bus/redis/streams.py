"""Redis Streams bus: one stream per topic, consumer groups, at-least-once delivery.

- ``publish``: ``XADD key MAXLEN ~ maxlen * env <Envelope JSON>``.
- ``consume``: first (at most every ``reclaim_interval_s``, or at once after a ``fail``)
  the RECLAIM script claims deliveries idle longer than ``claim_idle_ms`` — a crashed
  consumer's messages — and dead-letters those already delivered ``max_deliveries``
  times; then ``XREADGROUP >`` for new messages (blocking up to ``block_ms``).
- ``ack``: ``XACK``. ``fail``: the FAIL script makes the delivery due again now, or
  dead-letters it once it has used up its deliveries.
- A message that does not decode as an Envelope goes straight to the dead letters.

Needs Redis >= 6.2 (``XPENDING ... IDLE``), checked on first use. Reclaiming uses
XPENDING + XCLAIM rather than XAUTOCLAIM: see ``scripts.RECLAIM`` for why.
Connection failures and timeouts raise ``TemporaryError`` from every method.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from pydantic import ValidationError

from adapters.bus.policy import StreamPolicy, check_consume_args
from adapters.bus.redis import scripts
from core import topics
from core.errors import ConfigurationError, TemporaryError
from core.messages import Envelope
from core.ports import Delivery

DEFAULT_PREFIX = "quorum:"
MIN_SERVER_VERSION = (6, 2)  # XPENDING ... IDLE, used by the RECLAIM script


def require_server_version(version: str, where: str = "redis") -> None:
    """Refuse a server too old for the bus's scripts, with a message that says why."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        raise ConfigurationError(f"{where}: unrecognised redis_version {version!r}") from None
    if found < MIN_SERVER_VERSION:
        raise ConfigurationError(
            f"{where} runs Redis {version}; the bus needs Redis >= 6.2 (XPENDING ... IDLE)"
        )


@contextmanager
def _reachable(action: str) -> Iterator[None]:
    """Connection loss and timeouts become ``TemporaryError`` (the caller may retry)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise TemporaryError(f"redis bus unreachable {action}: {exc}") from exc


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fields(raw: Any) -> dict[str, bytes]:
    """Stream entry fields as a dict, from redis-py's dict or Lua's flat list."""
    if isinstance(raw, dict):
        return {_s(k): v for k, v in raw.items()}
    return {_s(raw[i]): raw[i + 1] for i in range(0, len(raw), 2)}


class RedisStreamBus:
    """The multi-process bus. Keys are ``prefix + topic``; groups are created on demand."""

    def __init__(
        self,
        client: redis.Redis,
        policy: StreamPolicy | None = None,
        prefix: str = DEFAULT_PREFIX,
        owns_client: bool = False,
    ) -> None:
        self.policy = policy or StreamPolicy()
        self.prefix = prefix
        self._r = client
        self._owns_client = owns_client
        self._reclaim = client.register_script(scripts.RECLAIM)
        self._fail = client.register_script(scripts.FAIL)
        self._publish_many = client.register_script(scripts.PUBLISH_MANY)
        self._read = client.register_script(scripts.READ_NEW)
        self._groups: set[tuple[str, str]] = set()
        self._server_checked = False
        self._next_reclaim: dict[tuple[str, str], float] = {}
        self._mutex = threading.Lock()

    @classmethod
    def from_url(
        cls, url: str, policy: StreamPolicy | None = None, prefix: str = DEFAULT_PREFIX
    ) -> RedisStreamBus:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        return cls(client, policy=policy, prefix=prefix, owns_client=True)

    # -- keys -----------------------------------------------------------------------------
    def _key(self, topic: str) -> str:
        return self.prefix + topic

    def _keys(self, topic: str, group: str) -> list[str]:
        return [
            self._key(topic),
            self._key(topics.dead_letter(topic)),
            f"{self._key(topic)}:errors:{group}",
        ]

    # -- Bus ------------------------------------------------------------------------------
    def publish(self, topic: str, message: Envelope) -> str:
        with _reachable(f"publishing to {topic}"):
            entry_id = self._r.xadd(
                self._key(topic),
                {"env": message.model_dump_json()},
                maxlen=self.policy.maxlen,
                approximate=True,
            )
        return _s(entry_id)

    def publish_many(self, topic: str, messages: list[Envelope]) -> list[str]:
        """A whole batch in one round trip and one command (a server-side XADD loop)."""
        if not messages:
            return []
        args: list[str | int] = [self.policy.maxlen, *(m.model_dump_json() for m in messages)]
        with _reachable(f"publishing to {topic}"):
            ids = self._publish_many(keys=[self._key(topic)], args=args)
        return [_s(i) for i in ids]

    def consume(
        self, topic: str, group: str, consumer: str, count: int = 10, block_ms: int = 0
    ) -> list[Delivery]:
        check_consume_args(count, block_ms)
        with _reachable(f"consuming {topic}"):
            self._ensure_group(topic, group)
            out = self._reclaim_due(topic, group, consumer, count)
            if len(out) < count:
                out += self._read_new(topic, group, consumer, count - len(out), block_ms, out)
            return out

    def ack(self, topic: str, group: str, delivery_id: str) -> None:
        self.ack_many(topic, group, [delivery_id])

    def close(self) -> None:
        if self._owns_client:
            self._r.close()

    # -- ReliableBus ----------------------------------------------------------------------
    def ack_many(self, topic: str, group: str, delivery_ids: list[str]) -> None:
        if delivery_ids:
            with _reachable(f"acking on {topic}"):
                self._r.xack(self._key(topic), group, *delivery_ids)

    def fail(self, topic: str, group: str, delivery_id: str, error: str = "") -> None:
        p = self.policy
        with _reachable(f"reporting a failure on {topic}"):
            self._fail(
                keys=self._keys(topic, group),
                args=[
                    group,
                    delivery_id,
                    error or "failed",
                    p.max_deliveries,
                    p.dead_maxlen,
                    topic,
                ],
            )
        with self._mutex:
            self._next_reclaim[(topic, group)] = 0.0  # take it back on the next consume

    def dead_letters(self, topic: str, count: int = 100) -> list[Delivery]:
        out: list[Delivery] = []
        with _reachable(f"reading dead letters of {topic}"):
            entries: Any = self._r.xrange(self._key(topics.dead_letter(topic)), count=count)
        for entry_id, raw in entries or []:
            f = _fields(raw)
            try:
                message = Envelope.model_validate_json(f.get("env", b""))
            except ValidationError:
                continue  # undecodable originals are kept in Redis but are not Envelopes
            out.append(
                Delivery(
                    delivery_id=_s(entry_id),
                    topic=_s(f.get("topic", topic.encode())),
                    message=message,
                    attempts=int(f.get("attempts", b"1")),
                    error=_s(f.get("error", b"")),
                )
            )
        return out

    def pending(self, topic: str, group: str) -> int:
        with _reachable(f"counting pending on {topic}"):
            try:
                info = self._r.xpending(self._key(topic), group)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                return 0  # no such stream or group yet: nothing delivered, nothing pending
        return int(info["pending"])

    def length(self, topic: str) -> int:
        with _reachable(f"measuring {topic}"):
            return int(self._r.xlen(self._key(topic)))

    # -- internals ------------------------------------------------------------------------
    def _ensure_group(self, topic: str, group: str, force: bool = False) -> None:
        if (topic, group) in self._groups and not force:
            return
        if not self._server_checked:
            info: Any = self._r.info("server")
            require_server_version(str(info.get("redis_version", "")))
            self._server_checked = True
        try:
            # From id 0: a group sees what was published before it first consumed.
            self._r.xgroup_create(self._key(topic), group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add((topic, group))

    def _reclaim_due(self, topic: str, group: str, consumer: str, count: int) -> list[Delivery]:
        now = time.monotonic()
        with self._mutex:
            if now < self._next_reclaim.get((topic, group), 0.0):
                return []
            self._next_reclaim[(topic, group)] = now + self.policy.reclaim_interval_s
        p = self.policy
        claimed, _dead, _dropped = self._reclaim(
            keys=self._keys(topic, group),
            args=[group, consumer, p.claim_idle_ms, count, p.max_deliveries, p.dead_maxlen, topic],
        )
        out: list[Delivery] = []
        for entry_id, times, raw in claimed:
            delivery = self._decode(
                topic, group, _s(entry_id), _fields(raw).get("env", b""), int(times)
            )
            if delivery is not None:
                out.append(delivery)
        return out

    def _read_new(
        self, topic: str, group: str, consumer: str, count: int, block_ms: int, got: list[Delivery]
    ) -> list[Delivery]:
        block = block_ms if block_ms > 0 and not got else None  # Redis BLOCK 0 = forever
        try:
            return self._read_once(topic, group, consumer, count, block)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._ensure_group(topic, group, force=True)  # stream deleted since (FLUSHDB)
            return self._read_once(topic, group, consumer, count, block)

    def _read_once(
        self, topic: str, group: str, consumer: str, count: int, block: int | None
    ) -> list[Delivery]:
        key = self._key(topic)
        out: list[Delivery] = []
        if block is None:
            # Non-blocking: the READ_NEW script returns a flat list, cheap to parse.
            flat = self._read(keys=[key], args=[group, consumer, count])
            for i in range(0, len(flat), 2):
                delivery = self._decode(topic, group, _s(flat[i]), flat[i + 1], 1)
                if delivery is not None:
                    out.append(delivery)
            return out
        # Blocking (a script cannot block): returns at once if messages are waiting.
        resp: Any = self._r.xreadgroup(group, consumer, {key: ">"}, count=count, block=block)
        for _key, entries in resp or []:
            for entry_id, raw in entries:
                delivery = self._decode(topic, group, _s(entry_id), _fields(raw).get("env", b""), 1)
                if delivery is not None:
                    out.append(delivery)
        return out

    def _decode(
        self, topic: str, group: str, entry_id: str, env: bytes, attempts: int
    ) -> Delivery | None:
        try:
            message = Envelope.model_validate_json(env)
        except ValidationError as exc:
            self._dead_letter_undecodable(topic, group, entry_id, env, attempts, exc)
            return None
        # The envelope was just validated; skip re-validating the wrapper.
        return Delivery.model_construct(
            delivery_id=entry_id, topic=topic, message=message, attempts=attempts, error=None
        )

    def _dead_letter_undecodable(
        self,
        topic: str,
        group: str,
        entry_id: str,
        env: bytes,
        attempts: int,
        exc: ValidationError,
    ) -> None:
        error = f"undecodable: {exc.error_count()} validation error(s)"
        pipe = self._r.pipeline(transaction=True)
        pipe.xadd(
            self._key(topics.dead_letter(topic)),
            {
                "env": env,
                "topic": topic,
                "group": group,
                "attempts": attempts,
                "error": error,
                "source_id": entry_id,
            },
            maxlen=self.policy.dead_maxlen,
            approximate=True,
        )
        pipe.xack(self._key(topic), group, entry_id)
        pipe.execute()
