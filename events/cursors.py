"""The event ids a stream sends (``id:``), which clients hand back as ``Last-Event-ID``.

Opaque to clients; for us ``<stream id>_<sequence>`` names a position in the application's
partition stream (pipeline.events): the entry's Redis stream id and its sequence number, so a
resume can check that the entry is still there and is the same one (a stream flushed and
refilled reuses sequence numbers, never the pair). An event sent while catching a chat stream
up from ``?after=`` carries the position the live part starts from and the last message number
sent: ``<stream id>_<sequence>_<number>``.
"""

import re
from dataclasses import dataclass

_CURSOR = re.compile(r"(\d{1,20})-(\d{1,20})_(\d{1,20})(?:_(\d{1,20}))?")


class MalformedCursor(ValueError):
    """A Last-Event-ID this server never sent."""


@dataclass(frozen=True)
class Position:
    """A place in a partition's stream: an entry's id and its sequence (0-0 and 0: before
    the first entry of an empty stream)."""

    stream_id: str
    sequence: int

    @property
    def key(self) -> tuple[int, int]:
        """For comparing two stream ids, as Redis orders them."""
        milliseconds, counter = self.stream_id.split("-")
        return int(milliseconds), int(counter)


START = Position("0-0", 0)


@dataclass(frozen=True)
class Cursor:
    position: Position
    after: int | None = None  # the last message number a catch-up from ?after= sent

    def encode(self) -> str:
        text = f"{self.position.stream_id}_{self.position.sequence}"
        return text if self.after is None else f"{text}_{self.after}"

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        match = _CURSOR.fullmatch(text.strip())
        if match is None:
            raise MalformedCursor(text)
        milliseconds, counter, sequence, after = match.groups()
        position = Position(f"{int(milliseconds)}-{int(counter)}", int(sequence))
        return cls(position, None if after is None else int(after))
