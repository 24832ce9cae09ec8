from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import (
    BaseAuthentication,
    BasicAuthentication,
    SessionAuthentication,
)
from rest_framework.permissions import AllowAny, BasePermission, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications import openapi as docs
from applications.selectors import application_get, application_list
from applications.services import application_create, application_update
from core.pagination import CreatedAtCursorPagination
from core.schema.errors import error_responses
from core.schema.pages import page_of
from core.schema.parameters import CURSOR, LIMIT, TOKEN
from core.serializer_fields import StrictTextField


@extend_schema_serializer(component_name="Application")
class ApplicationOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The application's only credential: keep it secret.")
    name = serializers.CharField()
    chats_count = serializers.IntegerField(
        help_text="Chats persisted so far; recomputed in the background (it may lag)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="ApplicationCreate")
class ApplicationInputSerializer(serializers.Serializer):
    name = StrictTextField(max_length=255, help_text="Any text but blank, up to 255 characters.")


@extend_schema_serializer(component_name="ApplicationPatch")
class ApplicationPatchSerializer(serializers.Serializer):
    name = StrictTextField(
        max_length=255, required=False, help_text="Left out, the name is unchanged."
    )


class ApplicationListCreateApi(APIView):
    """``POST`` is public: it is how a client gets its token. ``GET`` shows every token.

    So listing needs the credentials of a Django staff user, by HTTP Basic or an admin session;
    creating runs no authentication at all (an Authorization header there is ignored).
    """

    def _listing(self) -> bool:
        # Django's request when DRF asks (View.setup ran), DRF's afterwards; the schema
        # generator asks once before it sets any. Other methods stay public, so that an
        # unsupported one is a 405 for everyone.
        request = getattr(self, "request", None)
        return request is None or request.method in ("GET", "HEAD")

    def get_authenticators(self) -> list[BaseAuthentication]:
        if self._listing():
            return [BasicAuthentication(), SessionAuthentication()]
        return []

    def get_permissions(self) -> list[BasePermission]:
        return [IsAdminUser()] if self._listing() else [AllowAny()]

    @extend_schema(
        operation_id="applications_create",
        summary="Create an application",
        description=docs.CREATE,
        tags=["applications"],
        request=ApplicationInputSerializer,
        responses={
            201: OpenApiResponse(
                ApplicationOutputSerializer, description="The application, with its token."
            ),
            **error_responses(400, 406, 413, 415, 503),
        },
        examples=docs.CREATE_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        data = ApplicationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = application_create(name=data.validated_data["name"])
        return Response(
            ApplicationOutputSerializer(application).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        operation_id="applications_list",
        summary="List every application (operators only)",
        description=docs.LIST,
        tags=["applications"],
        parameters=[LIMIT, CURSOR],
        responses={
            200: OpenApiResponse(
                page_of("ApplicationPage", ApplicationOutputSerializer),
                description="A page of applications, oldest first.",
            ),
            **error_responses(400, 401, 403, 406, 503),
        },
        examples=docs.LIST_EXAMPLES,
    )
    def get(self, request: Request) -> Response:
        paginator = CreatedAtCursorPagination()
        page = paginator.paginate_queryset(application_list(), request, view=self)
        rows = ApplicationOutputSerializer(page, many=True).data
        # many=True makes a ListSerializer, whose data is a list; the stubs type it as the class.
        return paginator.get_paginated_response(rows)  # type: ignore[arg-type]


class ApplicationDetailApi(APIView):
    @extend_schema(
        operation_id="applications_get",
        summary="Get an application",
        description=docs.GET,
        tags=["applications"],
        parameters=[TOKEN],
        responses={
            200: OpenApiResponse(ApplicationOutputSerializer, description="The application."),
            **error_responses(404, 406, 503),
        },
        examples=docs.GET_EXAMPLES,
    )
    def get(self, request: Request, token: str) -> Response:
        return Response(ApplicationOutputSerializer(application_get(token=token)).data)

    @extend_schema(
        operation_id="applications_replace",
        summary="Replace an application's name",
        description=docs.REPLACE,
        tags=["applications"],
        parameters=[TOKEN],
        request=ApplicationInputSerializer,
        responses={
            200: OpenApiResponse(
                ApplicationOutputSerializer, description="The application as it is now."
            ),
            **error_responses(400, 404, 406, 413, 415, 503),
        },
        examples=docs.UPDATE_EXAMPLES,
    )
    def put(self, request: Request, token: str) -> Response:
        return self._update(request, token, ApplicationInputSerializer)

    @extend_schema(
        operation_id="applications_update",
        summary="Update an application",
        description=docs.UPDATE,
        tags=["applications"],
        parameters=[TOKEN],
        request=ApplicationPatchSerializer,
        responses={
            200: OpenApiResponse(
                ApplicationOutputSerializer, description="The application as it is now."
            ),
            **error_responses(400, 404, 406, 413, 415, 503),
        },
        examples=docs.UPDATE_EXAMPLES,
    )
    def patch(self, request: Request, token: str) -> Response:
        return self._update(request, token, ApplicationPatchSerializer)

    def _update(
        self, request: Request, token: str, serializer: type[serializers.Serializer]
    ) -> Response:
        application = application_get(token=token)
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = application_update(
            application=application, name=data.validated_data.get("name")
        )
        return Response(ApplicationOutputSerializer(application).data)
