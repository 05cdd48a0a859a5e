-- Acknowledge a batch of finished jobs (a group commit), each together with
-- its follow-ups, sink records and key-value writes. Each job is checked on
-- its own: one whose lease was lost is left alone and answered -1.
-- KEYS: 1 stream, 2 stats, 3 seen, 4 sink stream (unused when there are no records)
-- ARGV: 1 group, 2 consumer, 3 dedupe ('1'/'0'), 4 job count N, 5 and 6 the
--       smallest and the largest of the N entry ids, then per job:
--       entry id, plugin, follow-up count F, record count R, key-value
--       write count W, its round ('' if none), its unique URL ('' if it
--       holds none), whether it ended on a 304 Not Modified ('1'/'0'), F pairs (URL, task JSON), then if R > 0 the task id,
--       the task URL and R pairs (content type, data), then W triples (see
--       kv_write in common.lua)
-- Returns 2N numbers, two per job: the follow-ups enqueued (or -1 where the
-- lease was lost, and then none of its effects were applied), and how many
-- of its key-value adds were left out (the value was not an integer).
local stream, stats, seen, sink = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer = ARGV[1], ARGV[2]
local dedupe = ARGV[3] == '1'
local jobs = tonumber(ARGV[4])
local mine = owned_between(stream, group, ARGV[5], ARGV[6], consumer)
local i = 7
-- Job j's two numbers at 2j-1 and 2j.
local flat = {}
local done_ids = {}
local per_plugin = {}
local enqueued = 0
local not_modified = 0
local writes = kv_batch()
for j = 1, jobs do
  local id, plugin = ARGV[i], ARGV[i + 1]
  local follow_ups, records, count = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local round, unique, unchanged = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7] == '1'
  i = i + 8
  if mine[id] then
    if unchanged then
      not_modified = not_modified + 1
    end
    local accepted = 0
    for _ = 1, follow_ups do
      local url, task = ARGV[i], ARGV[i + 1]
      if (not dedupe) or redis.call('SADD', seen, url) == 1 then
        redis.call('XADD', stream, '*', 'task', task)
        accepted = accepted + 1
      end
      i = i + 2
    end
    if records > 0 then
      local task_id, task_url = ARGV[i], ARGV[i + 1]
      i = i + 2
      for _ = 1, records do
        redis.call('XADD', sink, '*', 'task_id', task_id, 'url', task_url, 'plugin', plugin,
          'content_type', ARGV[i], 'record', ARGV[i + 1])
        i = i + 2
      end
    end
    i = writes.take(j, i, count)
    if round ~= '' then
      round_grew(stream, round, accepted)
      round_ended(stream, stats, round, 'done', 1)
    end
    if unique ~= '' then
      unique_release(stream, unique)
    end
    done_ids[#done_ids + 1] = id
    per_plugin[plugin] = (per_plugin[plugin] or 0) + 1
    enqueued = enqueued + accepted
    flat[2 * j - 1] = accepted
  else
    i = i + 2 * follow_ups
    if records > 0 then
      i = i + 2 + 2 * records
    end
    i = i + 3 * count
    flat[2 * j - 1] = -1
  end
  flat[2 * j] = 0
end
writes.apply(flat)
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
if not_modified > 0 then
  redis.call('HINCRBY', stats, 'not_modified', not_modified)
end
return flat
