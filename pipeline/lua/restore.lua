-- Set an application's counters to the exact highest numbers SQL holds (rows written straight
-- to SQL: seeding, imports), covered and checked in this run of Redis, replacing what was there
-- (pipeline.numbering).
--
-- KEYS: the application's hash, its unknown-token marker.
-- ARGV: the highest chat number, then pairs of (chat number, highest message number).
local application, unknown_token = unpack(KEYS)
local run = string.sub(string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)'), 1, 16)

local function counter_fields(chat_number)
  if chat_number == '' then return 'chats', 'chats:covered', 'chats:run' end
  return 'm:' .. chat_number, 'c:' .. chat_number, 'r:' .. chat_number
end

redis.call('DEL', application, unknown_token)
for i = 0, #ARGV, 2 do
  local chat, highest
  if i == 0 then chat, highest = '', ARGV[1] else chat, highest = ARGV[i], ARGV[i + 1] end
  local last, covered, checked = counter_fields(chat)
  redis.call('HSET', application, last, highest, covered, highest, checked, run)
end
return 0
