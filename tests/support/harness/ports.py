"""Free TCP ports of 127.0.0.1 for the processes the harness starts."""

from __future__ import annotations

import random
import socket

# A Redis Cluster node also listens on its port + 10000 (the cluster bus): such ports are drawn
# below 55535 so that both fit, and both are checked free.
_CLUSTER_PORT_RANGE = (20000, 30000)


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick of an ephemeral port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> list[int]:
    """``count`` ports whose cluster-bus port (+10000) is free as well."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(*_CLUSTER_PORT_RANGE)  # noqa: S311 - not cryptography
        if port not in ports and _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports
