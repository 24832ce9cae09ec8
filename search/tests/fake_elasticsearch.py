"""A local HTTP server that records requests and answers like Elasticsearch. NOT Elasticsearch.

It parses nothing but the bulk format and checks nothing of what it is sent. It serves what a
real engine will not do on demand: answer a 500 or a 503, name an alias, fail a given request,
and pin request sequences. Everything else runs against osmem-server
(tests/support/harness/search_engine.py); whether an engine matches the right messages is what the
shared semantic cases check (search/tests/test_semantics.py).
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class Reply:
    status: int = 200
    body: Any = None


@dataclass
class FakeElasticsearch:
    requests: list[RecordedRequest] = field(default_factory=list)
    # (method, path) -> the reply to give, instead of the defaults below.
    replies: dict[tuple[str, str], Reply] = field(default_factory=dict)
    # Bulk: the status to report per document id (default 201, created).
    bulk_status: dict[str, int] = field(default_factory=dict)
    url: str = ""

    def reply(self, method: str, path: str, status: int = 200, body: Any = None) -> None:
        self.replies[(method, path)] = Reply(status, body)

    def sent(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path == path)
        ]

    def answer(self, request: RecordedRequest) -> Reply:
        scripted = self.replies.get((request.method, request.path))
        if scripted is not None:
            return scripted
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return Reply(200, {"version": {"number": "9.5.7"}, "tagline": "not Elasticsearch"})
        if request.path == "/_bulk":
            return Reply(200, self._bulk(request))
        if request.path.endswith("/_search"):
            return Reply(200, {"took": 1, "timed_out": False, "hits": {"hits": []}})
        if request.method == "HEAD":
            return Reply(200)
        if request.method in ("PUT", "DELETE"):
            return Reply(200, {"acknowledged": True})
        if request.path == "/_alias":
            return Reply(200, {})
        return Reply(404, _error(404, "resource_not_found_exception", request.path))

    def _bulk(self, request: RecordedRequest) -> dict[str, Any]:
        lines = request.ndjson()
        items = []
        i = 0
        while i < len(lines):
            ((op_type, meta),) = lines[i].items()
            i += 1 if op_type == "delete" else 2
            status = self.bulk_status.get(meta.get("_id"), 201)
            item: dict[str, Any] = {"_index": meta.get("_index"), "_id": meta.get("_id")}
            item["status"] = status
            if status >= 300:
                kind = "version_conflict_engine_exception" if status == 409 else "mapper_exception"
                item["error"] = {"type": kind, "reason": "scripted by the test"}
            items.append({op_type: item})
        return {
            "took": 1,
            "errors": any(i[k]["status"] >= 300 for i in items for k in i),
            "items": items,
        }

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    params=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                fake.requests.append(request)
                reply = fake.answer(request)
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                # The client refuses any answer without this header (its product check).
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _error(status: int, kind: str, reason: str) -> dict[str, Any]:
    cause = {"type": kind, "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def error_reply(status: int, kind: str, reason: str = "scripted by the test") -> Reply:
    return Reply(status, _error(status, kind, reason))
