-- Replace a journal entry's payload if the entry is still there (an edit of a row not yet
-- persisted); an entry cleared a moment ago by a drain is not brought back.
--
-- KEYS: the journal's entries. ARGV: the entry's name, its new payload.
-- Answers 1 if replaced, 0 if the entry is gone.
local entries = unpack(KEYS)
local name, payload = unpack(ARGV)

if redis.call('HEXISTS', entries, name) == 1 then
  redis.call('HSET', entries, name, payload)
  return 1
end
return 0
