-- After rows were committed to SQL: SQL now covers their numbers, so their counters may run
-- ahead of them by the reserve again. Raises, never lowers, and never creates a counter.
-- KEYS: the application's hash. ARGV: pairs of (counter name, highest number persisted).
local application = KEYS[1]
for i = 1, #ARGV, 2 do
  local name, persisted = ARGV[i], tonumber(ARGV[i + 1])
  local covered
  if name == 'chats' then covered = 'chats:covered' else covered = 'c:' .. string.sub(name, 3) end
  local known = redis.call('HGET', application, covered)
  if known and redis.call('HEXISTS', application, name) == 1 and persisted > tonumber(known) then
    redis.call('HSET', application, covered, persisted)
  end
end
return 0
