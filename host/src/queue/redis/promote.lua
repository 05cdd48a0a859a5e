-- Move due delayed tasks onto the stream.
-- KEYS: 1 stream, 2 delayed
-- ARGV: 1 batch size
-- Returns {moved, next due time in ms or -1}
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
for _, task in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'task', task)
  redis.call('ZREM', KEYS[2], task)
end
local next_due = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {#due, tonumber(next_due[2] or -1)}
