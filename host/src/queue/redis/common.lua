-- Shared by the queue's scripts (prepended to each when loaded, after the
-- Redis layer's prelude and the key-value store's `kv_writes.lua`).

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

