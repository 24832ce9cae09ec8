-- Replace a journal entry's payload if the entry is still there (an edit of a row not yet
-- persisted); an entry cleared a moment ago by a drain is not brought back. The edit's
-- 'message.updated' event is appended in the same step (pipeline.events).
--
-- KEYS: the journal's entries, the partition's event stream, its sequence counter.
-- ARGV: the entry's name, its new payload, the stream's approximate length cap ('' or '0': no
--       event).
-- Answers 1 if replaced, 0 if the entry is gone.
local entries, events, events_seq = unpack(KEYS)
local name, payload, events_maxlen = unpack(ARGV)

if redis.call('HEXISTS', entries, name) == 1 then
  redis.call('HSET', entries, name, payload)
  if events_maxlen ~= '' and events_maxlen ~= '0' then
    -- The run of this Redis, as allocate.lua writes it (events/hub.py).
    local run = string.sub(string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)'), 1, 16)
    local sequence = redis.call('INCR', events_seq)
    redis.call('XADD', events, 'MAXLEN', '~', events_maxlen, '*',
      's', sequence, 't', 'message.updated', 'e', name, 'p', payload, 'r', run)
  end
  return 1
end
return 0
