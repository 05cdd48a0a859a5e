-- Hold back a URL host for a while (the server said Retry-After), never
-- shortening a longer hold already in place.
-- KEYS: 1 hold key
-- ARGV: 1 hold ms
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return 1
