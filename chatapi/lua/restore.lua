-- Set an application's counters to the exact highest numbers SQL holds (rows written straight
-- to SQL: seeding, imports), covered and checked in this run of Redis, replacing what was there.
-- KEYS: the application's hash, its unknown-token marker.
-- ARGV: the highest chat number, then pairs of (chat number, highest message number).
local application, unknown_token = unpack(KEYS)
local run = string.sub(string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)'), 1, 16)
redis.call('DEL', application, unknown_token)
redis.call('HSET', application, 'chats', ARGV[1], 'chats:covered', ARGV[1], 'chats:run', run)
for i = 2, #ARGV, 2 do
  local chat, highest = ARGV[i], ARGV[i + 1]
  redis.call('HSET', application, 'm:' .. chat, highest, 'c:' .. chat, highest, 'r:' .. chat, run)
end
return 0
