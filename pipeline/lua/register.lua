-- Make a new application known to the allocator: its chat counter starts at 0, checked in this
-- run of Redis, so its first chat needs no SQL. Forgets that the token was unknown.
--
-- KEYS: the application's hash, its unknown-token marker.
local application, unknown_token = unpack(KEYS)
local run = string.sub(string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)'), 1, 16)

if redis.call('HSETNX', application, 'chats', 0) == 1 then
  redis.call('HSET', application, 'chats:covered', 0, 'chats:run', run)
end
redis.call('DEL', unknown_token)
return 0
