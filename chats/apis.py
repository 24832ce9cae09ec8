from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.models import token_is_well_formed
from applications.selectors import application_get
from chats import openapi as docs
from chats.models import Chat
from chats.records import ChatRecord
from chats.selectors import chat_list, chat_locate
from chats.services import chat_create
from core.errors import ApiError, NotFound
from core.idempotency import idempotency_key_from
from core.pagination import number_page
from core.schema.errors import error_responses
from core.schema.pages import page_of
from core.schema.parameters import AFTER, BEFORE, CHAT_NUMBER, IDEMPOTENCY_KEY, LIMIT, TOKEN
from core.serializer_fields import timestamp_render
from core.throttling import CreateRateLimited


@extend_schema_serializer(component_name="Chat")
class ChatOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="From 1 in every application.")
    messages_count = serializers.IntegerField(
        help_text="Messages persisted so far; recomputed in the background (it may lag)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def chat_created_render(chat: ChatRecord) -> dict[str, Any]:
    """A chat just accepted, as ChatOutputSerializer renders it (no messages yet, never
    updated), without DRF's field objects: the create is a hot path."""
    created = timestamp_render(chat.created_at)
    return {
        "number": chat.number,
        "messages_count": 0,
        "created_at": created,
        "updated_at": created,
    }


def _chats_render(page: Sequence[Chat]) -> list[Any]:
    # many=True makes a ListSerializer, whose data is a list; the stubs type it as the class.
    return ChatOutputSerializer(page, many=True).data  # type: ignore[return-value]


class ChatListCreateApi(CreateRateLimited):
    @extend_schema(
        operation_id="chats_create",
        summary="Create a chat",
        description=docs.CREATE,
        tags=["chats"],
        request=None,
        parameters=[TOKEN, IDEMPOTENCY_KEY],
        responses={
            201: OpenApiResponse(
                ChatOutputSerializer, description="The chat, with its number (persisted shortly)."
            ),
            **error_responses(
                400,
                404,
                406,
                413,
                415,
                429,
                503,
                e503="The chat may or may not have been created: retry with the same "
                "`Idempotency-Key` to get exactly one. The one exception is the code "
                "`backlog_full`: nothing was created, as too many rows of this chat wait for "
                "the database; retry later.",
            ),
        },
        examples=docs.CREATE_EXAMPLES,
    )
    def post(self, request: Request, token: str) -> Response:
        # The body is optional and carries nothing; anything but an object is a mistake.
        if not isinstance(request.data, dict):
            raise ApiError("The request body must be a JSON object or empty.")
        if not token_is_well_formed(token):
            raise NotFound("No application with this token.")
        chat = chat_create(token=token, idempotency_key=idempotency_key_from(request))
        return Response(chat_created_render(chat), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="chats_list",
        summary="List the chats of an application",
        description=docs.LIST,
        tags=["chats"],
        parameters=[TOKEN, LIMIT, AFTER, BEFORE],
        responses={
            200: OpenApiResponse(
                page_of("ChatPage", ChatOutputSerializer),
                description="A page of chats, by number.",
            ),
            **error_responses(400, 404, 406, 503),
        },
        examples=docs.LIST_EXAMPLES,
    )
    def get(self, request: Request, token: str) -> Response:
        chats = chat_list(application=application_get(token=token))
        return number_page(chats, request, _chats_render)


class ChatDetailApi(APIView):
    @extend_schema(
        operation_id="chats_get",
        summary="Get a chat",
        description=docs.GET,
        tags=["chats"],
        parameters=[TOKEN, CHAT_NUMBER],
        responses={
            200: OpenApiResponse(ChatOutputSerializer, description="The chat."),
            **error_responses(404, 406, 503),
        },
        examples=docs.GET_EXAMPLES,
    )
    def get(self, request: Request, token: str, chat_number: int) -> Response:
        chat = chat_locate(application=application_get(token=token), number=chat_number)
        return Response(ChatOutputSerializer(chat).data)
