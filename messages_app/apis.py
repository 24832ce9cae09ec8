from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.models import token_is_well_formed
from applications.selectors import application_get
from chats.selectors import chat_locate
from core.errors import NotFound
from core.idempotency import idempotency_key_from
from core.pagination import number_page
from core.schema.errors import error_responses
from core.schema.pages import page_of
from core.schema.parameters import (
    AFTER,
    BEFORE,
    CHAT_NUMBER,
    IDEMPOTENCY_KEY,
    LIMIT,
    MESSAGE_NUMBER,
    TOKEN,
)
from core.throttling import CreateRateLimited
from messages_app import openapi as docs
from messages_app.selectors import message_list, message_locate
from messages_app.serializers import (
    MessageInputSerializer,
    MessageOutputSerializer,
    MessagePatchSerializer,
    messages_render,
)
from messages_app.services import message_create, message_update


class MessageListCreateApi(CreateRateLimited):
    @extend_schema(
        operation_id="messages_create",
        summary="Post a message",
        description=docs.CREATE,
        tags=["messages"],
        request=MessageInputSerializer,
        parameters=[TOKEN, CHAT_NUMBER, IDEMPOTENCY_KEY],
        responses={
            201: OpenApiResponse(
                MessageOutputSerializer,
                description="The message, with its number (persisted shortly).",
            ),
            **error_responses(
                400,
                404,
                406,
                413,
                415,
                422,
                429,
                503,
                e503="The message may or may not have been created: retry with the same "
                "`Idempotency-Key` to get exactly one. The one exception is the code "
                "`backlog_full`: nothing was created, as too many rows of this chat wait for "
                "the database; retry later.",
            ),
        },
        examples=docs.CREATE_EXAMPLES,
    )
    def post(self, request: Request, token: str, chat_number: int) -> Response:
        data = MessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not token_is_well_formed(token):
            raise NotFound("No application with this token.")
        message = message_create(
            token=token,
            chat_number=chat_number,
            content=data.validated_data,
            idempotency_key=idempotency_key_from(request),
        )
        return Response(messages_render([message])[0], status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="messages_list",
        summary="List the messages of a chat",
        description=docs.LIST,
        tags=["messages"],
        parameters=[TOKEN, CHAT_NUMBER, LIMIT, AFTER, BEFORE],
        responses={
            200: OpenApiResponse(
                page_of("MessagePage", MessageOutputSerializer),
                description="A page of messages, by number.",
            ),
            **error_responses(400, 404, 406, 503),
        },
        examples=docs.LIST_EXAMPLES,
    )
    def get(self, request: Request, token: str, chat_number: int) -> Response:
        chat = chat_locate(application=application_get(token=token), number=chat_number)
        return number_page(message_list(chat=chat), request, messages_render)


class MessageDetailApi(APIView):
    @extend_schema(
        operation_id="messages_get",
        summary="Get a message",
        description=docs.GET,
        tags=["messages"],
        parameters=[TOKEN, CHAT_NUMBER, MESSAGE_NUMBER],
        responses={
            200: OpenApiResponse(MessageOutputSerializer, description="The message."),
            **error_responses(404, 406, 503),
        },
        examples=docs.GET_EXAMPLES,
    )
    def get(self, request: Request, token: str, chat_number: int, number: int) -> Response:
        message = message_locate(
            application=application_get(token=token), chat_number=chat_number, number=number
        )
        return Response(messages_render([message])[0])

    @extend_schema(
        operation_id="messages_replace",
        summary="Replace a message's body",
        description=docs.REPLACE,
        tags=["messages"],
        parameters=[TOKEN, CHAT_NUMBER, MESSAGE_NUMBER],
        request=MessageInputSerializer,
        responses={
            200: OpenApiResponse(MessageOutputSerializer, description="The message as it is now."),
            **error_responses(400, 404, 406, 413, 415, 503),
        },
        examples=docs.UPDATE_EXAMPLES,
    )
    def put(self, request: Request, token: str, chat_number: int, number: int) -> Response:
        return self._update(request, token, chat_number, number, MessageInputSerializer)

    @extend_schema(
        operation_id="messages_update",
        summary="Update a message",
        description=docs.UPDATE,
        tags=["messages"],
        parameters=[TOKEN, CHAT_NUMBER, MESSAGE_NUMBER],
        request=MessagePatchSerializer,
        responses={
            200: OpenApiResponse(MessageOutputSerializer, description="The message as it is now."),
            **error_responses(400, 404, 406, 413, 415, 503),
        },
        examples=docs.UPDATE_EXAMPLES,
    )
    def patch(self, request: Request, token: str, chat_number: int, number: int) -> Response:
        return self._update(request, token, chat_number, number, MessagePatchSerializer)

    def _update(
        self,
        request: Request,
        token: str,
        chat_number: int,
        number: int,
        serializer: type[serializers.Serializer],
    ) -> Response:
        application = application_get(token=token)
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "body" not in data.validated_data:  # PATCH {} changes nothing
            return self.get(request, token, chat_number, number)
        message = message_update(
            application=application,
            chat_number=chat_number,
            number=number,
            body=data.validated_data["body"],
        )
        return Response(messages_render([message])[0])
