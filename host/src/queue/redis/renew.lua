-- Heartbeat: reset the idle time of the entries this host still owns, so no
-- other host reclaims them while this one is alive.
-- KEYS: 1 stream
-- ARGV: 1 group, 2 consumer, then entry ids
-- Returns the ids whose lease was lost (pending for another host now). An
-- entry no longer pending at all was acknowledged meanwhile (most often by
-- this host's own acknowledgement, in flight when the heartbeat read its
-- list): it is neither renewed nor reported.
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if p[1] ~= nil then
    if p[1][2] == ARGV[2] then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
    else
      table.insert(lost, id)
    end
  end
end
return lost
