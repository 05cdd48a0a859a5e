-- Shared by the queue's scripts (prepended to each when loaded, after the
-- Redis layer's prelude and the key-value store's `kv_writes.lua`).

-- Whether stream entry `id` is pending for `consumer` (its lease is ours).
local function owned(stream, group, id, consumer)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  return p[1] ~= nil and p[1][2] == consumer
end

-- The entries from `first` to `last` (inclusive) pending for `consumer`, as
-- a set of ids: one XPENDING for a whole batch instead of one per entry. It
-- walks only this consumer's own pending list, which holds what this host
-- has in flight.
local function owned_between(stream, group, first, last, consumer)
  local set = {}
  local p = redis.call('XPENDING', stream, group, first, last, 1000000000, consumer)
  for _, entry in ipairs(p) do
    set[entry[1]] = true
  end
  return set
end


-- The key `suffix` of the queue whose stream key is `stream`: every key of
-- a queue is jobhost:{NAME}:SUFFIX (keys.rs), the stream's suffix `stream`.
local function queue_key(stream, suffix)
  return string.sub(stream, 1, -7) .. suffix
end

-- How long a completed round's record is kept (ms): a day.
local ROUND_RETENTION_MS = 24 * 3600 * 1000

-- If round `key` has been produced in full and none of its tasks is pending
-- any more, mark it completed and enqueue its on-complete task: once, since
-- `completed` is set in the same call. Returns 1 when it completed now.
local function round_check(stream, stats, key)
  local r = redis.call('HMGET', key, 'total', 'done', 'dead', 'produced', 'completed', 'on_complete')
  if r[4] ~= '1' or r[5] then
    return 0
  end
  if (tonumber(r[2]) or 0) + (tonumber(r[3]) or 0) < (tonumber(r[1]) or 0) then
    return 0
  end
  redis.call('HSET', key, 'completed', now_ms())
  if r[6] then
    redis.call('XADD', stream, '*', 'task', r[6])
    redis.call('HINCRBY', stats, 'enqueued', 1)
  end
  redis.call('PEXPIRE', key, ROUND_RETENTION_MS)
  return 1
end

-- Count `n` tasks of round `round` as ended (`field`: 'done' or 'dead'),
-- then see whether the round is complete. A round whose record is gone
-- (removed, or expired long after completing) is left alone.
local function round_ended(stream, stats, round, field, n)
  local key = queue_key(stream, 'round:' .. round)
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, field, n)
    round_check(stream, stats, key)
  end
end

-- `n` follow-ups of a task of round `round` joined the round.
local function round_grew(stream, round, n)
  local key = queue_key(stream, 'round:' .. round)
  if n > 0 and redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'total', n)
  end
end

-- A unique task ended: its URL may be enqueued by a schedule again.
local function unique_release(stream, url)
  redis.call('SREM', queue_key(stream, 'unique'), url)
end
