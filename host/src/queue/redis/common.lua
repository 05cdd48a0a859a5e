-- Shared by the scripts below (prepended to each when loaded).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Whether stream entry `id` is pending for `consumer` (its lease is ours).
local function owned(stream, group, id, consumer)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  return p[1] ~= nil and p[1][2] == consumer
end

-- The entries from `first` to `last` (inclusive) pending for `consumer`, as
-- a set of ids: one XPENDING for a whole batch instead of one per entry. It
-- walks only this consumer's own pending list, which holds what this host
-- has in flight.
local function owned_between(stream, group, first, last, consumer)
  local set = {}
  local p = redis.call('XPENDING', stream, group, first, last, 1000000000, consumer)
  for _, entry in ipairs(p) do
    set[entry[1]] = true
  end
  return set
end

-- Apply one job's key-value writes, read from ARGV at `i`: a count W, then
-- W triples (op 's' set / 'd' delete / 'a' add, key, value or delta). With
-- `apply` false they are skipped over (the job's lease was lost). Returns
-- the index after them and how many adds found a value that is not an
-- integer (or would overflow) and were left out.
local function kv_writes(i, apply)
  local count = tonumber(ARGV[i])
  i = i + 1
  local skipped = 0
  if apply then
    for _ = 1, count do
      local op, key, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
      if op == 's' then
        redis.call('SET', key, value)
      elseif op == 'd' then
        redis.call('DEL', key)
      else
        local r = redis.pcall('INCRBY', key, value)
        if type(r) == 'table' and r.err then
          skipped = skipped + 1
        end
      end
      i = i + 3
    end
  else
    i = i + 3 * count
  end
  return i, skipped
end
