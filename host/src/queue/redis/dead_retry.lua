-- Put dead letters back on the stream with their attempts reset.
-- KEYS: 1 stream, 2 dead (hash), 3 dead index (zset), 4 stats
-- ARGV: triples (task id, stream field `task` or `raw`, body to enqueue)
-- Returns the number re-enqueued.
local n = 0
for i = 1, #ARGV, 3 do
  local id, field, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HDEL', KEYS[2], id) == 1 then
    redis.call('ZREM', KEYS[3], id)
    redis.call('XADD', KEYS[1], '*', field, body)
    n = n + 1
  end
end
return n
