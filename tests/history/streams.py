"""Stream readers for the history: chat event streams followed through the nemesis, each by a
chain of connections that disconnect and resume (``Last-Event-ID``) at random; and the checker
of what each chain received.

A reader is a thread of the runner's process (the streams are I/O only), over ``http.client``
like the clients (no dependency). Each keeps one chain: every connection it opened, every event
and every ``reset``, on the history's clock (``time.monotonic()``).

What the checker proves, per chain (the contract's "Live events"):

- ``message.created`` numbers are strictly ascending over the whole chain: none twice, none
  out of order;
- no gap without a ``reset``: between two consecutive ``message.created`` of the chain with no
  ``reset`` between them, no number of that chat was answered 201;
- no event for a number never handed out: every ``message.created`` is a number a create of
  that chat was answered 201 with, or may have had (an unknown outcome), or one allocated in a
  declared loss window (announced, then lost with Redis: the contract's one allowed loss);
- every ``message.updated`` comes after its message's ``message.created`` in the chain, when
  that message was created after the chain began.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.history.history import CREATE_MESSAGE, Fault, Op

HOST = "127.0.0.1"
# A connection lasts this long (uniformly at random), then the reader resumes with its last id.
CONNECTION_SECONDS = (0.3, 4.0)


@dataclass
class Chain:
    """What one reader received, connection after connection."""

    reader: int
    app: str
    chat: int
    started: float
    # ["open", time, status], ["event", time, type, number], ["reset", time],
    # ["error", time, text]
    entries: list[list[Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class StreamReader(threading.Thread):
    def __init__(
        self,
        index: int,
        port: Callable[[], int],
        app: str,
        chat: int,
        rng: random.Random,
        stop_at: float,
    ) -> None:
        super().__init__(daemon=True, name=f"stream-reader-{index}")
        self.port = port
        self.rng = rng
        self.stop_at = stop_at
        self.chain = Chain(index, app, chat, time.monotonic())
        self.last_id: str | None = None

    def run(self) -> None:
        while time.monotonic() < self.stop_at:
            until = min(time.monotonic() + self.rng.uniform(*CONNECTION_SECONDS), self.stop_at)
            try:
                self._connection(until)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.chain.entries.append(["error", time.monotonic(), repr(exc)[:200]])
                time.sleep(0.2)

    def _connection(self, until: float) -> None:
        connection = http.client.HTTPConnection(HOST, self.port(), timeout=3)
        try:
            headers = {"Accept": "text/event-stream"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            connection.request(
                "GET",
                f"/api/v1/apps/{self.chain.app}/chats/{self.chain.chat}/events",
                headers=headers,
            )
            response = connection.getresponse()
            self.chain.entries.append(["open", time.monotonic(), response.status])
            if response.status != 200:
                response.read()
                time.sleep(0.2)
                return
            event_type, data, event_id = "", "", None
            while time.monotonic() < until:
                try:
                    raw = response.readline()
                except TimeoutError:
                    continue
                if not raw:
                    return  # the server ended the stream
                line = raw.decode().rstrip("\n")
                if line == "":
                    if data:
                        self._dispatch(event_type, data, event_id)
                    event_type, data, event_id = "", "", None
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("event:"):
                    event_type = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
        finally:
            connection.close()

    def _dispatch(self, event_type: str, data: str, event_id: str | None) -> None:
        now = time.monotonic()
        if event_id is not None:
            self.last_id = event_id
        if event_type == "reset":
            self.chain.entries.append(["reset", now])
        else:
            self.chain.entries.append(["event", now, event_type, json.loads(data)["number"]])


def readers_start(
    apps: dict[str, list[int]], count: int, port: Callable[[], int], seed: int, stop_at: float
) -> list[StreamReader]:
    """``count`` readers over the chats of ``apps``, round robin."""
    places = [(app, chat) for app, chats in sorted(apps.items()) for chat in chats]
    readers = []
    for index in range(count):
        app, chat = places[index % len(places)]
        rng = random.Random(f"{seed}-stream-{index}")  # noqa: S311 - not a secret
        reader = StreamReader(index, port, app, chat, rng, stop_at)
        reader.start()
        readers.append(reader)
    return readers


@dataclass
class StreamsResult:
    chains: int
    connections: int
    events: int
    resets: int
    violations: list[str]


def _lost(faults: list[Fault], app: str, at: float) -> bool:
    """Whether ``at`` (an event's arrival) falls in a declared loss window of ``app``."""
    for fault in faults:
        if fault.lost_until is None:
            continue
        if fault.lost_apps is not None and app not in fault.lost_apps:
            continue
        start = fault.lost_from if fault.lost_from is not None else fault.start
        if start - 1.0 <= at <= fault.lost_until + 1.0:
            return True
    return False


def check_streams(chains: list[Chain], ops: list[Op], faults: list[Fault]) -> StreamsResult:
    answered: dict[tuple[str, int], dict[int, float]] = {}  # (app, chat) -> number -> complete
    possible: set[tuple[str, int, int]] = set()
    for op in ops:
        if op.kind != CREATE_MESSAGE or op.chat is None:
            continue
        if op.outcome == "ok" and op.number is not None:
            answered.setdefault((op.app, op.chat), {})[op.number] = op.complete
            possible.add((op.app, op.chat, op.number))
    unknown_apps_chats = {
        (op.app, op.chat) for op in ops if op.kind == CREATE_MESSAGE and op.outcome == "unknown"
    }
    violations: list[str] = []
    connections = events = resets = 0
    for chain in chains:
        place = (chain.app, chain.chat)
        numbers = answered.get(place, {})
        last: int | None = None
        seen: set[int] = set()
        for entry in chain.entries:
            if entry[0] == "open":
                connections += 1
                continue
            if entry[0] == "reset":
                resets += 1
                last = None  # told: what follows need not continue what came before
                continue
            if entry[0] != "event":
                continue
            events += 1
            _, at, kind, number = entry
            where = f"chain {chain.reader} ({chain.app[:8]}…, chat {chain.chat})"
            if kind == "message.created":
                if number in seen or (last is not None and number <= last):
                    violations.append(f"{where}: message {number} after {last}, or twice")
                if last is not None:
                    skipped = [n for n in numbers if last < n < number]
                    if skipped:
                        violations.append(
                            f"{where}: gap without reset: {skipped} between {last} and {number}"
                        )
                if (chain.app, chain.chat, number) not in possible and not (
                    place in unknown_apps_chats or _lost(faults, chain.app, at)
                ):
                    violations.append(f"{where}: message {number} was never handed out")
                seen.add(number)
                last = number
            elif kind == "message.updated":
                created_at = numbers.get(number)
                if created_at is not None and created_at > chain.started and number not in seen:
                    violations.append(f"{where}: message.updated {number} before its created")
    return StreamsResult(len(chains), connections, events, resets, violations)
