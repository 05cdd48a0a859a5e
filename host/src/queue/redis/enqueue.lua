-- Enqueue a batch of tasks, now or at a due time, with optional URL de-duplication.
-- KEYS: 1 stream, 2 delayed, 3 seen, 4 stats
-- ARGV: 1 dedupe ('1' or '0'), then triples: due_ms (0 = now), task JSON, URL
local dedupe = ARGV[1] == '1'
local accepted = 0
for i = 2, #ARGV, 3 do
  local due, task, url = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  if (not dedupe) or redis.call('SADD', KEYS[3], url) == 1 then
    if due > 0 then
      redis.call('ZADD', KEYS[2], due, task)
    else
      redis.call('XADD', KEYS[1], '*', 'task', task)
    end
    accepted = accepted + 1
  end
end
if accepted > 0 then
  redis.call('HINCRBY', KEYS[4], 'enqueued', accepted)
end
return accepted
