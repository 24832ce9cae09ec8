"""gunicorn's side of the multiprocess mode (gunicorn.conf.py uses these as its hooks).

Imports no Django code and no prometheus_client at module level: the master loads gunicorn.conf.py
before it forks its workers, and the environment variable has to be in place before anything
in it imports prometheus_client (``core.metrics.multiprocess``).
https://docs.gunicorn.org/en/stable/settings.html#server-hooks
"""

import os
import shutil
import tempfile
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set when the directory is ours (made here): removed when the master exits.
_MADE_HERE = "CHATAPI_METRICS_DIR_MADE_BY"


def directory_ensure() -> None:
    """Give the master (and so every worker it forks) a multiprocess directory, a fresh
    temporary one when the environment names none. Re-reading the config (SIGHUP) keeps it."""
    if not os.environ.get(ENV):
        os.environ[ENV] = tempfile.mkdtemp(prefix="chatapi-metrics-web-")
        os.environ[_MADE_HERE] = str(os.getpid())


def on_starting(server: Any) -> None:
    """Once, before the first worker: no file of an earlier run is summed into this one."""
    from core.metrics.multiprocess import directory_reset

    directory_reset()


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker exited: its live gauges are dropped."""
    from core.metrics.multiprocess import process_dead

    process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if os.environ.get(_MADE_HERE) == str(os.getpid()):
        shutil.rmtree(os.environ[ENV], ignore_errors=True)
