"""A real search engine for the tests: osmem-server behind a loopback proxy the ES 9 client accepts.

osmem-server (PyPI ``osmem-server``) is an in-memory OpenSearch-compatible engine, a Go binary
shipped in the wheel. The Elasticsearch 9 client refuses to talk to it as it is: it checks that
every answer carries ``X-Elastic-Product: Elasticsearch``, and it sends (and expects)
``application/vnd.elasticsearch+json; compatible-with=9``, which OpenSearch does not know. The
proxy here sits between the two: it rewrites those media types to plain JSON (NDJSON for bulk)
on the way in and adds the product header on the way out; bodies pass through untouched.

It is NOT Elasticsearch 9: osmem ignores the scripted similarity (scores differ), has no limit on
the clauses of a query, and keeps everything in memory. docs/search.md says what a pass proves.

Three pieces, all on free ports of 127.0.0.1, each stoppable on its own (an outage is the proxy
stopped: osmem keeps its data, and the clients see connections refused):

- ``OsmemEngine``: the osmem-server process (``start``, ``stop``);
- ``EngineProxy``: ``python -m tests.support.harness.search_engine --listen PORT --upstream URL``, a
  process of its own so that a stop and a start on the same port are an outage and a return;
- ``SilentEngine``: a socket that listens (the kernel accepts connections into its backlog)
  and never answers: a hung engine.

No Django and no pytest (the harness's rule): the benchmark imports it outside pytest too. Its
processes are the harness's ``ServiceProcess``es.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.harness.ports import free_port
from tests.support.harness.process import ServiceProcess

ELASTIC_PRODUCT = ("X-Elastic-Product", "Elasticsearch")
COMPATIBLE_JSON = "application/vnd.elasticsearch+json"
COMPATIBLE_NDJSON = "application/vnd.elasticsearch+x-ndjson"
# Hop-by-hop headers are the proxy's own business on each side.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


def plain_media_type(value: str) -> str:
    """``application/vnd.elasticsearch+json; compatible-with=9`` -> ``application/json``."""
    base = value.split(";", 1)[0].strip().lower()
    if base == COMPATIBLE_JSON:
        return "application/json"
    if base == COMPATIBLE_NDJSON:
        return "application/x-ndjson"
    return value


def wait_for_http(url: str, timeout: float) -> None:
    """Until ``GET url`` answers anything at all (an error status counts: it is up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 (loopback, ours)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answered at {url} within {timeout} s") from None
            time.sleep(0.05)


# --- the proxy, run in a process of its own -----------------------------------------------------


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the client's delayed
    # ACK held every answer with a body for 40 ms.
    disable_nagle_algorithm = True
    upstream: tuple[str, int] = ("127.0.0.1", 9200)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        return  # one line per request would drown the test logs

    def _upstream(self) -> http.client.HTTPConnection:
        connection = getattr(self, "_connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(*self.upstream, timeout=120)
            self._connection = connection
        return connection

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            name: plain_media_type(value) if name.lower() in ("content-type", "accept") else value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() != "host"
        }
        try:
            connection = self._upstream()
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()  # a kept-alive connection the engine closed: once more
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
            payload = response.read()
        except OSError:
            self.send_error(502, "search engine unreachable")
            return
        self.send_response(response.status)
        for name, value in response.getheaders():
            # Ours replaces any the engine sends: a repeated header reads "A, A" to the client.
            if name.lower() not in HOP_BY_HOP | {"content-length", "x-elastic-product"}:
                self.send_header(name, value)
        self.send_header(*ELASTIC_PRODUCT)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward


def proxy_serve(listen_port: int, upstream_url: str, parent_pid: int | None = None) -> None:
    host, _, port = upstream_url.removeprefix("http://").rstrip("/").partition(":")
    handler = type("Handler", (_ProxyHandler,), {"upstream": (host, int(port or 80))})
    server = ThreadingHTTPServer(("127.0.0.1", listen_port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    if parent_pid is not None:
        threading.Thread(target=_exit_with, args=(parent_pid, server), daemon=True).start()
    print(f"proxy listening on 127.0.0.1:{listen_port} for {upstream_url}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()


def _exit_with(parent_pid: int, server: ThreadingHTTPServer) -> None:
    """Stop serving once ``parent_pid`` is gone: a test run that died never leaves a proxy."""
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            server.shutdown()
            return


# --- the pieces, as the tests and the benchmark start them ------------------------------------


class _Server:
    """A process serving HTTP on a free port chosen once: stopped and started on the same one."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: ServiceProcess | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.process = ServiceProcess(
            self.log_path.stem,
            self.command(),
            dict(os.environ),
            self.log_path,
            append=True,
            stdin_open=True,  # osmem-server exits when its stdin closes
        )
        wait_for_http(self.url, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


class OsmemEngine(_Server):
    """osmem-server on a free port; its data lives as long as the process does."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir / "osmem.log")

    def command(self) -> list[str]:
        from osmem_server import resolve_binary  # type: ignore[import-untyped]

        args = [resolve_binary(), "--addr", f"127.0.0.1:{self.port}", "--no-ja"]
        return [*args, "--parent-pid", str(os.getpid())]  # never outlives the test run


class EngineProxy(_Server):
    """The compatibility proxy in front of ``upstream``, on a port kept across restarts."""

    def __init__(self, upstream: str, log_dir: Path) -> None:
        self.upstream = upstream
        super().__init__(log_dir / "proxy.log")

    def command(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "tests.support.harness.search_engine",
            "--listen",
            str(self.port),
        ]
        return [*args, "--upstream", self.upstream, "--parent-pid", str(os.getpid())]


class SilentEngine:
    """Accepts connections (into the listen backlog) and never reads or answers a byte."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(1024)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def close(self) -> None:
        self._socket.close()


class SearchEngine:
    """osmem and the proxy together: ``url`` is what the application is pointed at."""

    def __init__(self, log_dir: Path) -> None:
        self.osmem = OsmemEngine(log_dir)
        self.proxy: EngineProxy | None = None

    @property
    def url(self) -> str:
        assert self.proxy is not None
        return self.proxy.url

    def start(self) -> SearchEngine:
        self.osmem.start()
        self.proxy = EngineProxy(self.osmem.url, self.osmem.log_path.parent)
        self.proxy.start()
        return self

    def outage_begin(self) -> None:
        """The engine unreachable: connections to ``url`` are refused; osmem keeps its data."""
        assert self.proxy is not None
        self.proxy.stop()

    def outage_end(self) -> None:
        assert self.proxy is not None
        self.proxy.start()

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        self.osmem.stop()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """A plain JSON request to osmem itself (checks from the tests, no client involved)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (loopback, ours)
            f"{self.osmem.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        return json.loads(text) if text else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when it is gone")
    args = parser.parse_args()
    proxy_serve(args.listen, args.upstream, args.parent_pid)


if __name__ == "__main__":
    main()
