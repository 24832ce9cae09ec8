"""The checker: a history, the faults and the database's rows in; the contract's violations out.

It knows the service only by what the clients were told and by the rows in SQL (never Redis),
and checks, with the contract (../shared/API.md) and the invariants I1-I3 (pipeline.numbering):

- ``duplicate_number``: a number handed out twice (I1), among ok creates and persisted rows,
  whatever faults came between: no window excuses it.
- ``lost_ok``: a 201 not persisted, or not with its body (I3). A create whose allocation fell in
  a declared power-loss window (from the AOF size noted to the SIGKILL) is excused, and counted;
  so is one in a Redis Cluster failover's window (from the cut of the replica's link to the end
  of the failover), but only for the applications whose slots the failed master held: a window
  with ``lost_apps`` excuses nothing elsewhere.
- ``lost_in_flush``: a 201 not persisted, allocated before a FLUSHALL. The contract excepts only
  a machine crash of a Redis with ``appendfsync everysec``; a flush may cost gaps in the
  numbers, never rows. So this is a violation unless ``FLUSH_MAY_LOSE_ROWS`` says otherwise.
- ``persisted_twice``: one create (one Idempotency-Key, one body) persisted as two rows, unless a
  loss window fell between its attempts (its Idempotency-Key record may have been lost).
- ``untraced_row``: a persisted message no client sent; ``persisted_from_fail``: one whose every
  attempt was answered 4xx (a 404 included). ``untraced_chat``: more persisted chats that no
  201 named (ghost chats aside) than creates whose outcome stayed unknown could explain.
- ``ghost_chat``: a chat number answered 404 (and never handed out by a 201) that was used
  later: a message to it answered 201, a GET answered 200, or a row persisted in it (I2).
- ``read_your_writes``: a GET after a 201 answered 404, or 200 with another body. A 404 is
  excused when a loss window fell between the create and the read; a 503 or no answer is
  unknown, not a violation. A GET of a chat that a 201 handed out earlier counts too.
- ``walk_order``: following ``next`` visited a number twice or out of order; ``walk_vs_db``: it
  showed a message that is not in the database with that body.
- ``idempotency``: one Idempotency-Key answered 201 with two numbers (no loss window between).
- ``server_error``: a 5xx other than 503 (the contract has a dependency that is down answer 503).
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.history.history import (
    CREATE_APP,
    CREATE_CHAT,
    CREATE_MESSAGE,
    MASTER_FAILOVER,
    READ_CHAT,
    READ_MESSAGE,
    REDIS_FLUSHALL,
    WALK,
    Fault,
    Op,
    read_ops,
)

# The contract allows no row to be lost to a FLUSHALL (see the module docstring), but the journal
# of accepted rows lives in Redis alone (by design: a create touches no SQL), so a flush
# wipes what was not persisted yet. The README's failure table says so; the report still counts
# these rows (as excused), so a run shows how many a flush cost. Numbers are never excused.
FLUSH_MAY_LOSE_ROWS = True
EXAMPLES_PER_KIND = 3


@dataclass
class Database:
    """The persisted rows of the history's applications."""

    chats: dict[str, set[int]] = field(default_factory=dict)  # token -> chat numbers
    messages: dict[tuple[str, int, int], str] = field(default_factory=dict)  # -> body


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str


@dataclass
class Result:
    violations: list[Violation]
    excused: Counter[str]

    def by_kind(self) -> Counter[str]:
        return Counter(violation.kind for violation in self.violations)


@dataclass
class _Key:
    """The attempts of one create (one Idempotency-Key)."""

    attempts: list[Op]

    @property
    def first(self) -> Op:
        return self.attempts[0]

    @property
    def oks(self) -> list[Op]:
        return [op for op in self.attempts if op.outcome == "ok"]

    @property
    def last_complete(self) -> float:
        return max(op.complete for op in self.attempts)

    def any(self, outcome: str) -> bool:
        return any(op.outcome == outcome for op in self.attempts)


class Checker:
    def __init__(self, ops: list[Op], faults: list[Fault], db: Database) -> None:
        self.ops = sorted(ops, key=lambda op: op.invoke)
        self.faults = faults
        self.db = db
        self.violations: list[Violation] = []
        self.excused: Counter[str] = Counter()
        self.keys: dict[str, _Key] = {}
        for op in self.ops:
            if op.key is not None:
                self.keys.setdefault(op.key, _Key([])).attempts.append(op)
        self.by_id = {op.id: op for op in self.ops}
        self.ghosts: dict[str, set[int]] = defaultdict(set)  # found by check_ghost_chats
        self.by_body = {key.first.body: key for key in self.keys.values() if key.first.body}
        # token -> chat number -> the keys whose 201 named it
        self.ok_chats: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        for key, attempts in self.keys.items():
            for op in attempts.oks:
                if op.kind == CREATE_CHAT and op.number is not None:
                    self.ok_chats[op.app][op.number].add(key)

    # Loss windows

    def _windows(self, app: str) -> list[Fault]:
        """The declared loss windows that apply to ``app``: global ones, and scoped ones (a
        Redis Cluster failover) that name it."""
        return [
            f
            for f in self.faults
            if f.lost_until is not None and (f.lost_apps is None or app in f.lost_apps)
        ]

    def _allocated_in_loss_window(self, key: _Key) -> Fault | None:
        """The power-loss or failover window the create may have been allocated in, if any."""
        end = min((op.complete for op in key.oks), default=key.last_complete)
        for f in self._windows(key.first.app):
            if f.kind == REDIS_FLUSHALL:
                continue
            if key.first.invoke <= (f.lost_until or 0) and end >= (f.lost_from or 0):
                return f
        return None

    def _flushed_before_persisted(self, key: _Key) -> bool:
        return any(
            key.first.invoke <= (f.lost_until or 0)
            for f in self._windows(key.first.app)
            if f.kind == REDIS_FLUSHALL
        )

    def _loss_between(self, app: str, start: float, end: float) -> bool:
        return any(
            (f.lost_until or 0) >= start and (f.lost_from or 0) <= end for f in self._windows(app)
        )

    def _faults_between(self, start: float, end: float) -> str:
        """`` (faults between: kind, ...)`` for the faults that overlapped ``[start, end]``."""
        kinds = [f.kind for f in self.faults if f.start <= end and f.end >= start]
        return f" (faults between: {', '.join(kinds)})" if kinds else " (no fault between)"

    def _add(self, kind: str, detail: str) -> None:
        self.violations.append(Violation(kind, detail))

    # The checks

    def run(self) -> Result:
        self.check_server_errors()
        self.check_duplicates()
        self.check_oks_persisted()
        self.check_ghost_chats()
        self.check_rows_traced()
        self.check_reads()
        self.check_walks()
        self.check_idempotency()
        return Result(self.violations, self.excused)

    def check_server_errors(self) -> None:
        for op in self.ops:
            if op.status >= 500 and op.status != 503:
                self._add("server_error", f"{_describe(op)}")

    def check_duplicates(self) -> None:
        for token, numbers in self.ok_chats.items():
            for number, keys in sorted(numbers.items()):
                if len(keys) > 1:
                    oks = sorted((self.keys[key].oks[0] for key in keys), key=lambda op: op.invoke)
                    self._add(
                        "duplicate_number",
                        f"chat {number} of app {token[:8]} handed out to {len(keys)} creates: "
                        + "; ".join(map(_describe, oks))
                        + self._faults_between(oks[0].invoke, oks[-1].complete),
                    )
        holders: dict[tuple[str, int, int], set[str]] = defaultdict(set)
        for key, attempts in self.keys.items():
            for op in attempts.oks:
                if op.kind == CREATE_MESSAGE and op.number is not None and op.chat is not None:
                    holders[(op.app, op.chat, op.number)].add(key)
        for place, body in self.db.messages.items():
            traced = self.by_body.get(body)
            if traced is not None and place in holders:
                holders[place].add(traced.first.key or "")
        for (token, chat, number), keys in sorted(holders.items()):
            if len(keys) > 1:
                ops = sorted(
                    ((self.keys[key].oks or self.keys[key].attempts)[-1] for key in keys),
                    key=lambda op: op.invoke,
                )
                stored = self.db.messages.get((token, chat, number))
                self._add(
                    "duplicate_number",
                    f"message {number} of chat {chat} of app {token[:8]} handed out to "
                    f"{len(keys)} creates: "
                    + "; ".join(
                        f"{_describe(op)}{' (the persisted one)' if op.body == stored else ''}"
                        for op in ops
                    )
                    + self._faults_between(ops[0].invoke, ops[-1].complete),
                )

    def _lost(self, key: _Key, what: str, since: float | None = None) -> None:
        window = self._allocated_in_loss_window(key)
        if window is not None:
            what_window = "failover" if window.kind == MASTER_FAILOVER else "power-loss"
            self.excused[f"lost in a {what_window} window"] += 1
        elif self._flushed_before_persisted(key):
            if FLUSH_MAY_LOSE_ROWS:
                self.excused["lost to a FLUSHALL"] += 1
            else:
                self._add("lost_in_flush", what)
        else:
            start = key.first.invoke if since is None else since
            self._add("lost_ok", what + self._faults_between(start, key.last_complete))

    def check_oks_persisted(self) -> None:
        for key in self.keys.values():
            for op in key.oks[:1]:
                if op.number is None:
                    continue
                if op.kind == CREATE_CHAT:
                    if op.number not in self.db.chats.get(op.app, set()):
                        self._lost(key, f"{_describe(op)}: no such chat in the database")
                elif op.kind == CREATE_MESSAGE and op.chat is not None:
                    stored = self.db.messages.get((op.app, op.chat, op.number))
                    if stored is None:
                        self._lost(key, f"{_describe(op)}: no such message in the database")
                    elif stored != op.body:
                        # Another create's row holds the number: a duplicate (reported above),
                        # and this 201's row is lost.
                        other = self.by_body.get(stored)
                        self._lost(
                            key,
                            f"{_describe(op)}: its number holds {stored!r}, of "
                            + (_describe(other.attempts[-1]) if other else "no known create"),
                            since=min(key.first.invoke, other.first.invoke) if other else None,
                        )

    def check_rows_traced(self) -> None:
        places: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        for place, body in self.db.messages.items():
            places[body].append(place)
            key = self.by_body.get(body)
            if key is None:
                self._add("untraced_row", f"message {place} {body!r}: sent by no client")
            elif not key.any("ok") and not key.any("unknown"):
                self._add(
                    "persisted_from_fail",
                    f"message {place} {body!r} persisted, but every attempt was refused: "
                    + "; ".join(_describe(op) for op in key.attempts),
                )
        for body, where in places.items():
            key = self.by_body.get(body)
            if len(where) > 1 and key is not None:
                if self._loss_between(key.first.app, key.first.invoke, key.last_complete):
                    self.excused["persisted twice across a loss window"] += 1
                else:
                    self._add("persisted_twice", f"{body!r} persisted as {sorted(where)}")
        for token, persisted in self.db.chats.items():
            named = set(self.ok_chats.get(token, {})) | self.ghosts[token]
            untraced = sorted(set(persisted) - named)
            ambiguous = [
                key
                for key in self.keys.values()
                if key.first.kind == CREATE_CHAT and key.first.app == token and key.any("unknown")
                if not key.oks or self._loss_between(token, key.first.invoke, key.oks[0].complete)
            ]
            if len(untraced) > len(ambiguous):
                self._add(
                    "untraced_chat",
                    f"app {token[:8]}: {len(untraced)} persisted chats no 201 named "
                    f"({_numbers(untraced)}), only {len(ambiguous)} creates of unknown outcome",
                )

    def check_ghost_chats(self) -> None:
        refused: dict[tuple[str, int], Op] = {}
        for op in self.ops:
            if op.kind == READ_CHAT and op.status == 404 and op.number is not None:
                if op.number not in self.ok_chats.get(op.app, {}):
                    refused.setdefault((op.app, op.number), op)
        later: dict[tuple[str, int], list[Op]] = defaultdict(list)
        for op in self.ops:
            if op.outcome == "ok" and op.kind == CREATE_MESSAGE and op.chat is not None:
                later[(op.app, op.chat)].append(op)
            elif op.outcome == "ok" and op.kind == READ_CHAT and op.number is not None:
                later[(op.app, op.number)].append(op)
        persisted_in: Counter[tuple[str, int]] = Counter(
            (token, chat) for token, chat, _ in self.db.messages
        )
        for (token, number), first_404 in refused.items():
            used = [op for op in later[(token, number)] if op.invoke > first_404.complete]
            evidence = [_describe(op) for op in used]
            if number in self.db.chats.get(token, set()):
                evidence.append("a row in the chats table")
            if persisted_in[(token, number)]:
                evidence.append(f"{persisted_in[(token, number)]} messages persisted in it")
            if evidence:
                self.ghosts[token].add(number)
                until = used[0].complete if used else first_404.complete
                self._add(
                    "ghost_chat",
                    f"chat {number} of app {token[:8]} was a 404 ({_describe(first_404)}) and "
                    f"never handed out, then: "
                    + "; ".join(evidence[:4])
                    + self._faults_between(first_404.invoke, until),
                )

    def check_reads(self) -> None:
        for op in self.ops:
            if op.kind not in (READ_CHAT, READ_MESSAGE):
                continue
            created = self.by_id.get(op.of) if op.of else self._chat_created_before(op)
            if created is None:
                continue
            key = self.keys[created.key or ""]
            if op.status == 200 and op.kind == READ_MESSAGE and op.seen != created.body:
                self._add(
                    "read_your_writes",
                    f"{_describe(op)} answered body {op.seen!r} after {_describe(created)}",
                )
            elif op.status == 404:
                if self._loss_between(op.app, key.first.invoke, op.complete):
                    self.excused["read 404 across a loss window"] += 1
                else:
                    self._add("read_your_writes", f"{_describe(op)} after {_describe(created)}")

    def _chat_created_before(self, read: Op) -> Op | None:
        """A 201 that handed out the chat a probe asked for, before the probe was sent."""
        if read.kind != READ_CHAT or read.number is None:
            return None
        for key in self.ok_chats.get(read.app, {}).get(read.number, set()):
            op = self.keys[key].oks[0]
            if op.complete < read.invoke:
                return op
        return None

    def check_walks(self) -> None:
        for op in self.ops:
            if op.kind != WALK or op.chat is None:
                continue
            seen = [(int(number), body) for page in op.pages for number, body in page]
            numbers = [number for number, _ in seen]
            if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
                self._add("walk_order", f"{_describe(op)} visited {_numbers(numbers)}")
            for number, body in seen:
                stored = self.db.messages.get((op.app, op.chat, number))
                if stored != body:
                    self._add(
                        "walk_vs_db",
                        f"{_describe(op)} showed message {number} {body!r}; the database has "
                        f"{stored!r}",
                    )

    def check_idempotency(self) -> None:
        for key, attempts in self.keys.items():
            numbers = {op.number for op in attempts.oks}
            if len(numbers) > 1:
                oks = attempts.oks
                if self._loss_between(attempts.first.app, oks[0].complete, oks[-1].invoke):
                    self.excused["key replayed differently across a loss window"] += 1
                else:
                    self._add("idempotency", f"key {key} answered {sorted(map(str, numbers))}")


def check(ops: list[Op], faults: list[Fault], db: Database) -> Result:
    return Checker(ops, faults, db).run()


def tokens_of(ops: Iterable[Op]) -> set[str]:
    """Every application the history knows (created before the run or by a client)."""
    return {op.app for op in ops if op.app and (op.kind != CREATE_APP or op.outcome == "ok")}


def _describe(op: Op) -> str:
    what = {
        CREATE_CHAT: "POST chat",
        CREATE_MESSAGE: f"POST message to chat {op.chat}",
        READ_CHAT: f"GET chat {op.number}",
        READ_MESSAGE: f"GET message {op.number} of chat {op.chat}",
        WALK: f"walk of chat {op.chat}",
        CREATE_APP: "POST app",
    }[op.kind]
    answer = f"{op.status}" if op.status else (op.error or "no answer")
    number = f" -> {op.number}" if op.number is not None and op.kind.startswith("create") else ""
    return (
        f"[{op.id} {op.invoke:.2f}-{op.complete:.2f}{' probe' if op.probe else ''}] "
        f"{what}{number} answered {answer}"
    )


def _numbers(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:12])) + (" ..." if len(numbers) > 12 else "")


def load(directory: Path) -> tuple[list[Op], list[Fault], Database]:
    """A run saved by runner.save: the history, the faults and the rows, to check again."""
    ops = read_ops(directory / "history.jsonl")
    lines = (directory / "faults.jsonl").read_text().splitlines()
    faults = [Fault.from_json(line) for line in lines if line]
    rows = json.loads((directory / "rows.json").read_text(encoding="utf-8"))
    db = Database(
        chats={token: set(numbers) for token, numbers in rows["chats"].items()},
        messages={(token, chat, number): body for token, chat, number, body in rows["messages"]},
    )
    return ops, faults, db


if __name__ == "__main__":
    # python -m tests.history.checker DIR: check a saved run again (e.g. after changing a check).
    saved = load(Path(sys.argv[1]))
    for violation in check(*saved).violations:
        print(f"{violation.kind}: {violation.detail}")
