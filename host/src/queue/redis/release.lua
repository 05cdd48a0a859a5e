-- Hand a job back at once (graceful shutdown): it goes back on the stream,
-- attempts unchanged, for any host to take.
-- KEYS: 1 stream
-- ARGV: 1 group, 2 consumer, then triples (entry id, stream field `task` or
--       `raw`, body: task JSON or raw line), in the order of dead_retry.lua's
--       triples and reclaim.lua's answers
-- Returns the number handed back.
local released = 0
for i = 3, #ARGV, 3 do
  local id, field, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if owned(KEYS[1], ARGV[1], id, ARGV[2]) then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    redis.call('XADD', KEYS[1], '*', field, body)
    released = released + 1
  end
end
return released
