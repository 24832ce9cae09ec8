"""``GET .../messages/search?q=`` and ``POST .../messages/search`` with ``{"query": ...}``.

Both answer the same page. Its links are always GET URLs carrying the query, so a client
follows ``next`` the same way whichever form it started with.
"""

from urllib.parse import urlencode

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.selectors import application_get
from chats.selectors import chat_locate
from core.pagination import limit_from_request
from core.schema.errors import error_responses
from core.schema.parameters import CHAT_NUMBER, CURSOR, LIMIT, TOKEN
from core.serializer_fields import StrictTextField
from messages_app.serializers import MessageOutputSerializer
from search import openapi as docs
from search.selectors import messages_search

Q = OpenApiParameter(
    "q",
    docs.QUERY_SCHEMA,
    required=True,
    description=docs.QUERY,
    examples=[OpenApiExample("two terms", value="ell wor")],
)
SearchPage = OpenApiResponse(
    inline_serializer(
        name="SearchPage",
        fields={
            "results": MessageOutputSerializer(many=True),
            "next": serializers.URLField(
                allow_null=True, help_text="The next page; null when no match remains."
            ),
            "previous": serializers.URLField(
                allow_null=True, help_text="The previous page; null on the first one."
            ),
            "complete": serializers.BooleanField(help_text=docs.COMPLETE),
        },
    ),
    description="A page of matching messages, best match first.",
)


class MessageSearchGetInputSerializer(serializers.Serializer):
    q = StrictTextField(max_length=settings.SEARCH_QUERY_MAX_LENGTH)


@extend_schema_serializer(component_name="SearchQuery")
class MessageSearchInputSerializer(serializers.Serializer):
    query = StrictTextField(max_length=settings.SEARCH_QUERY_MAX_LENGTH, help_text=docs.QUERY)


class MessageSearchApi(APIView):
    @extend_schema(
        operation_id="search_messages",
        summary="Search the messages of a chat",
        description=docs.SEARCH,
        tags=["search"],
        parameters=[TOKEN, CHAT_NUMBER, Q, LIMIT, CURSOR],
        responses={200: SearchPage, **error_responses(400, 404, 406, 503, e400=docs.TOO_COMPLEX)},
        examples=docs.SEARCH_EXAMPLES,
    )
    def get(self, request: Request, token: str, chat_number: int) -> Response:
        data = MessageSearchGetInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return self._search(request, token, chat_number, data.validated_data["q"])

    @extend_schema(
        operation_id="search_messages_by_body",
        summary="Search the messages of a chat (query in the body)",
        description=docs.SEARCH_POST,
        tags=["search"],
        request=MessageSearchInputSerializer,
        parameters=[TOKEN, CHAT_NUMBER, LIMIT, CURSOR],
        responses={
            200: SearchPage,
            **error_responses(400, 404, 406, 413, 415, 503, e400=docs.TOO_COMPLEX),
        },
        examples=docs.SEARCH_POST_EXAMPLES,
    )
    def post(self, request: Request, token: str, chat_number: int) -> Response:
        data = MessageSearchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._search(request, token, chat_number, data.validated_data["query"])

    def _search(self, request: Request, token: str, chat_number: int, query: str) -> Response:
        limit = limit_from_request(request)
        application = application_get(token=token)
        page = messages_search(
            application=application,
            chat=chat_locate(application=application, number=chat_number),
            query=query,
            limit=limit,
            cursor=request.query_params.get("cursor"),
        )
        return Response(
            {
                "results": MessageOutputSerializer(page.messages, many=True).data,
                "next": _link(request, query, page.next_cursor),
                "previous": _link(request, query, page.previous_cursor),
                "complete": page.complete,
            }
        )


def _link(request: Request, query: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = {"q": query}
    if "limit" in request.query_params:
        params["limit"] = str(limit_from_request(request))
    params["cursor"] = cursor
    return f"{request.build_absolute_uri(request.path)}?{urlencode(params)}"
