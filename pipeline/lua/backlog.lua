#!lua flags=no-writes
-- What a scrape reads of one partition (pipeline.metrics): how many entries the journal holds,
-- how many dead letters, and when the two entries most likely to be the oldest were accepted:
-- the one due first (never claimed, or its lease run out) and the one whose lease ends first
-- (claimed earliest by a drain still writing it). no-writes: it may run on a full Redis.
--
-- KEYS: the journal's entries, its clock, the dead letters. ARGV: now (epoch seconds).
-- Answers: entries, dead letters, then each candidate's created_at ('' when there is none or
-- its payload cannot be read).
local entries, clock, letters = unpack(KEYS)
local now = ARGV[1]

local function created_at(names)
  local name = names[1]
  if not name then return '' end
  local payload = redis.call('HGET', entries, name)
  if not payload then return '' end
  local ok, decoded = pcall(cjson.decode, payload)
  if not ok or type(decoded) ~= 'table' or type(decoded['created_at']) ~= 'string' then
    return ''
  end
  return decoded['created_at']
end

return {
  redis.call('ZCARD', clock),
  redis.call('HLEN', letters),
  created_at(redis.call('ZRANGE', clock, 0, 0)),
  created_at(redis.call('ZRANGEBYSCORE', clock, '(' .. now, '+inf', 'LIMIT', 0, 1)),
}
