-- Heartbeat: reset the idle time of the entries this host still owns, so no
-- other host reclaims them while this one is alive.
-- KEYS: 1 stream
-- ARGV: 1 group, 2 consumer, then entry ids
-- Returns the ids whose lease was lost (reclaimed by another host).
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if owned(KEYS[1], ARGV[1], id, ARGV[2]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
  else
    table.insert(lost, id)
  end
end
return lost
