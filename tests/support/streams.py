"""The stream process (events/worker.py serving chatapi/asgi.py) as a real process in tests."""

from __future__ import annotations

from pathlib import Path

from scripts.processes import stream_command
from tests.support.processes import ServiceProcess, free_port, wait_until_serving


def stream_process_start(
    env: dict[str, str], log_dir: Path, *, port: int | None = None, name: str = "stream"
) -> tuple[ServiceProcess, int]:
    """A stream process on a free port (or ``port``), serving; the caller stops it."""
    port = port or free_port()
    process = ServiceProcess(
        f"{name} on 127.0.0.1:{port}",
        stream_command(bind=f"127.0.0.1:{port}", log_level="warning"),
        env,
        log_dir / f"{name}-{port}.log",
    )
    try:
        wait_until_serving(process, port)
    except RuntimeError:
        process.stop()
        raise
    return process, port
