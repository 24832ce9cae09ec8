"""The two event streams of the contract ("Live events" in the API): async views, served by
the stream process (chatapi/asgi.py), answering StreamingHttpResponse over an async iterator.

Everything that can fail is settled before the 200: the Accept header (406), the cursor (400),
the application or chat (404), the limits (429) and Redis (503), each in the error envelope.
"""

from asgiref.sync import sync_to_async
from django import db
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from core.errors import REDIS_UNAVAILABLE, ApiError, error_body
from events.cursors import Cursor, MalformedCursor
from events.frames import Event
from events.hub import EventsUnavailable, TooManyStreams, hub
from events.selectors import followed_exists, messages_above

EVENT_STREAM = "text/event-stream"


def _accepts_event_stream(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    if not accept.strip():
        return True
    for media_range in accept.split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        if media_type.lower() not in {EVENT_STREAM, "text/*", "*/*"}:
            continue
        if not any(p.replace(" ", "") in {"q=0", "q=0.0", "q=0.00", "q=0.000"} for p in parameters):
            return True
    return False


def _error(status: int, code: str, message: str) -> JsonResponse:
    headers = {"Retry-After": "1"} if status in {429, 503} else None
    return JsonResponse(error_body(code, message), status=status, headers=headers)


def _after(request: HttpRequest, chat_number: int | None) -> int | None | JsonResponse:
    raw = request.GET.get("after")
    if raw is None:
        return None
    if chat_number is None:
        return _error(400, "validation_error", "`after` applies to a chat's stream only.")
    if not raw.isdigit() or len(raw) > 18:
        return _error(400, "validation_error", "`after` must be a number, 0 or more.")
    return int(raw)


async def chat_events(request: HttpRequest, token: str, chat_number: int) -> HttpResponseBase:
    return await _stream(request, token, chat_number)


async def application_events(request: HttpRequest, token: str) -> HttpResponseBase:
    return await _stream(request, token, None)


async def _stream(request: HttpRequest, token: str, chat_number: int | None) -> HttpResponseBase:
    if not isinstance(request, ASGIRequest):
        # A WSGI worker would hold a thread for as long as the stream lasts: the events paths
        # belong to the stream process (routed there by the proxy: docs/events.md).
        return _error(
            421,
            "misdirected_request",
            "Live events are served by the stream process; route this path to it.",
        )
    if request.method not in {"GET", "HEAD"}:
        return _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    if not _accepts_event_stream(request):
        return _error(406, "not_acceptable", f"This resource answers {EVENT_STREAM} only.")
    last_event_id = request.META.get("HTTP_LAST_EVENT_ID", "").strip()
    try:
        cursor = Cursor.decode(last_event_id) if last_event_id else None
    except MalformedCursor:
        return _error(400, "bad_last_event_id", "Last-Event-ID is not an id this API sent.")
    after = _after(request, chat_number)
    if isinstance(after, JsonResponse):
        return after
    try:
        await sync_to_async(followed_exists)(token=token, chat_number=chat_number)
    except ApiError as exc:
        return _error(exc.status_code, exc.code, exc.message)
    except (*REDIS_UNAVAILABLE, db.Error):
        return _error(503, "service_unavailable", "The database or Redis is unavailable; retry.")
    # A reconnect (Last-Event-ID) goes on from its cursor, even on a URL with ?after=.
    if cursor is not None:
        after = cursor.after
    events = hub()
    try:
        subscription, joined = await events.subscribe(
            token=token, chat_number=chat_number, cursor=cursor
        )
    except TooManyStreams as exc:
        return _error(429, "too_many_streams", str(exc))
    except (EventsUnavailable, *REDIS_UNAVAILABLE) as exc:
        return _error(503, "service_unavailable", f"Live events are unavailable: {exc}")
    try:
        if after is not None and chat_number is not None:
            messages = await sync_to_async(messages_above)(
                token=token, chat_number=chat_number, after=after
            )
            subscription.created_up_to = after
            subscription.prepend([Event.message(joined, message) for message in messages])
    except (*REDIS_UNAVAILABLE, db.Error):
        events.unsubscribe(subscription)
        return _error(503, "service_unavailable", "The database or Redis is unavailable; retry.")
    except BaseException:
        events.unsubscribe(subscription)
        raise
    response = StreamingHttpResponse(subscription.frames(), content_type=EVENT_STREAM)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: never buffer this response
    # Ends the subscription even when the stream never started (the client left first).
    # (Django calls a response's closers once it is done with it, sent or not; the stubs do
    # not declare the list.)
    response._resource_closers.append(  # type: ignore[attr-defined]
        lambda: events.unsubscribe(subscription)
    )
    return response
