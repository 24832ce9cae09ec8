"""An entry of a partition's event stream, parsed once, and its Server-Sent Events frame.

A reader parses each entry once and renders its frame once, whatever number of streams it goes
to: every client of the event gets the same bytes.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from chats.apis import chat_created_render
from chats.records import ChatRecord
from events.cursors import Cursor, Position
from messages_app.records import MessageRecord
from messages_app.serializers import messages_render
from pipeline import keys
from pipeline.events import CHAT_CREATED, MESSAGE_CREATED


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Event:
    position: Position
    type: str
    token: str
    chat_number: int
    number: int  # the chat's for chat.created, the message's otherwise
    body: bytes  # the SSE event without its id line
    run: str = ""  # the run of the Redis that wrote it ('' when not from the stream)
    _frame: bytes = field(init=False, repr=False, compare=False)

    @property
    def frame(self) -> bytes:
        """The whole SSE event, its id the position (pre-rendered once: see __post_init__)."""
        return self._frame

    def __post_init__(self) -> None:
        framed = f"id: {Cursor(self.position).encode()}\n".encode() + self.body
        object.__setattr__(self, "_frame", framed)

    @staticmethod
    def text(value: Any) -> str:
        return _text(value)

    @staticmethod
    def run_of(fields: dict[Any, Any]) -> str:
        return _text(fields.get(b"r", fields.get("r", "")))

    @staticmethod
    def position_of(stream_id: Any, fields: dict[Any, Any]) -> Position:
        sequence = fields.get(b"s", fields.get("s"))
        return Position(_text(stream_id), int(_text(sequence)))

    @classmethod
    def message(cls, position: Position, message: MessageRecord) -> "Event":
        """A message.created sent from SQL or the journal (a catch-up from ?after=)."""
        return cls(
            position=position,
            type=MESSAGE_CREATED,
            token=message.token,
            chat_number=message.chat_number,
            number=message.number,
            body=body(MESSAGE_CREATED, message_data(message)),
        )

    @classmethod
    def from_entry(cls, stream_id: Any, fields: dict[Any, Any]) -> "Event":
        values = {_text(name): _text(value) for name, value in fields.items()}
        position = Position(_text(stream_id), int(values["s"]))
        name = keys.EntryName.parse(values["e"])
        payload = json.loads(values["p"])
        if values["t"] == CHAT_CREATED:
            data = chat_created_render(ChatRecord.from_journal(values["e"], payload))
            chat_number = number = name.numbers[0]
        else:
            data = message_data(MessageRecord.from_journal(values["e"], payload))
            chat_number, number = name.numbers
        return cls(
            position=position,
            type=values["t"],
            token=name.token,
            chat_number=chat_number,
            number=number,
            body=body(values["t"], data),
            run=values.get("r", ""),
        )


def message_data(message: MessageRecord) -> dict[str, Any]:
    """A message as its events carry it: the API's message, with its chat's number."""
    return {"chat_number": message.chat_number, **messages_render([message])[0]}


def body(event_type: str, data: dict[str, Any]) -> bytes:
    """An SSE event without its id line (JSON has no raw newline: one data line)."""
    return f"event: {event_type}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def reset_frame(reason: str, position: Position) -> bytes:
    """What a client gets where the server cannot vouch for what it missed: re-read with
    ``?after=`` (the contract). Its id is a position the stream is continuous from, so a
    reconnect after it goes on from there instead of meeting the same reset again."""
    return f"id: {Cursor(position).encode()}\n".encode() + body("reset", {"reason": reason})
