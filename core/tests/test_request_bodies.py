"""The WSGI wrapper that makes chunked bodies readable (core.request_bodies).

The chunked requests themselves are sent to a real gunicorn in tests/test_http_edges.py; this
covers what gunicorn never does: a server that cannot say where a chunked body ends.
"""

import io
import json

from core.request_bodies import chunked_bodies_readable


def call(environ: dict) -> tuple[str, dict, bytes, dict]:
    seen: dict = {}

    def application(env, start_response):
        seen.update(env)
        body = env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]

    answer: dict = {}

    def start_response(status, headers):
        answer.update(status=status, headers=dict(headers))

    body = b"".join(chunked_bodies_readable(application)(environ, start_response))
    return answer["status"], answer["headers"], body, seen


def test_a_terminated_chunked_body_gets_its_length():
    status, _, body, seen = call(
        {
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(b'{"body": "x"}'),
            "wsgi.input_terminated": True,
        }
    )

    assert status == "200 OK"
    assert body == b'{"body": "x"}'
    assert seen["CONTENT_LENGTH"] == "13"


def test_a_chunked_body_is_read_one_byte_past_the_limit_at_most(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    stream = io.BytesIO(b"a" * 100)

    _, _, body, seen = call(
        {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream, "wsgi.input_terminated": True}
    )

    assert seen["CONTENT_LENGTH"] == "11"  # over the limit: the middleware answers 413
    assert stream.tell() == 11


def test_a_chunked_body_the_server_cannot_delimit_is_411():
    status, headers, body, seen = call(
        {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"{}")}
    )

    assert status == "411 Length Required"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "error": {
            "code": "length_required",
            "message": "Send the body with a Content-Length header.",
        }
    }
    assert not seen


def test_a_body_with_a_length_is_left_alone():
    stream = io.BytesIO(b"{}")

    _, _, body, seen = call({"CONTENT_LENGTH": "2", "wsgi.input": stream})

    assert body == b"{}"
    assert seen["wsgi.input"] is stream
