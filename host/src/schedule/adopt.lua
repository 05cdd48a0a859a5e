-- Take over the production of a round whose producer stopped renewing its
-- lease (it died, or lost Redis for longer than the lease).
-- KEYS: 1 round
-- ARGV: 1 owner, 2 lease ms
-- Returns the cursor to continue from, or -1 when the round is produced,
-- gone, or its producer's lease still runs.
local r = redis.call('HMGET', KEYS[1], 'lease_until', 'produced', 'cursor')
if r[2] == '1' or not r[3] then
  return -1
end
if (tonumber(r[1]) or 0) > now_ms() then
  return -1
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'lease_until', now_ms() + tonumber(ARGV[2]))
return tonumber(r[3])
