-- The run of the Redis that holds KEYS[1] (a partition's event stream): its replication ID,
-- which changes whenever that Redis restarts (from any AOF) or a replica takes over. Run on the
-- key's node, so a Redis Cluster answers for the right master. The same 16 characters as
-- allocate.lua's run.
return string.sub(string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)'), 1, 16)
