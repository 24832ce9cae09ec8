"""A Server-Sent Events client of a live server, over httpx's streaming responses.

It reads one stream in a thread of its own and keeps what it received, so a test can act
(create, edit, kill a process) while it listens, then wait for what it expects. It parses the
format as the HTML standard's EventSource does: ``id:``, ``event:``, ``data:`` and ``retry:``
fields, comments, an event dispatched on a blank line; an event without an id leaves the last
id as it was.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SseEvent:
    id: str | None  # the last event id after this event (what a reconnect would send)
    type: str
    data: Any  # the data line, decoded as JSON


class SseStream:
    """One connection to an event stream, read in the background until closed or ended."""

    def __init__(
        self,
        port: int,
        path: str,
        *,
        last_event_id: str | None = None,
        headers: dict[str, str] | None = None,
        read_slowly: float = 0.0,
    ) -> None:
        self.url = f"http://127.0.0.1:{port}{path}"
        self.headers = {"Accept": "text/event-stream", **(headers or {})}
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = last_event_id
        self.status: int | None = None
        self.content_type = ""
        self.error_body: Any = None
        self.events: list[SseEvent] = []
        self.comments = 0
        self.retry: int | None = None
        self.ended = threading.Event()  # the server ended the stream (or it failed)
        self.opened = threading.Event()  # the status line arrived
        self.last_id = last_event_id
        self._read_slowly = read_slowly
        self._condition = threading.Condition()
        self._closing = False
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=60))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                self.opened.set()
                if response.status_code != 200:
                    self.error_body = json.loads(response.read() or b"null")
                    return
                self._parse(response)
        except (httpx.HTTPError, OSError, ValueError):
            if not self._closing:
                raise
        finally:
            self.opened.set()
            self.ended.set()
            with self._condition:
                self._condition.notify_all()

    def _parse(self, response: httpx.Response) -> None:
        event_type, data = "", []
        for line in response.iter_lines():
            if self._closing:
                return
            if line == "":
                if data:
                    with self._condition:
                        decoded = json.loads("\n".join(data))
                        self.events.append(SseEvent(self.last_id, event_type or "message", decoded))
                        self._condition.notify_all()
                    if self._read_slowly:
                        time.sleep(self._read_slowly)
                event_type, data = "", []
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "id":
                self.last_id = value
            elif field == "event":
                event_type = value
            elif field == "data":
                data.append(value)
            elif field == "retry" and value.isdigit():
                self.retry = int(value)

    def wait_for(
        self, predicate: Callable[[list[SseEvent]], bool], timeout: float = 10
    ) -> list[SseEvent]:
        """The events so far, once ``predicate`` holds of them; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while not predicate(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.ended.is_set() and not predicate(self.events)):
                    if remaining > 0:
                        break
                    raise AssertionError(f"timed out; received {self.events!r}")
                self._condition.wait(min(remaining, 0.2))
            if not predicate(self.events):
                raise AssertionError(f"stream ended; received {self.events!r}")
            return list(self.events)

    def wait_count(self, count: int, timeout: float = 10) -> list[SseEvent]:
        return self.wait_for(lambda events: len(events) >= count, timeout)

    def wait_open(self, timeout: float = 10) -> SseStream:
        assert self.opened.wait(timeout), "no answer"
        return self

    def close(self) -> None:
        self._closing = True
        self._client.close()
        self._thread.join(5)

    def __enter__(self) -> SseStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
