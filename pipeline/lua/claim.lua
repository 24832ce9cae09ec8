#!lua flags=allow-oom
-- Claim up to a limit of due journal entries, oldest first, for a lease (pipeline.journal).
-- allow-oom: a full Redis (noeviction) must still drain the journal that filled it.
-- A claimed entry is due again when the lease runs out, so a drain that dies loses nothing.
--
-- KEYS: the journal's entries, its clock, its attempt counts.
-- ARGV: now, the lease's end (epoch seconds), the limit.
-- Answers: name, payload, attempts (this claim included), for each entry claimed.
local entries, clock, attempts = unpack(KEYS)
local now, lease_until, limit = unpack(ARGV)

local claimed = {}
for _, name in ipairs(redis.call('ZRANGEBYSCORE', clock, '-inf', now, 'LIMIT', 0, limit)) do
  local payload = redis.call('HGET', entries, name)
  if payload then
    redis.call('ZADD', clock, 'XX', lease_until, name)
    table.insert(claimed, name)
    table.insert(claimed, payload)
    table.insert(claimed, redis.call('HINCRBY', attempts, name, 1))
  else
    redis.call('ZREM', clock, name)
  end
end
return claimed
