from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.errors import error_body


class RequestBodyLimitMiddleware:
    """Answer 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE before anything reads it.

    Django itself would raise RequestDataTooBig, which surfaces as a 400; the contract asks for
    413, and refusing on the declared length spares reading a large body at all. A body sent
    without a Content-Length is still capped by Django when it is read (see core.errors).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("bad_request", "Invalid Content-Length."), status=400)
        if limit is not None and length > limit and not request.path.startswith("/admin/"):
            return JsonResponse(
                error_body("payload_too_large", "The request body is larger than 1 MiB."),
                status=413,
            )
        return self.get_response(request)
