-- Acknowledge a finished job together with its follow-ups and sink records.
-- KEYS: 1 stream, 2 stats, 3 seen, 4 sink stream (unused when there are no records)
-- ARGV: 1 group, 2 consumer, 3 entry id, 4 plugin, 5 dedupe ('1'/'0'),
--       6 task id, 7 task URL, 8 follow-up count F, then F pairs (URL, task JSON),
--       then record count R, then R pairs (content type, data)
-- Returns the number of follow-ups enqueued, or -1 if the lease was lost.
local stream, stats, seen, sink = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer, id, plugin = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not owned(stream, group, id, consumer) then
  return -1
end
local dedupe = ARGV[5] == '1'
local task_id, task_url = ARGV[6], ARGV[7]
redis.call('XACK', stream, group, id)
redis.call('XDEL', stream, id)
local i = 8
local follow_ups = tonumber(ARGV[i]); i = i + 1
local accepted = 0
for _ = 1, follow_ups do
  local url, task = ARGV[i], ARGV[i + 1]; i = i + 2
  if (not dedupe) or redis.call('SADD', seen, url) == 1 then
    redis.call('XADD', stream, '*', 'task', task)
    accepted = accepted + 1
  end
end
local records = tonumber(ARGV[i]); i = i + 1
for _ = 1, records do
  redis.call('XADD', sink, '*', 'task_id', task_id, 'url', task_url, 'plugin', plugin,
    'content_type', ARGV[i], 'record', ARGV[i + 1])
  i = i + 2
end
redis.call('HINCRBY', stats, 'done', 1)
redis.call('HINCRBY', stats, 'done:' .. plugin, 1)
if accepted > 0 then
  redis.call('HINCRBY', stats, 'enqueued', accepted)
end
return accepted
