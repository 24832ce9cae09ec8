"""The hub of a stream process: one reader per partition, fanning events out to its streams.

A reader (``PartitionReader``) follows one partition's Redis stream (pipeline.events) with a
blocking XREAD on a connection of its own, parses each entry once and hands it to every
subscription of that partition that wants it (by application, and chat). Events are never
fetched per client: 10,000 streams of one partition cost one read per batch of events.

A subscription buffers at most EVENTS_CLIENT_QUEUE items; a client that cannot keep up has
its buffer replaced by a ``reset`` and is closed, so it never holds a reader back or slows
another client.

Continuity. Each entry carries its partition's gap-free sequence: a reader that meets a jump
(the stream was flushed, trimmed under it, or rolled back by a restart or a failover) sends
every subscription a ``reset`` before the next event. A resume (``subscribe`` with a cursor)
reads from the cursor to where the reader is, and gets a ``reset`` instead when the cursor's
entry is no longer there as it was (older than the retention, or lost with Redis).
"""

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

from core.errors import REDIS_UNAVAILABLE
from events.cursors import START, Cursor, Position
from events.frames import Event, reset_frame
from events.redis_async import async_redis
from pipeline import keys, scripts
from pipeline.events import CHAT_CREATED, MESSAGE_CREATED

logger = logging.getLogger(__name__)

PAGE = 1000  # entries per XREAD or XRANGE
RUN_SCRIPT = scripts.source("run")
_END = object()


class TooManyStreams(Exception):
    """A limit of EVENTS_MAX_STREAMS_PER_PROCESS or EVENTS_MAX_STREAMS_PER_APPLICATION."""


class EventsUnavailable(Exception):
    """Redis cannot tell where the stream is: the stream cannot start."""


@dataclass(frozen=True)
class Reset:
    reason: str
    position: Position


Item = Event | Reset


class Subscription:
    """One client's stream: what it follows, and the events waiting to be written to it."""

    def __init__(self, hub: "Hub", token: str, chat_number: int | None) -> None:
        self.hub = hub
        self.token = token
        self.chat_number = chat_number
        self.items: collections.deque[Item] = collections.deque()
        self.ready = asyncio.Event()
        self.closed = False
        self.limit = int(settings.EVENTS_CLIENT_QUEUE)
        # A chat stream started with ?after= (or resumed from one): every message.created at
        # or below this number was sent already, and every id says so (events.cursors).
        self.created_up_to: int | None = None
        # A resume ahead of this reader (it started after the client's last event was read
        # elsewhere): entries up to here were sent already.
        self.skip_until: tuple[int, int] | None = None
        self.position = START  # the last position sent
        # The run of the Redis that wrote the last event sent (or the cursor's entry): an
        # event of another run follows a restart that may have lost events in between.
        self.run: str | None = None

    def wants(self, event: Event) -> bool:
        if event.token != self.token:
            return False
        if self.chat_number is None:
            return True
        return event.type != CHAT_CREATED and event.chat_number == self.chat_number

    def offer(self, item: Item) -> None:
        if self.closed:
            return
        if len(self.items) >= self.limit:
            # Cannot keep up: what it would get next is no longer continuous.
            self.items.clear()
            self.items.append(Reset("too slow: events were dropped", self.position))
            self.closed = True
        else:
            self.items.append(item)
        self.ready.set()

    def prepend(self, items: list[Item]) -> None:
        """What comes before everything queued so far (a catch-up)."""
        if not self.closed:
            self.items.extendleft(reversed(items))
            self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    def _render(self, item: Item) -> bytes | None:
        if isinstance(item, Reset):
            self.position, self.run = item.position, None
            return reset_frame(item.reason, item.position)  # no suffix: the reset's re-read
        told = b""
        if item.run:
            if self.run is not None and item.run != self.run:
                told = reset_frame("Redis restarted: events may be lost", self.position)
            self.run = item.run
        framed = self._render_event(item)
        return told + framed if framed is not None else told or None

    def _render_event(self, item: Event) -> bytes | None:
        if self.skip_until is not None:
            if item.position.key <= self.skip_until:
                return None
            self.skip_until = None
        self.position = item.position
        if self.created_up_to is None:
            return item.frame
        if item.type == MESSAGE_CREATED:
            if item.number <= self.created_up_to:
                return None
            self.created_up_to = item.number
        cursor = Cursor(item.position, self.created_up_to).encode()
        return b"id: " + cursor.encode() + b"\n" + item.body

    async def frames(self) -> AsyncIterator[bytes]:
        """The bytes to write, as they come, with a keep-alive comment on idle; ends when the
        subscription is closed (a graceful stop, a client too slow)."""
        keepalive = float(settings.EVENTS_KEEPALIVE_SECONDS)
        try:
            yield f"retry: {int(settings.EVENTS_RETRY_MS)}\n\n".encode()
            while True:
                if not self.items:
                    if self.closed:
                        return
                    self.ready.clear()
                    try:
                        await asyncio.wait_for(self.ready.wait(), keepalive)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                out = []
                while self.items:
                    rendered = self._render(self.items.popleft())
                    if rendered is not None:
                        out.append(rendered)
                if out:
                    yield b"".join(out)
        finally:
            self.hub.unsubscribe(self)


class PartitionReader:
    """Follows one partition's stream and fans its events out."""

    def __init__(self, hub: "Hub", partition: int) -> None:
        self.hub = hub
        self.partition = partition
        self.key = keys.events_stream_key(partition)
        self.subscriptions: dict[str, set[Subscription]] = collections.defaultdict(set)
        self.position = START  # the last entry read (once ``located``)
        self.run = ""  # the run of the Redis holding the stream when it was located
        self.located = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def tail(self) -> Position:
        """The stream's last entry (START when it is empty)."""
        last = await self.hub.client().xrevrange(self.key, count=1)
        return START if not last else Event.position_of(*last[0])

    async def _run(self) -> None:
        check = False
        while True:
            try:
                if not self.located.is_set():
                    self.run = await self._redis_run()
                    self.position = await self.tail()
                    self.located.set()
                elif check:
                    await self._check()
                check = False
                await self._read()
            except asyncio.CancelledError:
                raise
            except (*REDIS_UNAVAILABLE, redis.ResponseError) as exc:
                logger.warning("events: partition %s: %s", self.partition, exc)
                check = True
                await asyncio.sleep(0.5)

    async def _redis_run(self) -> str:
        """The run of the Redis holding this partition (pipeline/lua/run.lua)."""
        run = await self.hub.client().eval(RUN_SCRIPT, 1, self.key)
        return run.decode() if isinstance(run, bytes) else str(run)

    async def _check(self) -> None:
        """After a lost connection, and when idle: is the stream still the one that was being
        read, in the same run of Redis?

        A Redis that restarted (or a replica that took over) may have come back without the
        last events it acknowledged, and without the sequence numbers they took: the entries
        that follow then continue the sequence as if nothing was lost, so a jump cannot show it.
        Its run can: every stream is reset once when it changes.
        """
        run = await self._redis_run()
        restarted, self.run = run != self.run, run
        intact = True
        if self.position != START:
            found = await self.hub.client().xrange(
                self.key, self.position.stream_id, self.position.stream_id
            )
            intact = bool(found) and Event.position_of(*found[0]) == self.position
        if not intact:
            self.position = await self.tail()
            self._broadcast(
                Reset("the event stream was lost (Redis restarted or was flushed)", self.position)
            )
        elif restarted:
            # The reading goes on from where it was: the events appended since the restart
            # still come, after the reset.
            self._broadcast(
                Reset("Redis restarted or failed over: events may be lost", self.position)
            )

    async def _read(self) -> None:
        reply = await self.hub.client().xread(
            {self.key: self.position.stream_id},
            count=PAGE,
            block=int(settings.EVENTS_READ_BLOCK_MS),
        )
        if not reply:
            # Idle: a stream flushed meanwhile is noticed now, not at its next event.
            await self._check()
            return
        for _stream, entries in reply:
            for stream_id, fields in entries:
                try:
                    event = Event.from_entry(stream_id, fields)
                except (KeyError, ValueError, TypeError):
                    # An entry this code cannot read (written by another version): skipped
                    # with a reset, never a reader stuck on it.
                    logger.exception("events: unreadable entry %r", stream_id)
                    self.position = Position(Event.text(stream_id), self.position.sequence + 1)
                    self._broadcast(Reset("an event could not be read", self.position))
                    continue
                if event.position.sequence != self.position.sequence + 1:
                    self._broadcast(
                        Reset(
                            "events were lost (Redis restarted, failed over or was flushed)",
                            event.position,
                        )
                    )
                self.position = event.position
                for subscription in list(self.subscriptions.get(event.token, ())):
                    if subscription.wants(event):
                        subscription.offer(event)

    def _broadcast(self, item: Item) -> None:
        for group in self.subscriptions.values():
            for subscription in list(group):
                subscription.offer(item)

    async def catch_up(
        self, subscription: Subscription, cursor: Position, until: Position
    ) -> list[Item]:
        """The subscription's events after ``cursor`` up to ``until`` (where it joined the
        reader), or a reset when the stream no longer holds them continuously."""
        client = self.hub.client()
        if cursor != START:
            found = await client.xrange(self.key, cursor.stream_id, cursor.stream_id)
            if not found or Event.position_of(*found[0]) != cursor:
                return [Reset("the cursor is older than the events kept, or was lost", until)]
            subscription.run = Event.run_of(found[0][1]) or None
        if cursor.key >= until.key:
            if cursor.key > until.key:
                subscription.skip_until = cursor.key
            return []
        items: list[Item] = []
        sequence, start = cursor.sequence, f"({cursor.stream_id}"
        while True:
            page = await client.xrange(self.key, start, until.stream_id, count=PAGE)
            for stream_id, fields in page:
                event = Event.from_entry(stream_id, fields)
                if event.position.sequence != sequence + 1:
                    return [Reset("events after the cursor were lost", until)]
                sequence = event.position.sequence
                if subscription.wants(event):
                    items.append(event)
            if len(page) < PAGE:
                break
            start = f"({Event.position_of(*page[-1]).stream_id}"
        if sequence != until.sequence:
            return [Reset("events after the cursor were lost", until)]
        return items


class Hub:
    """The process's readers and subscriptions (one hub per event loop)."""

    def __init__(self) -> None:
        self.readers: dict[int, PartitionReader] = {}
        self.by_token: collections.Counter[str] = collections.Counter()
        self.subscriptions: set[Subscription] = set()
        self.stopping = False

    def client(self) -> Any:
        return async_redis(id(asyncio.get_running_loop()))

    def reader(self, partition: int) -> PartitionReader:
        reader = self.readers.get(partition)
        if reader is None:
            reader = self.readers[partition] = PartitionReader(self, partition)
        reader.start()
        return reader

    def admit(self, token: str) -> None:
        if self.stopping:
            raise EventsUnavailable("this stream process is stopping")
        if len(self.subscriptions) >= int(settings.EVENTS_MAX_STREAMS_PER_PROCESS):
            raise TooManyStreams("This server holds as many event streams as it may.")
        if self.by_token[token] >= int(settings.EVENTS_MAX_STREAMS_PER_APPLICATION):
            raise TooManyStreams("This application has as many event streams open as it may.")

    async def subscribe(
        self, *, token: str, chat_number: int | None, cursor: Cursor | None
    ) -> tuple[Subscription, Position]:
        """A new subscription, with what it missed since ``cursor`` queued first; and the
        position it joined the live events at."""
        self.admit(token)
        reader = self.reader(keys.partition_of(token))
        try:
            await asyncio.wait_for(reader.located.wait(), float(settings.REDIS_SOCKET_TIMEOUT) * 2)
        except TimeoutError as exc:
            raise EventsUnavailable("Redis does not answer") from exc
        self.admit(token)
        subscription = Subscription(self, token, chat_number)
        # No await between reading the reader's position and joining it: every event after
        # the position is offered to the subscription, every one up to it was read before.
        joined = subscription.position = reader.position
        reader.subscriptions[token].add(subscription)
        self.subscriptions.add(subscription)
        self.by_token[token] += 1
        if cursor is not None:
            try:
                subscription.prepend(await reader.catch_up(subscription, cursor.position, joined))
            except BaseException:
                self.unsubscribe(subscription)
                raise
        return subscription, joined

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription not in self.subscriptions:
            return
        self.subscriptions.discard(subscription)
        self.by_token[subscription.token] -= 1
        if self.by_token[subscription.token] <= 0:
            del self.by_token[subscription.token]
        reader = self.readers.get(keys.partition_of(subscription.token))
        if reader is not None:
            group = reader.subscriptions.get(subscription.token)
            if group is not None:
                group.discard(subscription)
                if not group:
                    del reader.subscriptions[subscription.token]

    def stop(self) -> None:
        """A graceful stop: every stream ends, so clients reconnect (to another process)."""
        self.stopping = True
        for subscription in list(self.subscriptions):
            subscription.close()


_hubs: dict[int, Hub] = {}


def hub() -> Hub:
    """The hub of the running event loop (one per process in a stream process)."""
    loop_id = id(asyncio.get_running_loop())
    found = _hubs.get(loop_id)
    if found is None:
        found = _hubs[loop_id] = Hub()
    return found


def hubs_stop() -> None:
    for each in _hubs.values():
        each.stop()
