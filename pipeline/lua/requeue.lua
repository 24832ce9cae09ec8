-- Take dead letters and put the journal entries they hold back into the journal, due now
-- (pipeline.dead_letters). A letter another replay took first is skipped, so no entry is
-- requeued twice.
--
-- KEYS: the dead letters, the journal's entries, its clock, its attempt counts.
-- ARGV: now, then for each letter: its id, the entry's name ('' for a letter the caller
--       replays itself: an edit), the entry's payload.
-- Answers the ids of the letters taken.
local letters, entries, clock, attempts = unpack(KEYS)
local now = ARGV[1]

local taken = {}
for i = 2, #ARGV, 3 do
  local id, name, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HDEL', letters, id) == 1 then
    if name ~= '' then
      redis.call('HSET', entries, name, payload)
      redis.call('ZADD', clock, now, name)
      redis.call('HDEL', attempts, name)
    end
    table.insert(taken, id)
  end
end
return taken
