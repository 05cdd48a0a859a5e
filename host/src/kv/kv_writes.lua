-- The key-value store's writes, applied inside a script: by kv_apply.lua,
-- and by the queue's acknowledgement scripts, which apply a job's writes in
-- the same atomic step as its acknowledgement. Owned by the key-value store
-- (kv/redis.rs); prepended to those scripts when they are loaded.

-- Apply one key-value write (op 's' set / 'd' delete / 'a' add / 'eMS' set
-- expiring after MS milliseconds, key, value or delta). Returns 1 for an
-- add that found a value that is not an integer (or would overflow) and was
-- left out, else 0.
local function kv_write(op, key, value)
  if op == 's' then
    redis.call('SET', key, value)
  elseif string.byte(op) == 101 then
    redis.call('SET', key, value, 'PX', string.sub(op, 2))
  elseif op == 'd' then
    redis.call('DEL', key)
  else
    local r = redis.pcall('INCRBY', key, value)
    if type(r) == 'table' and r.err then
      return 1
    end
  end
  return 0
end

-- Apply one job's key-value writes, read from ARGV at `i`: a count W, then
-- W triples (see kv_write). Returns the index after them and how many adds
-- were left out.
local function kv_writes(i)
  local count = tonumber(ARGV[i])
  i = i + 1
  local skipped = 0
  for _ = 1, count do
    skipped = skipped + kv_write(ARGV[i], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  end
  return i, skipped
end

-- The key-value writes of a batch of jobs (`ack.lua`), applied with fewer
-- commands than one per write but with the same end state as applying them
-- one by one in job order (`kv_writes`): writes to different keys commute,
-- so each key is handled on its own.
-- - A key that is only ever set goes into one MSET (the last set wins, as
--   in order).
-- - A key that is only ever added to, with deltas of one sign, gets one
--   INCRBY of their sum (kept below 2^52, so exact in Lua's numbers). One
--   sign makes the partial sums monotonic: the sum overflows if and only if
--   some step would. If Redis refuses the sum (not an integer, overflow),
--   the adds go one by one, so each job learns which of its were left out.
-- - Any other key (a delete, sets and adds mixed, deltas of both signs)
--   gets its writes one by one, in order.
-- What this saves is in BENCHMARKS.md (Optimisations, ack.lua's batch writes).
-- `take(job, i, count)` records job `job`'s `count` triples at ARGV[i] and
-- returns the index after them; `apply(flat)` adds to flat[2 * job] how many
-- of job `job`'s adds were left out.
local function kv_batch()
  local at_of, job_of, n = {}, {}, 0
  -- Per key: 's' only sets, 'a' only adds of one sign, 'x' anything else.
  local kind, sum = {}, {}
  local batch = {}
  function batch.take(job, i, count)
    for _ = 1, count do
      local op, key = ARGV[i], ARGV[i + 1]
      n = n + 1
      at_of[n], job_of[n] = i, job
      local k = kind[key]
      if op == 's' then
        if k == nil then
          kind[key] = 's'
        elseif k ~= 's' then
          kind[key] = 'x'
        end
      elseif op == 'a' and (k == nil or k == 'a') then
        local delta = tonumber(ARGV[i + 2])
        local before = sum[key] or 0
        local total = delta and before + delta
        if total and total < 4e15 and total > -4e15
            and not (before > 0 and delta < 0) and not (before < 0 and delta > 0) then
          kind[key], sum[key] = 'a', total
        else
          kind[key] = 'x'
        end
      else
        kind[key] = 'x'
      end
      i = i + 3
    end
    return i
  end
  local function one(w, flat)
    local at, job = at_of[w], job_of[w]
    flat[2 * job] = flat[2 * job] + kv_write(ARGV[at], ARGV[at + 1], ARGV[at + 2])
  end
  function batch.apply(flat)
    local pairs_, m = {}, 0
    for w = 1, n do
      local at = at_of[w]
      local key = ARGV[at + 1]
      local k = kind[key]
      if k == 's' then
        pairs_[m + 1], pairs_[m + 2] = key, ARGV[at + 2]
        m = m + 2
        if m >= 1000 then
          redis.call('MSET', unpack(pairs_, 1, m))
          m = 0
        end
      elseif k == 'a' then
        -- The first add to the key applies the sum; the rest were in it.
        kind[key] = 'done'
        local r = redis.pcall('INCRBY', key, string.format('%.0f', sum[key]))
        if type(r) == 'table' and r.err then
          kind[key] = 'x'
          one(w, flat)
        end
      elseif k == 'x' then
        one(w, flat)
      end
    end
    if m > 0 then
      redis.call('MSET', unpack(pairs_, 1, m))
    end
  end
  return batch
end
