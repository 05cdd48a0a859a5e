-- Take over entries whose lease lapsed (their host died or hung), and bury
-- the ones delivered too many times (poison jobs that take hosts down).
-- KEYS: 1 stream, 2 dead (hash), 3 dead index (zset), 4 stats
-- ARGV: 1 group, 2 consumer, 3 min idle ms (the lease), 4 cursor, 5 count,
--       6 maximum deliveries
-- Counts the entries taken over in the stats hash (`reclaimed`).
-- Returns {next cursor, {{id, field, body, deliveries}...}, buried count}
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local max = tonumber(ARGV[6])
local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out, buried = {}, 0
for _, entry in ipairs(claimed[2]) do
  local id, fields = entry[1], entry[2]
  if fields then
    local field, body = fields[1], fields[2]
    local p = redis.call('XPENDING', stream, group, id, id, 1)
    local deliveries = p[1] and tonumber(p[1][4]) or 1
    if deliveries > max then
      local task_id, round, unique = id, nil, nil
      if field == 'task' then
        local ok, decoded = pcall(cjson.decode, body)
        if ok and type(decoded) == 'table' and type(decoded.id) == 'string' then
          task_id = decoded.id
          if type(decoded.round) == 'string' then
            round = decoded.round
          end
          if decoded.unique == true and type(decoded.url) == 'string' then
            unique = decoded.url
          end
        end
      end
      local error = 'delivered ' .. deliveries .. ' times without finishing (its host died or hung each time; a poison job?)'
      local letter = '{"error":' .. cjson.encode(error) .. ',"died_at":' .. now_ms() ..
        ',"deliveries":' .. deliveries .. ',"' .. field .. '":'
      if field == 'task' then
        letter = letter .. body .. '}'
      else
        letter = letter .. cjson.encode(body) .. '}'
      end
      redis.call('XACK', stream, group, id)
      redis.call('XDEL', stream, id)
      redis.call('HSET', KEYS[2], task_id, letter)
      redis.call('ZADD', KEYS[3], now_ms(), task_id)
      redis.call('HINCRBY', KEYS[4], 'dead', 1)
      if round then
        round_ended(stream, KEYS[4], round, 'dead', 1)
      end
      if unique then
        unique_release(stream, unique)
      end
      buried = buried + 1
    else
      table.insert(out, {id, field, body, deliveries})
    end
  end
end
if #out > 0 then
  redis.call('HINCRBY', KEYS[4], 'reclaimed', #out)
end
return {claimed[1], out, buried}
