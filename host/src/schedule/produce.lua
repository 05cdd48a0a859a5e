-- Enqueue one chunk of a round, exactly once: only while this host holds
-- the round's production (`owner`) and the round's cursor is where the
-- chunk starts; the cursor moves in the same call. A producer that dies
-- between chunks leaves the cursor at the end of its last chunk, and the
-- host that adopts the round continues from there.
-- KEYS: 1 round, 2 stream, 3 delayed, 4 unique, 5 stats, 6 rounds being
--       produced (zset)
-- ARGV: 1 owner, 2 cursor at the chunk's start, 3 cursor after it, 4 lease
--       ms, 5 unique ('1' or '0'), 6 '1' when the chunk ends the round,
--       7 the round's id, then triples: due ms (0 = now), task JSON, URL
-- Returns the tasks enqueued, or -1 when the round is not this host's to
-- produce (adopted by another, already produced, or the cursor moved).
local round, stream, delayed, unique_set, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local r = redis.call('HMGET', round, 'owner', 'cursor', 'produced')
if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] or r[3] == '1' then
  return -1
end
local unique = ARGV[5] == '1'
local accepted, offered = 0, 0
for i = 8, #ARGV, 3 do
  offered = offered + 1
  if (not unique) or redis.call('SADD', unique_set, ARGV[i + 2]) == 1 then
    local due = tonumber(ARGV[i])
    if due > 0 then
      redis.call('ZADD', delayed, due, ARGV[i + 1])
    else
      redis.call('XADD', stream, '*', 'task', ARGV[i + 1])
    end
    accepted = accepted + 1
  end
end
if accepted > 0 then
  redis.call('HINCRBY', round, 'total', accepted)
  redis.call('HINCRBY', stats, 'enqueued', accepted)
end
if offered > accepted then
  redis.call('HINCRBY', round, 'skipped', offered - accepted)
end
redis.call('HSET', round, 'cursor', ARGV[3], 'lease_until', now_ms() + tonumber(ARGV[4]))
if ARGV[6] == '1' then
  -- Produced: nobody needs the schedule as fired any more.
  redis.call('HSET', round, 'produced', '1', 'produced_at', now_ms())
  redis.call('HDEL', round, 'spec')
  redis.call('ZREM', KEYS[6], ARGV[7])
  round_check(stream, stats, round)
end
return accepted
