"""The write side of the live events: what goes into a partition's event stream, and when.

Every event of an application goes to its partition's Redis stream (pipeline.keys), with a
sequence number from the partition's counter, in the same Lua step as the change it announces:

- ``chat.created`` and ``message.created``: by ``lua/allocate.lua``, with the number, so a
  chat's events are in number order and none is announced that was not answered 201;
- ``message.updated`` of a row still in the journal: by ``lua/replace.lua``, with the edit;
- ``message.updated`` of a persisted row: by ``lua/event.lua``, once SQL took the edit
  (``message_updated_append``).

An entry holds ``s`` (the sequence), ``t`` (the type), ``e`` (the journal entry's name: the
application and the numbers), ``p`` (the record's journal payload) and ``r`` (the run of the
Redis that wrote it: a reader that meets a new run knows Redis restarted in between). The
sequence has no gap within one life of the stream, so a reader that sees one (a ``FLUSHALL``, a
restart that lost the AOF's tail, a failover, trimming it could not keep up with) knows it
cannot vouch for what it missed. The stream is capped at about ``EVENTS_STREAM_MAXLEN``
entries. The read side is the ``events`` app (events/hub.py).
"""

import json

from django.conf import settings

from pipeline import keys, scripts
from pipeline.records import Record

CHAT_CREATED = "chat.created"
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"


def events_maxlen() -> str:
    """The cap the scripts get: '0' when events are off."""
    return str(max(int(settings.EVENTS_STREAM_MAXLEN), 0))


def events_keys(partition: int) -> list[str]:
    """The stream and its sequence counter, the order the scripts take them."""
    return [keys.events_stream_key(partition), keys.events_sequence_key(partition)]


def message_updated_append(record: Record) -> None:
    """Announce an edit SQL has taken (a persisted row), with the message as it now is."""
    if events_maxlen() == "0":
        return
    scripts.run(
        "event",
        keys=events_keys(keys.entry_partition(record.entry)),
        args=[events_maxlen(), MESSAGE_UPDATED, record.entry, json.dumps(record.to_journal())],
    )
