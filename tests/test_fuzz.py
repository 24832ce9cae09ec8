"""Property-based fuzzing of the whole API with schemathesis, against its own ``/api/schema/``.

The Django application is driven in-process through WSGI (no server, no network), so a run is
quick and deterministic enough for CI: every operation of the schema gets a bounded number of
generated requests, valid and invalid ones (schemathesis's positive and negative modes), and
every response must

- not be a 5xx (``not_a_server_error``),
- accept every request the schema allows (``positive_data_acceptance``), but for the few
  refusals no schema can express, named in ``REFUSALS_NO_SCHEMA_STATES``, and
- conform to the schema: its status code is one the operation documents, its content type is
  the documented one, its body validates against the documented schema, its headers too; an
  undocumented method is a 405 whose ``Allow`` names the documented ones.

Generated path parameters alone would almost always name an application that does not exist,
and so only ever exercise 404s. A hook therefore swaps in, most of the time, the token of an
application made by the fixture and chat and message numbers that exist (or just do not), so
that the 200, 201 and 400 paths are fuzzed too. The database is transactional (each request
commits, as in production) and emptied after every operation; the test Redis is emptied by the
autouse ``redis_clean`` fixture, so each operation starts from the same state.

Hypothesis is derandomized, keeps no example database and has no deadline: a failure found in
CI is found again by the same command on a developer's machine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.utils import timezone
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from applications.models import Application
from chats.models import Chat
from messages_app.models import Message
from tests.support.terminal import to_terminal

MAX_EXAMPLES = 30
# An application made by the fixture: 40 lowercase hex characters, like every real token.
TOKEN = "f022" + "0" * 36
# Chat 1 holds messages 1..3; chat 2 holds none; chat 3 does not exist.
CHAT_NUMBERS = [1, 1, 2, 3]
MESSAGE_NUMBERS = [1, 2, 3, 4]
# Requests the schema allows and the server may still refuse, because whether they are right
# depends on what the server holds or made, not on their shape: (status, error code, the
# operations it may come from (a path suffix), the fields it may name (None: any)). An unknown
# token or number, a 404, is one too; positive_data_acceptance allows 404 already.
REFUSALS_NO_SCHEMA_STATES = [
    # An Idempotency-Key already used on this resource with another body.
    (422, "idempotency_key_reused", "", None),
    # A cursor the server never made: cursors are opaque.
    (400, "bad_request", "", {"cursor"}),
    # A query whose terms need more search clauses than the limit (search.complexity): the
    # limit depends on which terms and how long, which no JSON Schema keyword can count.
    (400, "query_too_complex", "/search", None),
]


def refusal_no_schema_states(case: schemathesis.Case, response: Any) -> bool:
    if response.status_code not in (400, 422):
        return False
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    for status, code, path_suffix, fields in REFUSALS_NO_SCHEMA_STATES:
        if (
            response.status_code == status
            and error.get("code") == code
            and case.operation.path.endswith(path_suffix)
            and (fields is None or set(error.get("fields", {})) == fields)
        ):
            return True
    return False


def positive_data_accepted(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """schemathesis's positive_data_acceptance, but for REFUSALS_NO_SCHEMA_STATES."""
    if refusal_no_schema_states(case, response):
        return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [
    not_a_server_error,
    positive_data_accepted,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # An undocumented method is a 405 with an Allow header naming the documented ones.
    unsupported_method,
    allow_header_conformance,
    missing_required_header,
]
# Not checked: negative_data_rejection. Unknown query parameters and body keys are ignored on
# purpose (a client may send more than a server version knows), so "accepted" is right there.

django_application = get_wsgi_application()
# Every status answered, by operation test; the count of requests made is reported at the end.
statuses: Counter[int] = Counter()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """The Django WSGI application, counting what it answers."""

    def counting_start_response(status: str, *args: Any) -> Any:
        statuses[int(status.split(" ", 1)[0])] += 1
        return start_response(status, *args)

    return django_application(environ, counting_start_response)


schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy:
    """Mostly real resources, sometimes the generated values (unknown or malformed ones)."""
    if not path_parameters:
        return st.just(path_parameters)
    real: dict[str, st.SearchStrategy] = {
        name: st.just(value) for name, value in path_parameters.items()
    }
    if "token" in real:
        real["token"] = st.just(TOKEN)
    if "chat_number" in real:
        real["chat_number"] = st.sampled_from(CHAT_NUMBERS)
    if "number" in real:
        real["number"] = st.sampled_from(MESSAGE_NUMBERS)
    existing = st.fixed_dictionaries(real)
    return st.one_of(existing, existing, existing, st.just(path_parameters))


@pytest.fixture
def fuzzed_application(transactional_db: None) -> Iterator[Application]:
    """An application with the fixed token, chats 1 and 2, and messages 1..3 in chat 1."""
    start = timezone.now() - timedelta(hours=1)
    app = Application.objects.create(token=TOKEN, name="fuzzed", created_at=start, updated_at=start)
    chat = Chat.objects.create(application=app, number=1, created_at=start, updated_at=start)
    Chat.objects.create(application=app, number=2, created_at=start, updated_at=start)
    Message.objects.bulk_create(
        Message(
            chat=chat,
            number=number,
            body=f"hello fuzz {number}",
            created_at=start + timedelta(seconds=number),
            updated_at=start + timedelta(seconds=number),
        )
        for number in (1, 2, 3)
    )
    yield app


@pytest.fixture(scope="module", autouse=True)
def report_requests(request: pytest.FixtureRequest) -> Iterator[None]:
    statuses.clear()  # the schema itself was fetched through the counter at import
    yield
    by_status = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    to_terminal(
        request.config,
        f"fuzzing: {sum(statuses.values())} requests to {len(list(schema.get_all_operations()))}"
        f" operations, by status: {by_status}",
    )


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, fuzzed_application) -> None:
    case.call_and_validate(checks=CHECKS)
