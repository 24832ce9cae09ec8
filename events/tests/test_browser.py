"""The browser's own EventSource (headless Chromium) follows a chat, and reconnects by itself
with Last-Event-ID across a restart of the stream process: every message once, in order."""

import json
import time

import pytest

from events.tests.conftest import StreamServer
from events.tests.test_streams import API, new_application, post
from tests.support.harness.browser import Browser, chromium_path
from tests.support.streams import stream_process_start

pytestmark = [
    pytest.mark.backend_independent,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed"),
]

FOLLOW = """
window.received = [];
window.errors = 0;
const source = new EventSource(%s);
for (const type of ["message.created", "message.updated", "reset"]) {
  source.addEventListener(type, (event) => {
    window.received.push([type, event.lastEventId, JSON.parse(event.data).number ?? null]);
  });
}
source.onerror = () => { window.errors += 1; };
"""


def received(browser: Browser, count: int, timeout: float = 20) -> list[list]:
    deadline = time.monotonic() + timeout
    while True:
        events = json.loads(browser.evaluate("JSON.stringify(window.received)"))
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def test_eventsource_reconnects_with_last_event_id_across_a_stream_process_restart(
    web, stream_server: StreamServer, stream_env, tmp_path
):
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    browser = Browser(tmp_path / "profile", tmp_path / "chromium.log")
    restarted = None
    try:
        # A page of the stream process's own origin: EventSource needs no CORS there.
        browser.open(f"http://127.0.0.1:{stream_server.port}/healthz")
        browser.evaluate(FOLLOW % json.dumps(f"{API}/apps/{token}/chats/1/events"))
        time.sleep(0.5)  # connected
        for index in range(3):
            post(web, token, 1, f"before {index}")
        assert [event[2] for event in received(browser, 3)] == [1, 2, 3]

        stream_server.process.stop()  # graceful: the stream ends, EventSource retries
        for index in range(2):  # while no stream process runs
            post(web, token, 1, f"during {index}")
        restarted, _ = stream_process_start(
            stream_env, tmp_path, port=stream_server.port, name="restarted"
        )
        assert [event[2] for event in received(browser, 5)] == [1, 2, 3, 4, 5]
        post(web, token, 1, "after")
        events = received(browser, 6)
        time.sleep(0.5)
        events = received(browser, 99, timeout=0)
        assert [(event[0], event[2]) for event in events] == [
            ("message.created", number) for number in range(1, 7)
        ]
        assert browser.evaluate("window.errors") >= 1  # it did reconnect
    finally:
        browser.close()
        if restarted is not None:
            restarted.stop()
