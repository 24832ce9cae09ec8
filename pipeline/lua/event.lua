-- Append one event to a partition's event stream (an edit of a persisted row: its
-- 'message.updated'), numbered by the stream's sequence counter like every other event
-- (pipeline.events); allocate.lua and replace.lua append theirs themselves.
--
-- KEYS: the partition's event stream, its sequence counter.
-- ARGV: the stream's approximate length cap, the event's type, the entry's name, its payload.
-- Answers the new entry's id.
local events, events_seq = unpack(KEYS)
local events_maxlen, event_type, name, payload = unpack(ARGV)

-- The run of this Redis ('r', as allocate.lua writes it): a reader that meets another run
-- knows Redis restarted in between and may have lost events (events/hub.py).
local run = string.sub(string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)'), 1, 16)
local sequence = redis.call('INCR', events_seq)
return redis.call('XADD', events, 'MAXLEN', '~', events_maxlen, '*',
  's', sequence, 't', event_type, 'e', name, 'p', payload, 'r', run)
