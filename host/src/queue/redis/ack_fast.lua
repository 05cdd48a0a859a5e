-- Acknowledge a batch of finished jobs whose effects the host could merge
-- beforehand (`fast_ack.rs`): no follow-ups, no records, and key-value
-- writes already reduced to the last value of each key only set and the
-- sum of each key only added to with one sign. It applies all of them or
-- nothing: when a lease was lost or Redis refuses an add (the value is not
-- an integer, or the sum would overflow), it changes nothing and answers 0,
-- and the host acknowledges the batch with ack.lua, which settles each job
-- on its own. Applying the merged writes leaves the store that applying each
-- job's writes in order leaves (see kv_batch in common.lua).
-- KEYS: 1 stream, 2 stats
-- ARGV: 1 group, 2 consumer, 3 job count N, 4 and 5 the smallest and the
--       largest of the N entry ids, 6 plugin count P, 7 set count S, 8 add
--       count A, 9 round count Q, 10 unique URL count U, 11 expiring set
--       count E, 12 how many of the jobs ended on a 304 Not Modified, then
--       the N entry ids, P pairs (plugin, jobs done), S pairs (key, value),
--       A pairs (key, delta), Q pairs (round, jobs done), the U unique URLs
--       the jobs held, E triples (key, value, milliseconds to live)
-- Returns N when the batch was applied, else 0.
local stream, stats = KEYS[1], KEYS[2]
local group, consumer = ARGV[1], ARGV[2]
local jobs = tonumber(ARGV[3])
local plugins, sets, adds = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local rounds, uniques = tonumber(ARGV[9]), tonumber(ARGV[10])
local expiring, not_modified = tonumber(ARGV[11]), tonumber(ARGV[12])
local first, last = 13, 12 + jobs
local mine = owned_between(stream, group, ARGV[4], ARGV[5], consumer)
for i = first, last do
  if not mine[ARGV[i]] then
    return 0
  end
end
local plugin_at = last + 1
local set_at = plugin_at + 2 * plugins
local add_at = set_at + 2 * sets
-- The adds first, so that a refused one can be undone before anything else
-- was written: each key gets back its value (and its expiry, KEEPTTL), or
-- is deleted again if it did not exist.
local before = {}
for a = 0, adds - 1 do
  local key = ARGV[add_at + 2 * a]
  -- GET fails, as INCRBY would, on a key of another type.
  local r = redis.pcall('GET', key)
  if not (type(r) == 'table' and r.err) then
    before[a] = r
    r = redis.pcall('INCRBY', key, ARGV[add_at + 2 * a + 1])
  end
  if type(r) == 'table' and r.err then
    for b = a - 1, 0, -1 do
      local undo = ARGV[add_at + 2 * b]
      if before[b] then
        redis.call('SET', undo, before[b], 'KEEPTTL')
      else
        redis.call('DEL', undo)
      end
    end
    return 0
  end
end
-- MSET in slices: unpack is limited by Lua's stack.
for at = set_at, add_at - 1, 1000 do
  redis.call('MSET', unpack(ARGV, at, math.min(at + 999, add_at - 1)))
end
redis.call('XACK', stream, group, unpack(ARGV, first, last))
redis.call('XDEL', stream, unpack(ARGV, first, last))
redis.call('HINCRBY', stats, 'done', jobs)
for p = 0, plugins - 1 do
  redis.call('HINCRBY', stats, 'done:' .. ARGV[plugin_at + 2 * p], ARGV[plugin_at + 2 * p + 1])
end
local round_at = add_at + 2 * adds
for q = 0, rounds - 1 do
  round_ended(stream, stats, ARGV[round_at + 2 * q], 'done', tonumber(ARGV[round_at + 2 * q + 1]))
end
local unique_at = round_at + 2 * rounds
for u = unique_at, unique_at + uniques - 1 do
  unique_release(stream, ARGV[u])
end
local expiring_at = unique_at + uniques
for e = 0, expiring - 1 do
  local at = expiring_at + 3 * e
  redis.call('SET', ARGV[at], ARGV[at + 1], 'PX', ARGV[at + 2])
end
if not_modified > 0 then
  redis.call('HINCRBY', stats, 'not_modified', not_modified)
end
return jobs
