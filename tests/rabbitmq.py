"""A virtual host of its own on the shared RabbitMQ, for a test session that uses it as broker.

RabbitMQ runs once per machine (127.0.0.1:5672, guest/guest; .ci/run starts it when it is
down), and other test runs may use it at the same time. A vhost is a namespace of queues and
exchanges with its own permissions: a test session that creates one, gives ``guest`` every
permission on it and deletes it at the end sees no queue of anyone else's, and leaves nothing
behind (deleting a vhost deletes its queues and their messages).

``rabbitmqctl`` needs the Erlang cookie of the server's node, which root and the ``rabbitmq``
user can read; CI and the development machines run the tests as root. Each call starts an
Erlang VM: about half a second.
https://www.rabbitmq.com/docs/vhosts
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from dataclasses import dataclass

from tests.support.harness.process import command_run

RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1")
RABBITMQ_PORT = int(os.environ.get("TEST_RABBITMQ_PORT", "5672"))
RABBITMQ_USER = "guest"
RABBITMQ_PASSWORD = "guest"  # noqa: S105 - RabbitMQ's own default, loopback only


class RabbitMQUnavailable(RuntimeError):
    pass


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    """Run ``rabbitmqctl`` and return its output; raise with its output when it fails."""
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        raise RabbitMQUnavailable("rabbitmqctl is not installed (apt-get install rabbitmq-server)")
    result = command_run([executable, "--quiet", *args], timeout=timeout)
    if result.returncode != 0:
        raise RabbitMQUnavailable(
            f"rabbitmqctl {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def rabbitmq_answers(timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((RABBITMQ_HOST, RABBITMQ_PORT), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Vhost:
    name: str

    @property
    def url(self) -> str:
        """The broker URL of this vhost (a vhost name in a URL is percent-encoded: no "/")."""
        return (
            f"amqp://{RABBITMQ_USER}:{RABBITMQ_PASSWORD}@{RABBITMQ_HOST}:{RABBITMQ_PORT}/"
            f"{self.name}"
        )

    def connections(self) -> list[dict[str, str]]:
        """The AMQP connections open on this vhost: name, negotiated heartbeat, client name."""
        out = rabbitmqctl(
            "list_connections",
            "-p",
            self.name,
            "--no-table-headers",
            "name",
            "timeout",
            "client_properties",
        )
        rows = []
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) >= 2:
                rows.append({"name": parts[0], "timeout": parts[1], "client": "\t".join(parts[2:])})
        return rows

    def queue_messages(self, queue: str = "celery") -> tuple[int, int]:
        """(ready, unacknowledged) messages of a queue of this vhost; (0, 0) if it is absent."""
        out = rabbitmqctl(
            "list_queues",
            "-p",
            self.name,
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        )
        for line in out.splitlines():
            parts = line.split("\t")
            if parts[0] == queue:
                return int(parts[1]), int(parts[2])
        return 0, 0


def vhost_create(prefix: str = "chatapi-test") -> Vhost:
    """A new vhost with every permission for ``guest``; the caller deletes it."""
    if not rabbitmq_answers():
        raise RabbitMQUnavailable(
            f"RabbitMQ does not answer at {RABBITMQ_HOST}:{RABBITMQ_PORT} "
            "(start it: rabbitmq-server -detached; .ci/run does)"
        )
    vhost = Vhost(f"{prefix}-{uuid.uuid4().hex[:12]}")
    rabbitmqctl("add_vhost", vhost.name)
    try:
        rabbitmqctl("set_permissions", "-p", vhost.name, RABBITMQ_USER, ".*", ".*", ".*")
    except RabbitMQUnavailable:
        vhost_delete(vhost)
        raise
    return vhost


def vhost_delete(vhost: Vhost) -> None:
    rabbitmqctl("delete_vhost", vhost.name)
