-- Move items of a plain Redis list (the seed's `RPUSH queue URL`) onto the
-- stream in one atomic step, so that no crash can lose one in between.
-- KEYS: 1 list, 2 stream, 3 stats
-- ARGV: 1 batch size
-- Returns the number moved.
local items = redis.call('LPOP', KEYS[1], tonumber(ARGV[1]))
if not items then
  return 0
end
for _, item in ipairs(items) do
  redis.call('XADD', KEYS[2], '*', 'raw', item)
end
redis.call('HINCRBY', KEYS[3], 'enqueued', #items)
return #items
