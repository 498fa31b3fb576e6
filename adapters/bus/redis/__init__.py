"""Redis Streams implementation of the bus port."""

from adapters.bus.redis.streams import DEFAULT_PREFIX, RedisStreamBus

__all__ = ["DEFAULT_PREFIX", "RedisStreamBus"]
