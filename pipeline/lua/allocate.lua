-- Allocate the next chat or message number and journal its row, in one atomic step.
-- Called by pipeline.numbering, which documents the invariants this script keeps; every key
-- and journal entry name comes from pipeline.keys.
--
-- KEYS: the application's hash, its unknown-token marker, the journal's entries, the journal's
--       clock, the Idempotency-Key record (a placeholder when the request has no key), the
--       drain-requested marker, the partition's event stream and its sequence counter.
-- ARGV: chat number ('' to allocate a chat), the new entry's name without its number, the
--       chat's entry name ('' for a chat), payload (JSON), now (epoch seconds), idempotency
--       TTL in seconds ('' when there is no key), reserve (how many numbers a counter may run
--       ahead of what SQL knows), drain interval in ms, seed ('' unless the caller answers a
--       'reseed'), key checked ('1' once the caller found no row with this Idempotency-Key in
--       SQL, answering a 'check_key'; else ''), the event stream's approximate length cap
--       ('' or '0': no event is appended), the event's type.
-- Answers a status first: 'ok' (number, whether to queue a drain), 'replay' (number and
-- payload), 'reseed' (the counter or '', whether the chat is known), 'check_key' (the
-- counter), 'no_application', 'no_chat', 'backlog'.
local application, unknown_token, journal, clock, idempotency, drain_marker, events,
  events_seq = unpack(KEYS)
local chat, entry_prefix, chat_entry, payload, now, idempotency_ttl, reserve, drain_ms, seed,
  key_checked, events_maxlen, event_type = unpack(ARGV)

-- The application's hash holds four fields per counter: the last number handed out, the
-- highest number SQL is known to cover (a persisted row or a reservation), the replication ID
-- of the Redis run that last checked it against SQL, and when it was last reseeded.
local function counter_fields(chat_number)
  if chat_number == '' then return 'chats', 'chats:covered', 'chats:run', 'chats:reseeded' end
  return 'm:' .. chat_number, 'c:' .. chat_number, 'r:' .. chat_number, 's:' .. chat_number
end

-- The replication ID changes when Redis restarts (whatever it kept) and when a replica is
-- promoted: exactly when a counter may have lost increments that were already answered.
local run = string.sub(string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)'), 1, 16)

if idempotency_ttl ~= '' then
  local first = redis.call('GET', idempotency)
  if first then return {'replay', first} end
end

if redis.call('EXISTS', application) == 0 and redis.call('EXISTS', unknown_token) == 1 then
  return {'no_application'}
end

local last, covered, checked, reseeded = counter_fields(chat)

local counter = redis.call('HGET', application, last)
if not counter
  or redis.call('HGET', application, checked) ~= run
  or not redis.call('HGET', application, covered) then
  -- Not trustworthy as it stands: missing (flushed, evicted, never seen) or from another run.
  if seed == '' then
    -- For a message: whether Redis has a record of the chat (its counter, or its journal entry
    -- when the counter was lost); without one, only a row in SQL can prove the chat exists.
    local known = 1
    if chat ~= '' and not counter then
      -- No record of the chat here. A trusted chat counter is beyond every chat number ever
      -- handed out, so a number above it is certainly not a chat, with no need to ask SQL.
      local chats = redis.call('HGET', application, 'chats')
      if chats and redis.call('HGET', application, 'chats:run') == run
        and tonumber(chat) > tonumber(chats) then
        return {'no_chat'}
      end
      known = redis.call('HEXISTS', journal, chat_entry)
    end
    return {'reseed', counter or '', known}
  end
  -- The caller reserved up to the seed in SQL: raise to it, never lower.
  local value = math.max(tonumber(counter or '0'), tonumber(seed))
  local known = math.max(tonumber(redis.call('HGET', application, covered) or '0'), tonumber(seed))
  redis.call('HSET', application, last, value, covered, known, checked, run, reseeded, now)
  counter = value
end

-- Idempotency-Key records written shortly before a loss may be gone with it while their rows
-- reached SQL: for as long as a key lives after a reseed, a key Redis does not know is looked
-- up in SQL first (the caller answers with 'key checked', or replays the row it found).
if idempotency_ttl ~= '' and key_checked == '' then
  local since = redis.call('HGET', application, reseeded)
  if since and tonumber(now) - tonumber(since) < tonumber(idempotency_ttl) then
    return {'check_key', counter}
  end
end

local number = tonumber(counter) + 1
if number > tonumber(redis.call('HGET', application, covered)) + tonumber(reserve) then
  return {'backlog'}
end
redis.call('HSET', application, last, number)

if chat == '' then
  -- The chat exists from now on: its message counter is the explicit record of it.
  local messages, messages_covered, messages_checked = counter_fields(tostring(number))
  redis.call('HSET', application, messages, 0, messages_covered, 0, messages_checked, run)
end
local entry = entry_prefix .. number
redis.call('HSET', journal, entry, payload)
redis.call('ZADD', clock, now, entry)
if idempotency_ttl ~= '' then
  redis.call('SET', idempotency, number .. ' ' .. payload, 'EX', idempotency_ttl)
end
-- The event, in the same atomic step as the number: a partition's events are in number order
-- within each chat, and the sequence (one counter per stream, no gap) lets a reader tell a
-- flushed, trimmed or rolled-back stream from a continuous one (pipeline.events).
if events_maxlen ~= '' and events_maxlen ~= '0' then
  local sequence = redis.call('INCR', events_seq)
  redis.call('XADD', events, 'MAXLEN', '~', events_maxlen, '*',
    's', sequence, 't', event_type, 'e', entry, 'p', payload, 'r', run)
end
local drain = redis.call('SET', drain_marker, '1', 'NX', 'PX', drain_ms) and 1 or 0
return {'ok', number, drain}
