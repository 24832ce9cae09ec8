"""prometheus-client's multiprocess mode: where each process's values live, and reading them.

The directory is named by ``PROMETHEUS_MULTIPROC_DIR``, which must be set before the process
(or the parent it forks from) first imports prometheus_client: the library chooses how to store
values at import (``prometheus_client.values.ValueClass``). Each process writes
``<type>_<pid>.db`` files there; a scrape sums them. One directory per server (a gunicorn
master and its workers, a Celery worker and its pool, beat), never shared by two: a scrape of one
would count the other's processes too.
https://prometheus.github.io/client_python/multiprocess/
"""

import os
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

ENV = "PROMETHEUS_MULTIPROC_DIR"


def directory() -> Path | None:
    """The multiprocess directory of this process, or None when it runs in single-process mode."""
    path = os.environ.get(ENV)
    return Path(path) if path else None


def _pid_of(file: Path) -> int | None:
    """The process a value file belongs to: ``counter_1234.db``, ``gauge_max_1234.db``."""
    tail = file.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def directory_reset(*, keep_pid: int | None = None) -> None:
    """Create the directory, or empty it of another run's files (all but ``keep_pid``'s).

    Called once by the process that owns the directory, before it forks: a counter left by a
    process of an earlier run would otherwise be added to this run's, and a pid reused by
    this run would carry on from it.
    """
    path = directory()
    if path is None:
        return
    path.mkdir(parents=True, exist_ok=True)
    for file in path.glob("*.db"):
        if keep_pid is None or _pid_of(file) != keep_pid:
            file.unlink(missing_ok=True)


def process_dead(pid: int) -> None:
    """A process of this server exited: its live gauges stop counting (its counters stay)."""
    path = directory()
    if path is not None:
        mark_process_dead(pid, str(path))


def registry() -> CollectorRegistry:
    """A registry of every process's values (multiprocess mode), or this process's own."""
    path = directory()
    if path is None:
        return REGISTRY
    summed = CollectorRegistry()
    MultiProcessCollector(summed, path=str(path))
    return summed
