"""The contract's live events end to end: a real stream process, real WSGI servers creating
and editing, a real SSE client (tests/support/sse.py), a real Redis (or Redis Cluster)."""

import signal
import time

import pytest

from core.redis_client import redis_connection
from events.tests.conftest import KEEPALIVE_SECONDS, StreamServer
from pipeline import keys
from pipeline.drain import journal_drain
from pipeline.tasks import FOLLOW_UPS
from tests.support.http import HttpApi
from tests.support.sse import SseEvent, SseStream

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

API = "/api/v1"


def new_application(web: HttpApi) -> str:
    return web.post(f"{API}/apps", {"name": "events"})["token"]


def post(web: HttpApi, token: str, chat: int, body: str) -> dict:
    return web.post(f"{API}/apps/{token}/chats/{chat}/messages", {"body": body})


def created(events: list[SseEvent]) -> list[tuple[int, int]]:
    return [
        (e.data["chat_number"], e.data["number"]) for e in events if e.type == "message.created"
    ]


def kinds(events: list[SseEvent]) -> list[str]:
    return [event.type for event in events]


def open_stream(server: StreamServer, path: str, **kwargs) -> SseStream:
    stream = SseStream(server.port, path, **kwargs).wait_open()
    assert stream.status == 200, (stream.status, stream.error_body)
    # The first bytes (retry:) are written at once: once they are read, the stream follows.
    deadline = time.monotonic() + 5
    while stream.retry is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return stream


def test_application_and_chat_streams_carry_every_event_once_in_order(web, stream_server):
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    with (
        open_stream(stream_server, f"{API}/apps/{token}/events") as app,
        open_stream(stream_server, f"{API}/apps/{token}/chats/1/events") as chat,
    ):
        assert app.content_type.startswith("text/event-stream")
        assert app.retry == 2000
        first = post(web, token, 1, "hello ✨")
        chat_two = web.post(f"{API}/apps/{token}/chats")
        post(web, token, 2, "elsewhere")
        post(web, token, 1, "again")
        edited = web.patch(f"{API}/apps/{token}/chats/1/messages/1", {"body": "edited"})
        app_events = app.wait_count(5)
        chat_events = chat.wait_count(3)
    assert kinds(app_events) == [
        "message.created",
        "chat.created",
        "message.created",
        "message.created",
        "message.updated",
    ]
    assert app_events[0].data == {"chat_number": 1, **first}
    assert app_events[1].data == chat_two
    assert app_events[4].data == {"chat_number": 1, **edited}
    assert created(chat_events) == [(1, 1), (1, 2)]
    assert kinds(chat_events) == ["message.created", "message.created", "message.updated"]
    assert chat_events[2].data["body"] == "edited"
    # Opaque, distinct cursors.
    assert len({event.id for event in app_events}) == 5


def test_an_edit_of_a_persisted_message_is_announced(web, stream_server):
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    post(web, token, 1, "one")
    journal_drain(
        keys.partition_of(token), batch_size=100, follow_ups=FOLLOW_UPS, time_budget_seconds=5
    )
    with open_stream(stream_server, f"{API}/apps/{token}/chats/1/events") as chat:
        edited = web.patch(f"{API}/apps/{token}/chats/1/messages/1", {"body": "one, edited"})
        events = chat.wait_count(1)
    assert [(e.type, e.data) for e in events] == [("message.updated", {"chat_number": 1, **edited})]


def test_resume_with_last_event_id_misses_nothing_and_repeats_nothing(web, stream_server):
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    with open_stream(stream_server, f"{API}/apps/{token}/chats/1/events") as chat:
        for index in range(3):
            post(web, token, 1, f"m{index}")
        cursor = chat.wait_count(3)[-1].id
    for index in range(3, 6):  # while disconnected
        post(web, token, 1, f"m{index}")
    with open_stream(
        stream_server, f"{API}/apps/{token}/chats/1/events", last_event_id=cursor
    ) as again:
        post(web, token, 1, "m6")
        again.wait_count(4)
        time.sleep(0.3)
        assert created(again.events) == [(1, 4), (1, 5), (1, 6), (1, 7)]


def test_after_sends_persisted_and_pending_messages_then_live_ones(web, stream_server):
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    for index in range(4):
        post(web, token, 1, f"persisted {index}")
    journal_drain(
        keys.partition_of(token), batch_size=100, follow_ups=FOLLOW_UPS, time_budget_seconds=5
    )
    for index in range(3):
        post(web, token, 1, f"pending {index}")
    path = f"{API}/apps/{token}/chats/1/events?after=2"
    with open_stream(stream_server, path) as chat:
        post(web, token, 1, "live")
        events = chat.wait_count(6)
        time.sleep(0.3)
        assert created(chat.events) == [(1, n) for n in range(3, 9)]
        assert [e.data["body"] for e in events] == [
            "persisted 2",
            "persisted 3",
            "pending 0",
            "pending 1",
            "pending 2",
            "live",
        ]
        cursor = events[3].id  # mid catch-up: message 6
    post(web, token, 1, "later")
    with open_stream(stream_server, path, last_event_id=cursor) as again:
        again.wait_count(3)
        time.sleep(0.3)
        assert created(again.events) == [(1, 7), (1, 8), (1, 9)]


def test_a_cursor_older_than_the_retention_gets_a_reset(web, stream_server):
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    with open_stream(stream_server, f"{API}/apps/{token}/chats/1/events") as chat:
        post(web, token, 1, "one")
        cursor = chat.wait_count(1)[-1].id
    post(web, token, 1, "two")
    redis_connection().xtrim(keys.events_stream_key(keys.partition_of(token)), maxlen=0)
    with open_stream(
        stream_server, f"{API}/apps/{token}/chats/1/events", last_event_id=cursor
    ) as again:
        post(web, token, 1, "three")
        events = again.wait_count(2)
    assert kinds(events) == ["reset", "message.created"]
    assert events[1].data["number"] == 3


def test_a_flushed_redis_gets_a_reset(web, stream_server):
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    with open_stream(stream_server, f"{API}/apps/{token}/events") as app:
        post(web, token, 1, "one")
        cursor = app.wait_count(1)[-1].id
        for node in _masters():
            node.flushdb()
        # Followed live: told within a read interval, the stream going on.
        assert kinds(app.wait_count(2)) == ["message.created", "reset"]
        # The application's counters went with the flush: only a new application creates.
        other = new_application(web)
        web.post(f"{API}/apps/{other}/chats")
        time.sleep(0.3)
        assert kinds(app.events) == ["message.created", "reset"]
    # Resumed from before the flush: told before anything else.
    with open_stream(stream_server, f"{API}/apps/{token}/events", last_event_id=cursor) as again:
        assert kinds(again.wait_count(1)) == ["reset"]


def _masters():
    client = redis_connection()
    if hasattr(client, "get_primaries"):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def test_keep_alive_comments_on_an_idle_stream(web, stream_server):
    token = new_application(web)
    with open_stream(stream_server, f"{API}/apps/{token}/events") as app:
        time.sleep(KEEPALIVE_SECONDS * 2.5)
        assert app.comments >= 2


BAD_INPUT = [
    ("/apps/{token}/events", {"Accept": "application/json"}, 406, "not_acceptable"),
    ("/apps/nope/events", {}, 404, "not_found"),
    ("/apps/{token}/chats/9/events", {}, 404, "not_found"),
    ("/apps/{token}/events", {"Last-Event-ID": "garbage"}, 400, "bad_last_event_id"),
    ("/apps/{token}/events", {"Last-Event-ID": "1-0_1_x"}, 400, "bad_last_event_id"),
    ("/apps/{token}/chats/1/events?after=-1", {}, 400, "validation_error"),
    ("/apps/{token}/chats/1/events?after=1e3", {}, 400, "validation_error"),
    ("/apps/{token}/events?after=1", {}, 400, "validation_error"),
]


def test_bad_input_is_a_4xx_in_the_envelope_before_any_event(web, stream_server):
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    answers, expected = [], []
    for path, headers, status, code in BAD_INPUT:
        stream = SseStream(stream_server.port, API + path.format(token=token), headers=headers)
        stream.ended.wait(5)
        body = stream.error_body or {}
        answers.append((path, stream.status, body.get("error", {}).get("code"), stream.events))
        expected.append((path, status, code, []))
        stream.close()
    assert answers == expected


def test_any_accept_that_allows_event_streams_is_served(web, stream_server):
    token = new_application(web)
    for accept in (
        "*/*",
        "text/*",
        "text/event-stream; charset=utf-8",
        "application/json, */*;q=0.1",
    ):
        with open_stream(stream_server, f"{API}/apps/{token}/events", headers={"Accept": accept}):
            pass


def test_too_many_streams_of_one_application_is_a_429(web, stream_env, tmp_path_factory, request):
    from tests.support.streams import stream_process_start

    env = {**stream_env, "EVENTS_MAX_STREAMS_PER_APPLICATION": "2"}
    process, port = stream_process_start(env, tmp_path_factory.mktemp("limited"))
    try:
        server = StreamServer(process, port)
        token, other = new_application(web), new_application(web)
        first = open_stream(server, f"{API}/apps/{token}/events")
        second = open_stream(server, f"{API}/apps/{token}/events")
        third = SseStream(port, f"{API}/apps/{token}/events").wait_open()
        third.ended.wait(5)
        assert (third.status, third.error_body) == (429, third.error_body)
        assert third.error_body["error"]["code"] == "too_many_streams"
        open_stream(server, f"{API}/apps/{other}/events").close()
        first.close()
        time.sleep(0.3)  # the server sees the disconnect
        open_stream(server, f"{API}/apps/{token}/events").close()
        second.close()
    finally:
        process.stop()


def test_a_graceful_stop_ends_the_streams_at_once(web, stream_server):
    token = new_application(web)
    stream = open_stream(stream_server, f"{API}/apps/{token}/events")
    started = time.monotonic()
    stream_server.process.signal(signal.SIGTERM)
    assert stream.ended.wait(10)
    assert time.monotonic() - started < 3
    stream.close()


def test_a_client_that_does_not_read_is_cut_off_with_a_reset_and_slows_no_one(
    web, stream_env, tmp_path_factory
):
    import socket

    from tests.support.streams import stream_process_start

    env = {**stream_env, "EVENTS_CLIENT_QUEUE": "100"}
    process, port = stream_process_start(env, tmp_path_factory.mktemp("slow"))
    try:
        server = StreamServer(process, port)
        token = new_application(web)
        web.post(f"{API}/apps/{token}/chats")
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
        stalled.connect(("127.0.0.1", port))
        request = f"GET {API}/apps/{token}/events HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"
        stalled.sendall(request.encode())
        time.sleep(0.5)
        count = 700  # ~7 MB of events: more than the stalled socket's buffers hold (4 MB)
        with open_stream(server, f"{API}/apps/{token}/events") as reading:
            body = "x" * 10000
            for _ in range(count):
                post(web, token, 1, body)
            events = reading.wait_count(count, timeout=60)
            assert created(events) == [(1, n) for n in range(1, count + 1)]
        stalled.settimeout(5)
        received = b""
        deadline = time.monotonic() + 30
        while b"event: reset" not in received[-100_000:] and time.monotonic() < deadline:
            chunk = stalled.recv(1 << 20)
            if not chunk:
                break
            received += chunk
        stalled.close()
        assert b"event: reset" in received
        assert received.count(b"event: message.created") < count
    finally:
        process.stop()


def test_the_wsgi_api_answers_the_events_paths_421_instead_of_holding_a_thread(web):
    token = new_application(web)
    status, body = web.call("GET", f"{API}/apps/{token}/events", headers={"Accept": "*/*"})
    assert (status, body["error"]["code"]) == (421, "misdirected_request")
