"""Lua scripts of the Redis Streams bus. Each runs atomically on the server, so two
consumers can never both claim, or both dead-letter, the same delivery.

KEYS[1] stream, KEYS[2] dead-letter stream, KEYS[3] hash of last errors for the group.
"""

from __future__ import annotations

# Find the env field of an entry's flat field list {k1, v1, k2, v2, ...}.
_FIELD = """
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return ''
end
local function dead_letter(id, times, fields, err)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV_DEAD_MAXLEN, '*',
    'env', field(fields, 'env'), 'topic', ARGV_TOPIC, 'group', ARGV_GROUP,
    'attempts', times, 'error', err, 'source_id', id)
  redis.call('XACK', KEYS[1], ARGV_GROUP, id)
  redis.call('HDEL', KEYS[3], id)
end
"""

# ARGV: group, consumer, min_idle_ms, count, max_deliveries, dead_maxlen, topic
# Returns {claimed, dead_count, dropped_count}; claimed = {{id, times, fields}, ...}.
# XPENDING ... IDLE + XCLAIM rather than XAUTOCLAIM (which the issue named), for two reasons
# checked on the bundled Redis 6.2.14:
# - for an entry trimmed while pending, 6.2's XAUTOCLAIM replies nil in its place, without
#   its id, and leaves it pending: it can be neither acked nor dropped and comes back on
#   every scan (Redis 7 instead returns such ids separately and drops them itself);
# - XAUTOCLAIM does not return delivery counts, which decide dead letters: an XPENDING per
#   claimed entry would be needed anyway. XPENDING IDLE (6.2+) gives id, idle and count.
# Both run in one script, so the check-then-claim is atomic like XAUTOCLAIM.
RECLAIM = (
    """
local ARGV_GROUP, ARGV_TOPIC, ARGV_DEAD_MAXLEN = ARGV[1], ARGV[7], ARGV[6]
"""
    + _FIELD
    + """
local consumer, min_idle = ARGV[2], tonumber(ARGV[3])
local count, max_deliveries = tonumber(ARGV[4]), tonumber(ARGV[5])
local pending = redis.call('XPENDING', KEYS[1], ARGV_GROUP, 'IDLE', min_idle, '-', '+', count)
local claimed, dead, dropped = {}, 0, 0
for _, p in ipairs(pending) do
  local id, times = p[1], p[4]
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  if #entry == 0 then
    -- trimmed by MAXLEN while pending: nothing left to deliver
    redis.call('XACK', KEYS[1], ARGV_GROUP, id)
    redis.call('HDEL', KEYS[3], id)
    dropped = dropped + 1
  elseif times >= max_deliveries then
    local err = redis.call('HGET', KEYS[3], id)
    if not err then err = 'abandoned: delivery timed out' end
    dead_letter(id, times, entry[1][2], err)
    dead = dead + 1
  else
    local got = redis.call('XCLAIM', KEYS[1], ARGV_GROUP, consumer, 0, id)
    if #got > 0 then
      table.insert(claimed, {id, times + 1, got[1][2]})
    end
  end
end
return {claimed, dead, dropped}
"""
)

# ARGV: group, delivery_id, error, max_deliveries, dead_maxlen, topic
# Returns 0 (not pending any more), 1 (due again now), 2 (moved to dead letters).
FAIL = (
    """
local ARGV_GROUP, ARGV_TOPIC, ARGV_DEAD_MAXLEN = ARGV[1], ARGV[6], ARGV[5]
"""
    + _FIELD
    + """
local id, err, max_deliveries = ARGV[2], ARGV[3], tonumber(ARGV[4])
local p = redis.call('XPENDING', KEYS[1], ARGV_GROUP, id, id, 1)
if #p == 0 then return 0 end
local times = p[1][4]
if times >= max_deliveries then
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  if #entry > 0 then
    dead_letter(id, times, entry[1][2], err)
  else
    redis.call('XACK', KEYS[1], ARGV_GROUP, id)
    redis.call('HDEL', KEYS[3], id)
  end
  return 2
end
redis.call('HSET', KEYS[3], id, err)
-- Make it look idle for years so the next reclaim takes it at once; JUSTID keeps the
-- delivery count unchanged (the redelivery itself will count).
redis.call('XCLAIM', KEYS[1], ARGV_GROUP, p[1][2], 0, id, 'IDLE', 315360000000, 'JUSTID')
return 1
"""
)

# KEYS[1] stream; ARGV: maxlen, env1, env2, ... Returns the new entry ids in order.
# One command carrying a whole batch: far less client-side packing than N pipelined XADDs.
PUBLISH_MANY = """
local ids = {}
for i = 2, #ARGV do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'env', ARGV[i])
end
return ids
"""

# KEYS[1] stream; ARGV: group, consumer, count. Non-blocking XREADGROUP, flattened to
# {id1, env1, id2, env2, ...}: one level of nesting is much cheaper to parse client-side.
READ_NEW = """
local res = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
  'STREAMS', KEYS[1], '>')
local out = {}
if not res then return out end
for _, e in ipairs(res[1][2]) do
  local env = ''
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'env' then env = f[i + 1] end
  end
  out[#out + 1] = e[1]
  out[#out + 1] = env
end
return out
"""
