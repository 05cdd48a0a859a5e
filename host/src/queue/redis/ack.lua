-- Acknowledge a batch of finished jobs (a group commit), each together with
-- its follow-ups and sink records. Each job is checked on its own: one whose
-- lease was lost is left alone and answered -1.
-- KEYS: 1 stream, 2 stats, 3 seen, 4 sink stream (unused when there are no records)
-- ARGV: 1 group, 2 consumer, 3 dedupe ('1'/'0'), 4 job count N, 5 and 6 the
--       smallest and the largest of the N entry ids, then per job:
--       entry id, plugin, task id, task URL, follow-up count F, F pairs
--       (URL, task JSON), record count R, R pairs (content type, data),
--       key-value write count W, W triples (see kv_writes in common.lua)
-- Returns 2N numbers, two per job: the follow-ups enqueued (or -1 where the
-- lease was lost, and then none of its effects were applied), and how many
-- of its key-value adds were left out (the value was not an integer).
local stream, stats, seen, sink = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer = ARGV[1], ARGV[2]
local dedupe = ARGV[3] == '1'
local jobs = tonumber(ARGV[4])
local mine = owned_between(stream, group, ARGV[5], ARGV[6], consumer)
local i = 7
local results = {}
local done_ids = {}
local per_plugin = {}
local enqueued = 0
for j = 1, jobs do
  local id, plugin, task_id, task_url = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local follow_ups = tonumber(ARGV[i + 4])
  i = i + 5
  local ours = mine[id] == true
  local accepted = 0
  if ours then
    for _ = 1, follow_ups do
      local url, task = ARGV[i], ARGV[i + 1]
      if (not dedupe) or redis.call('SADD', seen, url) == 1 then
        redis.call('XADD', stream, '*', 'task', task)
        accepted = accepted + 1
      end
      i = i + 2
    end
  else
    i = i + 2 * follow_ups
  end
  local records = tonumber(ARGV[i]); i = i + 1
  if ours then
    for _ = 1, records do
      redis.call('XADD', sink, '*', 'task_id', task_id, 'url', task_url, 'plugin', plugin,
        'content_type', ARGV[i], 'record', ARGV[i + 1])
      i = i + 2
    end
    done_ids[#done_ids + 1] = id
    per_plugin[plugin] = (per_plugin[plugin] or 0) + 1
    enqueued = enqueued + accepted
    results[j] = accepted
  else
    i = i + 2 * records
    results[j] = -1
  end
  local skipped
  i, skipped = kv_writes(i, ours)
  results[jobs + j] = skipped
end
-- Flatten: job j's two numbers at 2j-1 and 2j.
local flat = {}
for j = 1, jobs do
  flat[2 * j - 1] = results[j]
  flat[2 * j] = results[jobs + j]
end
if #done_ids > 0 then
  redis.call('XACK', stream, group, unpack(done_ids))
  redis.call('XDEL', stream, unpack(done_ids))
  redis.call('HINCRBY', stats, 'done', #done_ids)
  for plugin, n in pairs(per_plugin) do
    redis.call('HINCRBY', stats, 'done:' .. plugin, n)
  end
end
if enqueued > 0 then
  redis.call('HINCRBY', stats, 'enqueued', enqueued)
end
return flat
