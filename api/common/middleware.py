"""Middleware of the whole site: refuse an oversize body before anything reads it."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from api.common.exceptions import error_body


def request_body_limit(request: HttpRequest) -> int:
    """The largest body this request may carry: uploads (multipart) up to ``UPLOAD_MAX_BYTES`` plus their
    form fields, anything else ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django's 2.5 MB)."""
    if request.content_type == "multipart/form-data":
        return settings.UPLOAD_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class RequestSizeLimitMiddleware:
    """Answer 413 in the common error shape when ``Content-Length`` announces a body over the limit.

    First in the chain, so the body is judged before any byte of it is read: Django would raise
    ``RequestDataTooBig`` only once a view touched ``request.body`` (the Meta webhook does so to check its
    signature), and the exception handler saw it as an unknown error, a 500 with a traceback at ERROR
    level that anyone could trigger without credentials. An upload's files are also measured as they
    stream (``api.common.parsers.UploadMultiPartParser``).

    A body sent without ``Content-Length`` (``Transfer-Encoding: chunked``) is refused with 411: Django
    reads a body only up to ``Content-Length``, so it saw an empty one, and a chunked contact creation was
    answered as if no field had been sent. Reading it instead would need a second, streaming size check
    (and spooling uploads of up to 50 MB to disk) for a form that no client of this API sends: browsers,
    ``requests``, the generated clients and the partners' integrations all send ``Content-Length``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.META.get("HTTP_TRANSFER_ENCODING") and not request.META.get("CONTENT_LENGTH"):
            return JsonResponse(error_body("length_required", "Send the request body with a Content-Length header "
                                           "(Transfer-Encoding is not accepted)."), status=411)
        try:
            announced = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("bad_request", "Content-Length is not a number."), status=400)
        limit = request_body_limit(request)
        if announced > limit:
            return JsonResponse(error_body("payload_too_large", f"The request body is larger than {limit} bytes."),
                                status=413)
        return self.get_response(request)
