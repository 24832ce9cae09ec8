"""What the clients were told: one record per HTTP attempt, and the faults the nemesis injected.

An operation is invoked and completes as ``ok`` (the answer the operation hoped for), ``fail``
(a definite 4xx: nothing happened) or ``unknown`` (a 503, any other 5xx, a timeout or a broken
connection: it may or may not have happened). A retry of an unknown create with the same
Idempotency-Key is another operation with the same ``key``. Times are ``time.monotonic()``,
which on Linux is one clock for every process of the machine, so the histories of the client
processes and the nemesis's events can be put on one line.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["ok", "fail", "unknown"]

# Operation kinds.
CREATE_APP = "create_app"
CREATE_CHAT = "create_chat"
CREATE_MESSAGE = "create_message"
READ_CHAT = "read_chat"  # GET of a chat: after its 201, or a probe of a number never handed out
READ_MESSAGE = "read_message"  # GET of a message after its 201 (read-your-writes)
WALK = "walk"  # following the ``next`` links of a chat's message list

# Fault kinds (nemesis).
REDIS_SIGTERM = "redis_sigterm"
REDIS_SIGKILL = "redis_sigkill"
REDIS_POWER_LOSS = "redis_power_loss"
REDIS_FLUSHALL = "redis_flushall"
WORKER_SIGKILL = "worker_sigkill"
WORKER_SIGSTOP = "worker_sigstop"
MARIADB_RESTART = "mariadb_restart"
# The stream process SIGKILLed and started again on its port: the readers reconnect.
STREAM_SIGKILL = "stream_sigkill"
# Faults of a Redis Cluster (3 masters, a replica each): the pipeline's Redis is the cluster.
MASTER_FAILOVER = "master_failover"
REPLICA_RESTART = "replica_restart"
# Not injected: a worker that exited by itself and was started again.
WORKER_EXITED = "worker_exited"


@dataclass
class Op:
    """One HTTP attempt and what it was answered.

    ``number`` is the chat or message number the operation is about: the one a create was
    answered with, or the one a read asked for. ``chat`` is the chat of a message. ``body`` is
    the body sent (creates) or expected (reads); ``seen`` what a read was answered with.
    ``probe`` marks reads and creates aimed on purpose at a chat number never handed out.
    ``pages`` holds a walk's pages as ``[[number, body], ...]``; ``of`` names the create a
    read-your-writes read follows.
    """

    id: str
    kind: str
    app: str
    invoke: float
    complete: float = 0.0
    outcome: Outcome = "unknown"
    status: int = 0
    key: str | None = None
    chat: int | None = None
    number: int | None = None
    body: str | None = None
    seen: str | None = None
    probe: bool = False
    of: str | None = None
    error: str | None = None
    pages: list[list[list[Any]]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Op:
        return cls(**json.loads(line))


@dataclass(frozen=True)
class Fault:
    """A fault the nemesis injected, from ``start`` until it was healed at ``end``.

    ``lost_from``/``lost_until`` declare a loss window: for a power loss, from the moment the
    AOF size was noted to the SIGKILL (what Redis acknowledged in between may be lost); for a
    FLUSHALL, ``lost_until`` is the flush (everything not persisted by then is gone); for a
    master failover of a Redis Cluster, from the cut of the replica's link to the end of the
    failover (what the master acknowledged after the cut never reached its successor).

    A window applies to every application unless ``lost_apps`` names the ones it applies to:
    a failover loses only what the failed master held, the slots in ``lost_slots``. The nemesis
    knows the slots; the test names the applications after the run (``sharded.scope``), since
    clients create applications the nemesis never hears of.
    """

    kind: str
    start: float
    end: float
    detail: str = ""
    lost_from: float | None = None
    lost_until: float | None = None
    lost_slots: list[list[int]] | None = None  # [[first, last], ...] slot ranges
    lost_apps: list[str] | None = None  # tokens; None: every application

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> Fault:
        return cls(**json.loads(line))


class Recorder:
    """Thread-safe list of operations, written to a JSON-lines file at the end."""

    def __init__(self) -> None:
        self._ops: list[Op] = []
        self._lock = threading.Lock()

    def add(self, op: Op) -> None:
        with self._lock:
            self._ops.append(op)

    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def write(self, path: Path) -> None:
        path.write_text("".join(op.to_json() + "\n" for op in self.ops()), encoding="utf-8")


def read_ops(path: Path) -> list[Op]:
    return [Op.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
