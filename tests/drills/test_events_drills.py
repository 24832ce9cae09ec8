"""The live events under Redis faults, on a Redis of the drill's own (tests/drills/conftest.py):
a stream followed through a clean restart goes on without a reset (nothing was lost); through
a power loss that took events it had sent, it gets a ``reset``, and so does a resume from one
of the lost events."""

import time

import pytest

from events.tests.test_streams import API, kinds, open_stream
from tests.support.sse import SseStream
from tests.support.streams import stream_process_start

pytestmark = [
    pytest.mark.backend_independent,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]


class _Server:
    def __init__(self, port: int) -> None:
        self.port = port


@pytest.fixture
def streams(drill, tmp_path):
    env = drill.environment(EVENTS_READ_BLOCK_MS="300", REDIS_SOCKET_TIMEOUT="1")
    process, port = stream_process_start(env, tmp_path)
    try:
        yield _Server(port)
    finally:
        process.stop()


def _post(web, token: str, body: str) -> int:
    deadline = time.monotonic() + 20
    while True:
        status, data = web.call("POST", f"{API}/apps/{token}/chats/1/messages", {"body": body})
        if status == 201:
            return data["number"]
        assert status == 503 and time.monotonic() < deadline, (status, data)
        time.sleep(0.2)


def test_a_clean_redis_restart_loses_no_event_and_is_told_once(drill, drill_redis, streams):
    """A restarted Redis may have come back without the last events it acknowledged (a crash
    looks the same from here), so the stream says so once, then goes on: every message still
    comes, in order."""
    web = drill.web()
    token = web.post(f"{API}/apps", {"name": "drill"})["token"]
    web.post(f"{API}/apps/{token}/chats")
    with open_stream(streams, f"{API}/apps/{token}/chats/1/events") as chat:
        first = [_post(web, token, f"m{index}") for index in range(3)]
        chat.wait_count(3)
        drill_redis.shutdown()
        drill_redis.start()
        later = [_post(web, token, f"n{index}") for index in range(2)]
        events = chat.wait_count(6, timeout=20)
        time.sleep(0.5)
        assert [(e.type, e.data.get("number")) for e in chat.events] == [
            *(("message.created", number) for number in first),
            ("reset", None),
            *(("message.created", number) for number in later),
        ]
    assert later[0] > first[-1] + 1  # reseeded after the restart: numbers jumped, no event lost
    assert events


def test_a_power_loss_that_took_sent_events_is_told_with_a_reset(drill, drill_redis, streams):
    web = drill.web()
    token = web.post(f"{API}/apps", {"name": "drill"})["token"]
    web.post(f"{API}/apps/{token}/chats")
    with open_stream(streams, f"{API}/apps/{token}/chats/1/events") as chat:
        _post(web, token, "kept")
        chat.wait_count(1)
        time.sleep(1.5)  # fsynced (appendfsync everysec)
        kept = drill_redis.aof_size()
        _post(web, token, "lost 1")
        _post(web, token, "lost 2")
        lost_cursor = chat.wait_count(3)[-1].id
        drill_redis.kill()
        drill_redis.cut_aof(kept)  # the machine lost what was not fsynced
        drill_redis.start()
        events = chat.wait_count(4, timeout=20)
        assert kinds(events) == ["message.created"] * 3 + ["reset"]
        after = _post(web, token, "after")
        events = chat.wait_count(5, timeout=20)
        assert (events[4].type, events[4].data["number"]) == ("message.created", after)
    path = f"{API}/apps/{token}/chats/1/events"
    resumed = SseStream(streams.port, path, last_event_id=lost_cursor)
    try:
        assert kinds(resumed.wait_count(1)) == ["reset"]
    finally:
        resumed.close()
