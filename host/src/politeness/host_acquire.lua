-- Politeness toward one URL host, shared by every jobhost host: a hold-back
-- (after 429/503 with Retry-After), a rate limit (GCRA: one request per
-- interval) and a concurrency limit (slots with an expiry, so a dead host's
-- slots free themselves).
-- KEYS: 1 hold key, 2 rate key (theoretical arrival time), 3 slots zset
-- ARGV: 1 interval ms (0 = no rate limit), 2 concurrency limit (0 = none),
--       3 slot token, 4 slot ttl ms
-- Returns 0 when acquired (a slot is taken if limited), else ms to wait.
local now = now_ms()
local held = redis.call('PTTL', KEYS[1])
if held > 0 then
  return held
end
local interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= limit then
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    return math.max(5, math.min(50, tonumber(first[2]) - now))
  end
end
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[2]) or now)
  if tat > now then
    return tat - now
  end
  redis.call('SET', KEYS[2], math.max(tat, now) + interval, 'PX', interval * 2 + 1000)
end
if limit > 0 then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3])
end
return 0
