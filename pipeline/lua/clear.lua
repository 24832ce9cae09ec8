#!lua flags=allow-oom
-- Forget persisted journal entries (after their transaction committed), in one step
-- (pipeline.journal). allow-oom: clearing is how a full Redis gets its memory back.
--
-- KEYS: the journal's entries, its clock, its attempt counts. ARGV: the entries' names.
local entries, clock, attempts = unpack(KEYS)

redis.call('HDEL', entries, unpack(ARGV))
redis.call('ZREM', clock, unpack(ARGV))
redis.call('HDEL', attempts, unpack(ARGV))
return 0
