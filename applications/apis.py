from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.selectors import application_get, application_list
from applications.services import application_create, application_update
from chatapi.pagination import CreatedAtCursorPagination
from chatapi.schema import CURSOR, LIMIT, error_responses, page_of
from chatapi.serializer_fields import StrictTextField


class ApplicationOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    name = serializers.CharField()
    chats_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ApplicationInputSerializer(serializers.Serializer):
    name = StrictTextField(max_length=255)


class ApplicationListCreateApi(APIView):
    @extend_schema(
        request=ApplicationInputSerializer,
        responses={201: ApplicationOutputSerializer, **error_responses(400, 413, 415)},
    )
    def post(self, request: Request) -> Response:
        data = ApplicationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = application_create(name=data.validated_data["name"])
        return Response(
            ApplicationOutputSerializer(application).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        operation_id="apps_list",
        parameters=[LIMIT, CURSOR],
        responses={
            200: page_of("ApplicationPage", ApplicationOutputSerializer),
            **error_responses(400),
        },
    )
    def get(self, request: Request) -> Response:
        paginator = CreatedAtCursorPagination()
        page = paginator.paginate_queryset(application_list(), request, view=self)
        return paginator.get_paginated_response(ApplicationOutputSerializer(page, many=True).data)


class ApplicationDetailApi(APIView):
    @extend_schema(responses={200: ApplicationOutputSerializer, **error_responses(404)})
    def get(self, request: Request, token: str) -> Response:
        return Response(ApplicationOutputSerializer(application_get(token=token)).data)

    @extend_schema(
        request=ApplicationInputSerializer,
        responses={200: ApplicationOutputSerializer, **error_responses(400, 404, 413, 415)},
    )
    def put(self, request: Request, token: str) -> Response:
        return self._update(request, token, partial=False)

    @extend_schema(
        request=ApplicationInputSerializer(partial=True),
        responses={200: ApplicationOutputSerializer, **error_responses(400, 404, 413, 415)},
    )
    def patch(self, request: Request, token: str) -> Response:
        return self._update(request, token, partial=True)

    def _update(self, request: Request, token: str, *, partial: bool) -> Response:
        application = application_get(token=token)
        data = ApplicationInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        application = application_update(
            application=application, name=data.validated_data.get("name")
        )
        return Response(ApplicationOutputSerializer(application).data)
