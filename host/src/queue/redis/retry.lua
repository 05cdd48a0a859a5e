-- Move a failed job to the delayed set, due after a delay.
-- KEYS: 1 stream, 2 delayed, 3 stats
-- ARGV: 1 group, 2 consumer, 3 entry id, 4 delay ms, 5 task JSON (failures counted),
--       6 '1' to count a retry, '0' for a deferral (the job did not run)
-- Returns 1, or -1 if the lease was lost.
if not owned(KEYS[1], ARGV[1], ARGV[3], ARGV[2]) then
  return -1
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[4]), ARGV[5])
if ARGV[6] == '1' then
  redis.call('HINCRBY', KEYS[3], 'retried', 1)
end
return 1
