"""Which first-party files and packages one message create and one drain pass through.

    .venv/bin/python bench/trace_create.py [--redis-url redis://127.0.0.1:6379/8]

The project's WSGI application in this process (production settings, a throwaway SQLite file,
Redis under a key prefix of its own, removed at the end): an application and a chat are created
and one message posted to warm everything up; then one more message create is traced
(``sys.setprofile``: every Python function called, by its file), and one drain of its partition
run as the worker runs it (the drain task, applied in this process). Only our own files count
(under the repository, outside .venv and bench/). The README's "How it works" quotes its figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from profile_create import BASE_DIR, Wsgi, configure


@contextmanager
def traced() -> Iterator[set[str]]:
    """The repository's files whose functions run inside the block."""
    files: set[str] = set()
    venv, bench = str(BASE_DIR / ".venv"), str(BASE_DIR / "bench")

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        name = frame.f_code.co_filename
        ours = name.startswith(str(BASE_DIR)) and not name.startswith((venv, bench))
        if event == "call" and ours:
            files.add(str(Path(name).relative_to(BASE_DIR)))

    sys.setprofile(profile)
    try:
        yield files
    finally:
        sys.setprofile(None)


def report(what: str, files: set[str]) -> None:
    packages = sorted({name.split("/")[0] for name in files})
    print(f"{what}: {len(files)} files in {len(packages)} packages ({', '.join(packages)})")
    for name in sorted(files):
        print(f"  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8", help="[db 8]")
    options = parser.parse_args()
    prefix = "trace-create"
    with tempfile.TemporaryDirectory() as directory:
        configure(Path(directory) / "db.sqlite3", options.redis_url, prefix)
        from celery import current_app

        import chatapi.celery  # noqa: F401  (registers the tasks)
        from core.redis_client import redis_connection
        from pipeline.keys import partition_of

        call = Wsgi().call
        status, body = call("POST", "/api/v1/apps", {"name": "trace"})
        token = json.loads(body)["token"]
        call("POST", f"/api/v1/apps/{token}/chats")
        messages = f"/api/v1/apps/{token}/chats/1/messages"
        call("POST", messages, {"body": "warm"})
        with traced() as create_files:
            status, _ = call("POST", messages, {"body": "traced"})
        if status != 201:
            raise RuntimeError(f"the traced create answered {status}")
        drain = current_app.tasks["pipeline.tasks.journal_drain_task"]
        with traced() as drain_files:
            drain.apply(args=(partition_of(token),), throw=True)
        report("one message create (the view to its 201)", create_files)
        report("one drain (claim, write, clear)", drain_files)
        client = redis_connection()
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


if __name__ == "__main__":
    main()
