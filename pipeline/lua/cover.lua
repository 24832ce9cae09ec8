#!lua flags=allow-oom
-- After rows were committed to SQL: SQL now covers their numbers, so their counters may run
-- ahead of them by the reserve again (pipeline.numbering). Raises, never lowers, and never
-- creates a counter.
--
-- KEYS: the application's hash.
-- ARGV: pairs of (chat number, or '' for the application's chat counter; the highest number
--       persisted).
local application = unpack(KEYS)

local function counter_fields(chat_number)
  if chat_number == '' then return 'chats', 'chats:covered' end
  return 'm:' .. chat_number, 'c:' .. chat_number
end

for i = 1, #ARGV, 2 do
  local last, covered = counter_fields(ARGV[i])
  local persisted = tonumber(ARGV[i + 1])
  local known = redis.call('HGET', application, covered)
  if known and redis.call('HEXISTS', application, last) == 1 and persisted > tonumber(known) then
    redis.call('HSET', application, covered, persisted)
  end
end
return 0
