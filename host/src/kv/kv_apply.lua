-- Apply key-value writes at once (a plugin's `increment` on a key that its
-- job has pending writes to: those go first).
-- ARGV: write count W, then W triples (op, key, value); see kv_writes.
-- Returns how many adds were left out (not an integer, or overflow).
local _, skipped = kv_writes(1)
return skipped
