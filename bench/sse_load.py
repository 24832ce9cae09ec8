"""The stream clients of bench/live_events.py, in a process of their own (asyncio, raw sockets: a
client per stream costs a few KB here, so 10,000 fit in one process).

Reads commands on stdin, one per line, and answers each on stdout:

- ``open N PATHS_FILE``: open streams, cycling over the paths in the JSON file, until N are
  open; answers ``opened <open> <failed>`` once each has its 200 and first bytes.
- ``receipts FILE``: write, as JSON, every message event received so far:
  ``{"<chat> <number>": [unix time received, ...]}`` (one time per stream that got it).
- ``quit``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import defaultdict

HOST = "127.0.0.1"
EVENT = re.compile(rb'"chat_number": (\d+), "number": (\d+)')


class Clients:
    def __init__(self, port: int) -> None:
        self.port = port
        self.open = 0
        self.failed = 0
        self.receipts: dict[str, list[float]] = defaultdict(list)
        self.tasks: set[asyncio.Task[None]] = set()

    async def follow(self, path: str, ready: asyncio.Future[bool]) -> None:
        try:
            reader, writer = await asyncio.open_connection(HOST, self.port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise OSError(head.split(b"\r\n", 1)[0].decode())
            await reader.readuntil(b"\n\n")  # retry:
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            if self.failed < 3:
                print(f"stream failed: {exc!r}", file=sys.stderr, flush=True)
            self.failed += 1
            ready.set_result(False)
            return
        self.open += 1
        ready.set_result(True)
        tail = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                now = time.time()
                data = tail + chunk
                for match in EVENT.finditer(data):
                    self.receipts[f"{int(match[1])} {int(match[2])}"].append(now)
                cut = data.rfind(b"\n")
                tail = data[cut + 1 :] if cut >= 0 else data
        except OSError:
            pass
        self.open -= 1

    async def open_until(self, count: int, paths: list[str]) -> None:
        index = 0
        while self.open < count:
            batch = []
            for _ in range(min(500, count - self.open)):
                ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                task = asyncio.create_task(self.follow(paths[index % len(paths)], ready))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                batch.append(ready)
                index += 1
            results = await asyncio.gather(*batch)
            if not all(results) and self.failed > count:
                return


async def main() -> None:
    clients = Clients(int(sys.argv[1]))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            return
        if line[0] == "open":
            with open(line[2]) as file:
                paths = json.load(file)
            await clients.open_until(int(line[1]), paths)
            print(f"opened {clients.open} {clients.failed}", flush=True)
        elif line[0] == "receipts":
            with open(line[1], "w") as file:
                json.dump(clients.receipts, file)
            print("written", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
