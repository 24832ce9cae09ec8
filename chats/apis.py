from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.models import token_is_well_formed
from applications.selectors import application_get
from chatapi.errors import ApiError, NotFound
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
from chatapi.throttling import ApplicationCreateRateThrottle
from chats.selectors import chat_get, chat_list
from chats.services import chat_create


class ChatOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    messages_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ChatListCreateApi(APIView):
    throttle_classes = [ApplicationCreateRateThrottle]

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: ChatOutputSerializer, **error_responses(400, 404, 413, 415, 429, 503)},
    )
    def post(self, request: Request, token: str) -> Response:
        # The body is optional and carries nothing; anything but an object is a mistake.
        if not isinstance(request.data, dict):
            raise ApiError("The request body must be a JSON object or empty.")
        if not token_is_well_formed(token):
            raise NotFound("No application with this token.")
        chat = chat_create(token=token, idempotency_key=idempotency_key_from(request))
        return Response(ChatOutputSerializer(chat).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="chats_list",
        parameters=[LIMIT, AFTER, BEFORE],
        responses={200: page_of("ChatPage", ChatOutputSerializer), **error_responses(400, 404)},
    )
    def get(self, request: Request, token: str) -> Response:
        chats = chat_list(application=application_get(token=token))
        return number_page(chats, request, lambda page: ChatOutputSerializer(page, many=True).data)


class ChatDetailApi(APIView):
    @extend_schema(responses={200: ChatOutputSerializer, **error_responses(404)})
    def get(self, request: Request, token: str, chat_number: int) -> Response:
        chat = chat_get(application=application_get(token=token), number=chat_number)
        return Response(ChatOutputSerializer(chat).data)
