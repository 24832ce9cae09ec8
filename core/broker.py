"""kombu's Redis transport, with channels that always finish closing when the broker is gone.

Without this, a Celery worker exits ("Unrecoverable error: AttributeError("'NoneType' object
has no attribute 'hostname'")", the celery/kombu#582 family) on some Redis restarts: those that
find the worker holding unacknowledged tasks (``acks_late`` and prefetch) while Redis stays down
for longer than the reconnect attempts inside the clean-up take. Read in kombu 5.7.0's source
(``kombu/connection.py``, ``kombu/transport/redis.py``, ``kombu/transport/virtual/base.py``) and
``celery/worker/consumer/consumer.py``, the sequence is:

1. The consumer sees the connection error and calls ``Connection.collect()``, which closes the
   connection's default channel (the one consuming tasks). ``Channel.close()`` first reads the
   reply of the ``BRPOP`` it has in flight; that raises ``ConnectionError``, and the close stops
   there, before the channel is marked closed. ``maybe_close_channel`` swallows the error.
2. ``Transport.close_connection()`` then closes the transport's channels one after the other;
   the remote-control (pidbox) channel fails too (deleting its auto-delete fanout queue on a
   dead Redis), which ends the loop before it reaches the default channel again. That error is
   swallowed as well, and ``collect()`` drops the transport: ``transport.client = None``.
3. The consumer then calls ``Connection.close()``, which closes the default channel a second
   time (kombu never forgets it). Past the ``BRPOP`` now, the channel drops its connection pool
   and restores its unacknowledged messages, which needs a new pool, built from
   ``transport.client.hostname``: an ``AttributeError``. That is not a connection error, so
   neither ``ignore_errors`` nor the consumer's restart loop catches it, and the worker stops.

The channel below, whenever its close fails on a connection error or finds its transport
already dropped, finishes the close locally: it leaves the poller, drops its pools and clients
(closing sockets, no network round trip) and is marked closed, so that any later close (and
kombu's restore at exit) is a no-op. Its unacknowledged messages stay in Redis's ``unacked``
hash, and kombu puts them back in the queue after ``visibility_timeout``
(``CELERY_VISIBILITY_TIMEOUT``), as it does for a worker that died; our journal
(pipeline.journal) does not depend on them anyway: beat queues a drain every few seconds.

A clean stop (``SHUTDOWN``) takes the same path as a SIGKILL: both are pinned in
tests/drills/test_worker_survives_redis.py. After either, the new connection gets a new
transport with new channels (nothing closed here is reused) and its ``BRPOP`` is issued again.
What a restart can lose is a task message, e.g. the journal drain a row asked for: the worker
queues drains again each time it connects (pipeline/worker_steps.py).

Selected by ``CELERY_BROKER_TRANSPORT`` (chatapi/settings/base.py) for ``redis://`` brokers.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def close(self) -> None:
        if not self.closed and (self.connection is None or self.connection.client is None):
            # The kombu Connection already dropped this transport: nothing on the broker can be
            # reached from here, and trying would build a pool from a client that is gone.
            self._close_locally()
            return
        try:
            super().close()
        except self.connection_errors:
            self._close_locally()
            raise

    def _close_locally(self) -> None:
        self._in_poll = False
        if self.closed:
            return
        self.closed = True
        if self._qos is not None:
            # kombu would restore the unacknowledged messages at exit, through this channel.
            self._qos._on_collect.cancel()
        transport = self.connection
        if transport is not None:
            transport.cycle.discard(self)
        self._disconnect_pools()
        self._close_clients()
        if transport is not None:
            transport.close_channel(self)


class Transport(kombu_redis.Transport):
    Channel = Channel
