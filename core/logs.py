"""What every log line of ours goes through: the request id, and no application token in full.

An application's token is its only credential, and it travels in every path under
``/api/v1/apps/{token}``: Django's request log ("Not Found: /api/v1/apps/<token>/chats/9"),
gunicorn's access log and any message that quotes a path would write it out whole. The filter
here rewrites each record so that a token shows its first 8 characters at most. The same
function redacts gunicorn's access log (chatapi.gunicorn_logging) and Celery's lines
(chatapi.celery).

``LOG_FORMAT=json`` swaps the formatter for python-json-logger's: one JSON object per line,
with the same fields.
"""

import logging
import re

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from core.request_id import current_request_id

# Both keep 8 characters. A path segment under /apps/ (a token, or what a client sent in its
# place, longer than 8), and any other run of 40 or more hex digits (a token quoted in a
# message), in either case.
_PATH_TOKEN = re.compile(r"(/apps/)([^/?#\s\"']{8})[^/?#\s\"']+")
_HEX_TOKEN = re.compile(r"(?<![0-9A-Fa-f])([0-9A-Fa-f]{8})[0-9A-Fa-f]{32,}(?![0-9A-Fa-f])")

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


def redact(text: str) -> str:
    """``text`` with every token cut to its first 8 characters and an ellipsis."""
    return _HEX_TOKEN.sub(r"\1…", _PATH_TOKEN.sub(r"\1\2…", text))


_PLAIN_VALUES = (int, float, bool, type(None))


class TokenRedactingFilter(logging.Filter):
    """Renders the record's message (and traceback) now, redacted; keeps every record.

    Extra attributes too: a JSON formatter writes them all out, and Django's request log
    attaches the request itself (``<WSGIRequest: GET '/api/v1/apps/<token>/...'>``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for name, value in list(vars(record).items()):
            if name not in RESERVED_ATTRS and not isinstance(value, _PLAIN_VALUES):
                setattr(record, name, redact(str(value)))
        if record.exc_info:
            # Formatters would render exc_info afresh; hand them the redacted text instead.
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class RequestIdFilter(logging.Filter):
    """Adds ``request_id``: the current request's, or "-" (a line of its own keeps its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class BeatTicksFilter(logging.Filter):
    """Drops beat's "Scheduler: Sending due task ..." (one per tick) and keeps the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Scheduler: Sending due task")


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        JSON_FIELDS,
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        json_ensure_ascii=False,
    )


def plain_formatter() -> logging.Formatter:
    return logging.Formatter(PLAIN_FORMAT)


def handler_prepare(handler: logging.Handler, log_format: str) -> None:
    """Give a handler someone else created (gunicorn's, Celery's) our filters and format."""
    if not any(isinstance(f, TokenRedactingFilter) for f in handler.filters):
        handler.addFilter(RequestIdFilter())
        handler.addFilter(TokenRedactingFilter())
    if log_format == "json":
        handler.setFormatter(json_formatter())
