"""``GET .../messages/search?q=`` and ``POST .../messages/search`` with ``{"query": ...}``.

Both answer the same page. Its links are always GET URLs carrying the query, so a client
follows ``next`` the same way whichever form it started with.
"""

from urllib.parse import urlencode

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.selectors import application_get
from chatapi.pagination import limit_from_request
from chatapi.schema import CURSOR, LIMIT, error_responses, page_of
from chatapi.serializer_fields import StrictTextField
from chats.selectors import chat_get
from messages_app.apis import MessageOutputSerializer
from search.selectors import messages_search

Q = OpenApiParameter(
    "q",
    str,
    required=True,
    description="Terms separated by white space; each must occur in the body, in any case.",
)
SearchPageSerializer = page_of("MessageSearchPage", MessageOutputSerializer)


class MessageSearchGetInputSerializer(serializers.Serializer):
    q = StrictTextField(max_length=settings.SEARCH_QUERY_MAX_LENGTH)


class MessageSearchInputSerializer(serializers.Serializer):
    query = StrictTextField(max_length=settings.SEARCH_QUERY_MAX_LENGTH)


class MessageSearchApi(APIView):
    @extend_schema(
        operation_id="messages_search",
        parameters=[Q, LIMIT, CURSOR],
        responses={200: SearchPageSerializer, **error_responses(400, 404, 503)},
    )
    def get(self, request: Request, token: str, chat_number: int) -> Response:
        data = MessageSearchGetInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return self._search(request, token, chat_number, data.validated_data["q"])

    @extend_schema(
        operation_id="messages_search_post",
        request=MessageSearchInputSerializer,
        parameters=[LIMIT, CURSOR],
        responses={200: SearchPageSerializer, **error_responses(400, 404, 413, 415, 503)},
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
            chat=chat_get(application=application, number=chat_number),
            query=query,
            limit=limit,
            cursor=request.query_params.get("cursor"),
        )
        return Response(
            {
                "results": MessageOutputSerializer(page.messages, many=True).data,
                "next": _link(request, query, page.next_cursor),
                "previous": _link(request, query, page.previous_cursor),
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
