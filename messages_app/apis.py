from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.models import token_is_well_formed
from applications.selectors import application_get
from chatapi.errors import NotFound
from chatapi.idempotency import idempotency_key_from
from chatapi.pagination import number_page
from chatapi.schema import (
    AFTER,
    BEFORE,
    IDEMPOTENCY_KEY,
    LIMIT,
    error_responses,
    page_of,
)
from chatapi.serializer_fields import StrictTextField
from chatapi.throttling import ApplicationCreateRateThrottle
from chats.selectors import chat_find, chat_get
from messages_app.models import Message
from messages_app.selectors import message_get, message_list
from messages_app.services import message_create, message_update


class MessageOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    body = serializers.CharField()
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


class MessageInputSerializer(serializers.Serializer):
    body = StrictTextField(max_length=settings.MESSAGE_BODY_MAX_LENGTH)


class MessageListCreateApi(APIView):
    throttle_classes = [ApplicationCreateRateThrottle]

    @extend_schema(
        request=MessageInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: MessageOutputSerializer,
            **error_responses(400, 404, 413, 415, 422, 429, 503),
        },
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
        parameters=[LIMIT, AFTER, BEFORE],
        responses={
            200: page_of("MessagePage", MessageOutputSerializer),
            **error_responses(400, 404),
        },
    )
    def get(self, request: Request, token: str, chat_number: int) -> Response:
        chat = chat_get(application=application_get(token=token), number=chat_number)
        return number_page(message_list(chat=chat), request, messages_render)


class MessageDetailApi(APIView):
    @extend_schema(responses={200: MessageOutputSerializer, **error_responses(404)})
    def get(self, request: Request, token: str, chat_number: int, number: int) -> Response:
        application = application_get(token=token)
        message = message_get(
            application=application,
            chat=chat_find(application=application, number=chat_number),
            chat_number=chat_number,
            number=number,
        )
        return Response(MessageOutputSerializer(message).data)

    @extend_schema(
        request=MessageInputSerializer,
        responses={200: MessageOutputSerializer, **error_responses(400, 404, 413, 415)},
    )
    def put(self, request: Request, token: str, chat_number: int, number: int) -> Response:
        return self._update(request, token, chat_number, number, partial=False)

    @extend_schema(
        request=MessageInputSerializer(partial=True),
        responses={200: MessageOutputSerializer, **error_responses(400, 404, 413, 415)},
    )
    def patch(self, request: Request, token: str, chat_number: int, number: int) -> Response:
        return self._update(request, token, chat_number, number, partial=True)

    def _update(
        self, request: Request, token: str, chat_number: int, number: int, *, partial: bool
    ) -> Response:
        application = application_get(token=token)
        data = MessageInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        if "body" not in data.validated_data:  # PATCH {} changes nothing
            return self.get(request, token, chat_number, number)
        try:
            message = message_update(
                application=application,
                chat_number=chat_number,
                number=number,
                body=data.validated_data["body"],
            )
        except NotFound:
            # Say which is unknown, the chat or the message, as GET does; only errors pay for it.
            chat_get(application=application, number=chat_number)
            raise
        return Response(MessageOutputSerializer(message).data)
