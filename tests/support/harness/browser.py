"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol, so a test can
run the browser's own EventSource and read what it received.

Only what the tests need: open a page, evaluate JavaScript, read a value back. The browser is
a real process on a free port with a profile of its own, stopped with its process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.harness.ports import free_port
from tests.support.harness.process import ServiceProcess


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self, profile: Path, log: Path) -> None:
        executable = chromium_path()
        if executable is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        self.port = free_port()
        self.process = ServiceProcess(
            "chromium",
            [
                executable,
                "--headless=new",
                "--no-sandbox",  # tests run as root in CI
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={self.port}",
                "about:blank",
            ],
            dict(os.environ),
            log,
        )
        self._stack = contextlib.ExitStack()
        self._page = self._stack.enter_context(self._page_connection())
        self._next_id = 0

    def _page_connection(self) -> ClientConnection:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(  # noqa: S310 - loopback
                    f"http://127.0.0.1:{self.port}/json/list", timeout=2
                ) as answer:
                    targets = json.load(answer)
                pages = [target for target in targets if target.get("type") == "page"]
                if pages:
                    return connect(pages[0]["webSocketDebuggerUrl"], max_size=2**24)
            except OSError:
                pass
            if time.monotonic() > deadline or not self.process.alive():
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.2)

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        self._page.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._page.recv(timeout=30))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]  # type: ignore[no-any-return]

    def open(self, url: str) -> None:
        self.command("Page.enable")
        self.command("Page.navigate", url=url)
        deadline = time.monotonic() + 15
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not load")
            time.sleep(0.1)

    def evaluate(self, expression: str) -> Any:
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            self.process.stop(timeout=5)
