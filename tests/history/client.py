"""The clients: threads in a few processes, each recording every HTTP attempt it makes.

Run as ``python -m tests.history.client CONFIG.json``: the process starts ``threads`` threads
that work until ``stop_at`` and then writes its history (JSON lines) to ``output``. Each thread
keeps to an application and a chat of its own for a while, as a chat client does:

- creates chats and posts messages (unique bodies, every create with an Idempotency-Key; an
  unknown outcome is retried with the same key a few times, as the contract asks);
- reads a create back after its 201 (read-your-writes);
- probes a chat number that was never handed out: far above the highest it has seen, or inside
  a jump in the numbers it has seen (the gap left after a Redis restart): a GET first, and if
  that is a 404, a POST of a message to it, which must be a 404 too;
- walks the ``next`` links of the message list of its application's first chat, which every
  thread posts to now and then, so the list grows during the walk.

Nothing here imports Django: the clients know the service only through HTTP.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.history.history import (
    CREATE_APP,
    CREATE_CHAT,
    CREATE_MESSAGE,
    READ_CHAT,
    READ_MESSAGE,
    WALK,
    Op,
    Outcome,
    Recorder,
)
from tests.support.http import json_exchange

API = "/api/v1"
# A request with no answer after this long is an unknown outcome.
HTTP_TIMEOUT_SECONDS = 5.0
# Attempts of one create (the first and its retries with the same key) within the run.
CREATE_ATTEMPTS = 6
# A jump in the chat numbers a client saw longer than this is a gap left by a restart.
GAP_MIN = 100
# Probes keep this far from any number seen, so that creates in flight cannot reach them.
PROBE_MARGIN = 50
# Messages a thread posts to one chat before it opens another.
MESSAGES_PER_CHAT = 25
WALK_PAGE = 20
WALK_MAX_PAGES = 40


@dataclass(frozen=True)
class ClientConfig:
    seed: int
    process: int
    threads: int
    ports: list[int]
    apps: dict[str, list[int]]  # token -> chats created before the run
    stop_at: float  # time.monotonic() at which threads stop starting operations
    output: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> ClientConfig:
        return cls(**json.loads(text))


def outcome_of(status: int, ok: int) -> Outcome:
    if status == ok:
        return "ok"
    if 400 <= status < 500:
        return "fail"
    return "unknown"  # 503, any other 5xx, or no answer at all (status 0)


class Http:
    """A JSON client of the servers; every call picks one of them and opens a new connection."""

    def __init__(self, ports: list[int], rng: random.Random) -> None:
        self.ports = ports
        self.rng = rng

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, str | None]:
        """``(status, data, error)``; status 0 and the error when nothing usable came back."""
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.rng.choice(self.ports), timeout=HTTP_TIMEOUT_SECONDS
        )
        try:
            status, raw = json_exchange(conn, method, path, body, headers)
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            return status, data, None
        except (OSError, http.client.HTTPException) as exc:
            return 0, None, f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()


class Knowledge:
    """What the threads of one process learnt: the chats of each application, and gaps."""

    def __init__(self, apps: dict[str, list[int]]) -> None:
        self.lock = threading.Lock()
        self.chats: dict[str, list[int]] = {token: list(chats) for token, chats in apps.items()}
        self.gaps: dict[str, list[tuple[int, int]]] = {token: [] for token in apps}

    def apps(self) -> list[str]:
        with self.lock:
            return list(self.chats)

    def app_added(self, token: str) -> None:
        with self.lock:
            self.chats.setdefault(token, [])
            self.gaps.setdefault(token, [])

    def chat_created(self, token: str, number: int) -> None:
        with self.lock:
            known = self.chats.setdefault(token, [])
            highest = max(known, default=0)
            if number > highest + GAP_MIN:
                self.gaps.setdefault(token, []).append((highest, number))
            known.append(number)

    def hot_chat(self, token: str) -> int | None:
        """The application's first chat, which every thread writes to now and then."""
        with self.lock:
            known = self.chats.get(token) or []
            return known[0] if known else None

    def some_chat(self, token: str, rng: random.Random) -> int | None:
        with self.lock:
            known = self.chats.get(token) or []
            return rng.choice(known[-20:]) if known else None

    def probe_number(self, token: str, rng: random.Random) -> int:
        """A chat number nobody was handed out, as far as this process can tell."""
        with self.lock:
            highest = max(self.chats.get(token) or [0])
            gaps = [
                (low, high)
                for low, high in self.gaps.get(token, [])
                if high - low > 2 * PROBE_MARGIN + 10
            ]
        if gaps and rng.random() < 0.6:
            low, high = rng.choice(gaps)
            return rng.randint(low + PROBE_MARGIN, high - PROBE_MARGIN)
        return highest + rng.randint(2 * PROBE_MARGIN, 600)


class Client:
    """One thread's operations; every HTTP attempt becomes an ``Op`` in ``recorder``."""

    def __init__(
        self,
        *,
        name: str,
        seed: int,
        http_: Http,
        recorder: Recorder,
        knowledge: Knowledge,
        rng: random.Random,
        stop_at: float,
    ) -> None:
        self.name = name
        self.seed = seed
        self.http = http_
        self.recorder = recorder
        self.knowledge = knowledge
        self.rng = rng
        self.stop_at = stop_at
        self._ids = itertools.count()

    def _op(self, kind: str, app: str, **fields: Any) -> Op:
        return Op(
            id=f"{self.name}-{next(self._ids)}",
            kind=kind,
            app=app,
            invoke=time.monotonic(),
            **fields,
        )

    def _finish(self, op: Op, status: int, ok: int, error: str | None) -> Op:
        op.complete = time.monotonic()
        op.status = status
        op.outcome = outcome_of(status, ok)
        op.error = error
        self.recorder.add(op)
        return op

    # Creates

    def create_app(self) -> str | None:
        op = self._op(CREATE_APP, "")
        status, data, error = self.http.call(
            "POST", f"{API}/apps", {"name": f"history {self.seed}"}
        )
        if status == 201:
            op.app = data["token"]
        self._finish(op, status, 201, error)
        return op.app or None

    def create_attempt(
        self, kind: str, app: str, key: str, chat: int | None, body: str | None, probe: bool
    ) -> Op:
        op = self._op(kind, app, key=key, chat=chat, body=body, probe=probe)
        if kind == CREATE_CHAT:
            path, payload = f"{API}/apps/{app}/chats", None
        else:
            path, payload = f"{API}/apps/{app}/chats/{chat}/messages", {"body": body}
        status, data, error = self.http.call("POST", path, payload, {"Idempotency-Key": key})
        if status == 201:
            op.number = int(data["number"])
            if kind == CREATE_MESSAGE:
                op.seen = data.get("body")
        return self._finish(op, status, 201, error)

    def create(self, kind: str, app: str, chat: int | None = None, probe: bool = False) -> Op:
        """A create, retried with its Idempotency-Key while the outcome is unknown."""
        serial = next(self._ids)
        key = f"h{self.seed}-{self.name}-{serial}"
        body = None
        if kind == CREATE_MESSAGE:
            body = f"s{self.seed} {self.name} #{serial} {'probe' if probe else 'msg'} ✓"
        op = self.create_attempt(kind, app, key, chat, body, probe)
        attempts = 1
        while op.outcome == "unknown" and attempts < CREATE_ATTEMPTS:
            if time.monotonic() > self.stop_at:
                break  # left unknown: resolved after the run (runner.heal_and_drain)
            time.sleep(0.2 * attempts)
            op = self.create_attempt(kind, app, key, chat, body, probe)
            attempts += 1
        if op.outcome == "ok" and kind == CREATE_CHAT and op.number is not None:
            self.knowledge.chat_created(app, op.number)
        return op

    # Reads

    def read_back(self, created: Op) -> Op:
        """GET what a 201 just created: it must be there, with its body."""
        if created.kind == CREATE_CHAT:
            op = self._op(READ_CHAT, created.app, number=created.number, of=created.id)
            path = f"{API}/apps/{created.app}/chats/{created.number}"
        else:
            op = self._op(
                READ_MESSAGE,
                created.app,
                chat=created.chat,
                number=created.number,
                body=created.body,
                of=created.id,
            )
            path = f"{API}/apps/{created.app}/chats/{created.chat}/messages/{created.number}"
        status, data, error = self.http.call("GET", path)
        if status == 200 and op.kind == READ_MESSAGE:
            op.seen = data.get("body")
        return self._finish(op, status, 200, error)

    def read_chat(self, app: str, number: int, probe: bool) -> Op:
        op = self._op(READ_CHAT, app, number=number, probe=probe)
        status, _, error = self.http.call("GET", f"{API}/apps/{app}/chats/{number}")
        return self._finish(op, status, 200, error)

    def probe(self, app: str) -> None:
        """A chat number never handed out must be a 404, for a GET and for a message to it."""
        number = self.knowledge.probe_number(app, self.rng)
        if self.read_chat(app, number, probe=True).status != 404:
            return
        posted = self.create(CREATE_MESSAGE, app, chat=number, probe=True)
        if posted.outcome == "ok":
            self.read_chat(app, number, probe=True)

    def walk(self, app: str, chat: int) -> Op:
        """Follow ``next`` from the first page of a chat's messages until it is null."""
        op = self._op(WALK, app, chat=chat)
        path: str | None = f"{API}/apps/{app}/chats/{chat}/messages?limit={WALK_PAGE}"
        status, error = 200, None
        while path is not None and len(op.pages) < WALK_MAX_PAGES:
            status, data, error = self.http.call("GET", path)
            if status != 200:
                break
            op.pages.append([[item["number"], item["body"]] for item in data["results"]])
            if data["next"] is None:
                path = None
            else:
                link = urlsplit(data["next"])
                path = f"{link.path}?{link.query}"
        return self._finish(op, status, 200, error)

    # The workload

    def run(self) -> None:
        app = self.rng.choice(self.knowledge.apps())
        chat = self.knowledge.some_chat(app, self.rng)
        posted = 0
        while time.monotonic() < self.stop_at:
            draw = self.rng.random()
            if draw < 0.05:
                self.probe(app)
            elif draw < 0.06 and self.knowledge.hot_chat(app) is not None:
                self.walk(app, self.knowledge.hot_chat(app) or 0)
            elif draw < 0.065:
                token = self.create_app()
                if token is not None:
                    self.knowledge.app_added(token)
                    app, chat, posted = token, None, MESSAGES_PER_CHAT
            elif draw < 0.10 or chat is None or posted >= MESSAGES_PER_CHAT:
                if self.rng.random() < 0.3:
                    app = self.rng.choice(self.knowledge.apps())
                created = self.create(CREATE_CHAT, app)
                if created.outcome == "ok":
                    chat, posted = created.number, 0
                    if self.rng.random() < 0.3:
                        self.read_back(created)
                else:
                    chat = self.knowledge.some_chat(app, self.rng)
            else:
                target = chat
                if self.rng.random() < 0.15:
                    target = self.knowledge.hot_chat(app) or chat
                created = self.create(CREATE_MESSAGE, app, chat=target)
                posted += 1
                if created.outcome == "ok" and self.rng.random() < 0.3:
                    self.read_back(created)


def main(config_path: str) -> None:
    config = ClientConfig.from_json(Path(config_path).read_text())
    recorder = Recorder()
    knowledge = Knowledge(config.apps)

    def thread(index: int) -> None:
        rng = random.Random(f"{config.seed}-{config.process}-{index}")  # noqa: S311 - not secret
        Client(
            name=f"p{config.process}t{index}",
            seed=config.seed,
            http_=Http(config.ports, rng),
            recorder=recorder,
            knowledge=knowledge,
            rng=rng,
            stop_at=config.stop_at,
        ).run()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(config.threads)]
    for started in threads:
        started.start()
    for started in threads:
        started.join()
    recorder.write(Path(config.output))


if __name__ == "__main__":
    main(sys.argv[1])
