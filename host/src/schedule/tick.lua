-- Settle a schedule's ticks up to the latest one, and claim its fire for
-- this host: the call that moves `last_fire` forward is the only one that
-- may create the round, so each tick is produced once however many hosts
-- tick. A manual trigger fires without moving `last_fire`.
-- KEYS: 1 schedule state, 2 rounds (zset), 3 the round to create, 4 stream,
--       5 rounds being produced (zset)
-- ARGV: 1 schedule name, 2 last_fire as the host read it ('' if unset),
--       3 the new last_fire, 4 fire time in ms (0: none to fire), 5 ticks
--       missed, 6 overlap ('skip' or 'allow'), 7 owner, 8 lease ms,
--       9 the schedule's JSON, 10 on-complete task JSON ('' if none),
--       11 size ('' if not known), 12 '1' for a manual trigger
-- Returns 'fired', 'stale' (another host settled these ticks first),
-- 'paused', 'overlap' (the previous round is still running) or 'settled'.
local state, rounds, round, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local manual = ARGV[12] == '1'
local s = redis.call('HMGET', state, 'last_fire', 'paused', 'current')
if (s[1] or '') ~= ARGV[2] then
  return 'stale'
end
if not manual then
  redis.call('HSET', state, 'last_fire', ARGV[3])
  if s[2] == '1' then
    return 'paused'
  end
  if tonumber(ARGV[5]) > 0 then
    redis.call('HINCRBY', state, 'missed', ARGV[5])
  end
end
local fire = tonumber(ARGV[4])
if fire == 0 then
  return 'settled'
end
if ARGV[6] == 'skip' and s[3] then
  local current = queue_key(stream, 'round:' .. s[3])
  if redis.call('EXISTS', current) == 1 and not redis.call('HGET', current, 'completed') then
    redis.call('HINCRBY', state, 'overlapped', 1)
    return 'overlap'
  end
end
if redis.call('EXISTS', round) == 1 then
  return 'stale'
end
local id = ARGV[1] .. '@' .. ARGV[4]
redis.call('HSET', round, 'schedule', ARGV[1], 'fire', ARGV[4], 'created', now_ms(),
  'total', 0, 'done', 0, 'dead', 0, 'skipped', 0, 'cursor', 0,
  'owner', ARGV[7], 'lease_until', now_ms() + tonumber(ARGV[8]), 'spec', ARGV[9])
if ARGV[10] ~= '' then
  redis.call('HSET', round, 'on_complete', ARGV[10])
end
if ARGV[11] ~= '' then
  redis.call('HSET', round, 'size', ARGV[11])
end
redis.call('ZADD', rounds, fire, id)
redis.call('ZADD', KEYS[5], fire, id)
redis.call('HSET', state, 'current', id)
redis.call('HINCRBY', state, 'fires', 1)
return 'fired'
