-- Move a job to the dead letters.
-- KEYS: 1 stream, 2 dead (hash), 3 dead index (zset), 4 stats
-- ARGV: 1 group, 2 consumer, 3 entry id, 4 task id, 5 dead-letter JSON, 6 plugin ('' if none),
--       7 round ('' if none), 8 unique URL ('' if none)
-- Returns 1, or -1 if the lease was lost.
if not owned(KEYS[1], ARGV[1], ARGV[3], ARGV[2]) then
  return -1
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[3], now_ms(), ARGV[4])
redis.call('HINCRBY', KEYS[4], 'dead', 1)
if ARGV[6] ~= '' then
  redis.call('HINCRBY', KEYS[4], 'dead:' .. ARGV[6], 1)
end
if ARGV[7] ~= '' then
  round_ended(KEYS[1], KEYS[4], ARGV[7], 'dead', 1)
end
if ARGV[8] ~= '' then
  unique_release(KEYS[1], ARGV[8])
end
return 1
