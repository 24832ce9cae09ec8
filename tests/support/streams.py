"""The stream process (events/worker.py serving chatapi/asgi.py) as a real process in tests."""

from __future__ import annotations

import sys
from pathlib import Path

from scripts.processes import gunicorn_command
from tests.support.processes import ServiceProcess, free_port, wait_until_serving

ASGI_APPLICATION = "chatapi.asgi:application"
STREAM_WORKER = "events.worker.StreamWorker"


def stream_command(*, bind: str, workers: int = 1, graceful_timeout: int = 5) -> list[str]:
    """gunicorn with the stream worker class, serving the ASGI application."""
    command = gunicorn_command(
        bind=bind,
        workers=workers,
        threads=1,
        worker_class=STREAM_WORKER,
        python=sys.executable,
        graceful_timeout=graceful_timeout,
        control_socket=False,
        log_level="warning",
    )
    return [ASGI_APPLICATION if part == "chatapi.wsgi:application" else part for part in command]


def stream_process_start(
    env: dict[str, str], log_dir: Path, *, port: int | None = None, name: str = "stream"
) -> tuple[ServiceProcess, int]:
    """A stream process on a free port (or ``port``), serving; the caller stops it."""
    port = port or free_port()
    process = ServiceProcess(
        f"{name} on 127.0.0.1:{port}",
        stream_command(bind=f"127.0.0.1:{port}"),
        env,
        log_dir / f"{name}-{port}.log",
    )
    try:
        wait_until_serving(process, port)
    except RuntimeError:
        process.stop()
        raise
    return process, port
