#!lua flags=allow-oom
-- Give claimed entries back, due again at a time, the claim not counted (pipeline.journal):
-- a drain that could not write because a dependency was down. An entry cleared meanwhile is
-- left alone. allow-oom: a full Redis is one such outage.
--
-- KEYS: the journal's clock, its attempt counts. ARGV: when they are due, then the names.
local clock, attempts = unpack(KEYS)
local due = ARGV[1]

for i = 2, #ARGV do
  if redis.call('ZSCORE', clock, ARGV[i]) then
    redis.call('ZADD', clock, 'XX', due, ARGV[i])
    redis.call('HINCRBY', attempts, ARGV[i], -1)
  end
end
return 0
