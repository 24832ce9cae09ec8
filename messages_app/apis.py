from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.models import token_is_well_formed
from applications.selectors import application_get
from chatapi.errors import NotFound
from chatapi.idempotency import idempotency_key_from
from chatapi.pagination import number_page
from chatapi.schema.errors import error_responses
from chatapi.schema.pages import page_of
from chatapi.schema.parameters import (
    AFTER,
    BEFORE,
    CHAT_NUMBER,
    IDEMPOTENCY_KEY,
    LIMIT,
    MESSAGE_NUMBER,
    TOKEN,
)
from chatapi.serializer_fields import StrictTextField
from chatapi.throttling import ApplicationCreateRateThrottle
from chats.selectors import chat_locate
from messages_app import openapi as docs
from messages_app.models import Message
from messages_app.selectors import message_list, message_locate
from messages_app.services import message_create, message_update


@extend_schema_serializer(component_name="Message")
class MessageOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="From 1 in every chat.")
    body = serializers.CharField(help_text="Exactly as sent, any Unicode.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _timestamp(moment: datetime) -> str:
    # What DRF's DateTimeField answers (ISO 8601 in the current zone, "Z" for UTC), without
    # a field object per value: tests pin the two to the same output.
    text = timezone.localtime(moment).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def messages_render(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """A page of messages as MessageOutputSerializer renders them, at a fraction of the cost.

    DRF builds and runs four field objects per message; a page of 200 cost more than the
    query that read it.
    """
    return [
        {
            "number": message.number,
            "body": message.body,
            "created_at": _timestamp(message.created_at),
            "updated_at": _timestamp(message.updated_at),
        }
        for message in messages
    ]


@extend_schema_serializer(component_name="MessageCreate")
class MessageInputSerializer(serializers.Serializer):
    body = StrictTextField(
        max_length=settings.MESSAGE_BODY_MAX_LENGTH,
        help_text="Any text but blank, stored exactly (emoji included).",
    )


@extend_schema_serializer(component_name="MessagePatch")
class MessagePatchSerializer(serializers.Serializer):
    body = StrictTextField(
        max_length=settings.MESSAGE_BODY_MAX_LENGTH,
        required=False,
        help_text="Left out, the body is unchanged.",
    )


class MessageListCreateApi(APIView):
    throttle_classes = [ApplicationCreateRateThrottle]

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
            body=data.validated_data["body"],
            idempotency_key=idempotency_key_from(request),
        )
        return Response(MessageOutputSerializer(message).data, status=status.HTTP_201_CREATED)

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
        return Response(MessageOutputSerializer(message).data)

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
        return Response(MessageOutputSerializer(message).data)
