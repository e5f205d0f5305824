"""Request body parsers of the API: JSON with bounded nesting, and multipart uploads measured as they stream.

Every JSON endpoint takes JSON only (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``); an upload endpoint
declares ``parser_classes = [UploadMultiPartParser]`` and its limit as ``upload_max_bytes``. One body
type per endpoint is also what the OpenAPI spec then declares, so generated clients send one thing.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework import exceptions, parsers, status

# Deeper than any document this API reads (an order is 3 levels, a Meta webhook about 8) and far
# below Python's recursion limit of 1,000, which ``json`` and every recursive walk after it hit as a
# RecursionError (a 500 with a traceback at ERROR level, for anyone, unauthenticated on the webhooks).
MAX_JSON_DEPTH = 32


class PayloadTooLarge(exceptions.APIException):
    """413: the body is larger than the endpoint accepts. Rendered in the common error shape."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def json_depth_exceeds(document: Any, max_depth: int) -> bool:
    """Whether ``document`` (parsed JSON) nests lists and objects deeper than ``max_depth``.

    Walks with an explicit stack, never by recursion, so the check itself cannot hit the limit it guards.
    """
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth + 1 > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def json_loads_bounded(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON document, refusing (``ParseError``, a 400) bad JSON, ``NaN``/``Infinity`` and nesting
    deeper than ``max_depth``.

    The C decoder raises RecursionError past about 1,000 levels; that is caught here, and anything
    between ``max_depth`` and that is refused by a walk that does not recurse.
    """
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise exceptions.ParseError(f"JSON parse error - nested deeper than {max_depth} levels.") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of more than 4,300 digits
        raise exceptions.ParseError(f"JSON parse error - {exc}") from None
    if json_depth_exceeds(document, max_depth):
        raise exceptions.ParseError(f"JSON parse error - nested deeper than {max_depth} levels.")
    return document


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a depth limit (``MAX_JSON_DEPTH``): a 400, never a RecursionError.

    The body is bounded before it gets here (``RequestSizeLimitMiddleware``), so reading it whole is safe.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        return json_loads_bounded(text)


class _UploadSizeLimitHandler(FileUploadHandler):
    """Counts the bytes of uploaded files as they arrive and stops at the limit with a 413.

    First in the handler chain, so the limit holds whatever the next handler does with a chunk (memory
    or a temporary file): a 2 GB upload is refused after ``limit`` bytes, not stored and then measured.
    """

    def __init__(self, request: Any, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def handle_raw_input(self, input_data: Any, META: dict[str, Any], content_length: int, boundary: str,
                         encoding: str | None = None) -> None:
        # Nothing read yet: a body that announces more than the limit (plus the form's other fields)
        # is refused before its first byte.
        if content_length > self.limit + settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise PayloadTooLarge(_too_large_message(self.limit))

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise PayloadTooLarge(_too_large_message(self.limit))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the file


def _too_large_message(limit: int) -> str:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    return f"The uploaded files are larger than {size}."


class UploadMultiPartParser(parsers.MultiPartParser):
    """Multipart parser of an upload endpoint: files are measured while they stream (``_UploadSizeLimitHandler``).

    The view says its limit as ``upload_max_bytes``; without one, ``settings.UPLOAD_MAX_BYTES`` applies.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        context = parser_context or {}
        request = context["request"]
        limit = getattr(context.get("view"), "upload_max_bytes", None) or settings.UPLOAD_MAX_BYTES
        handlers = [_UploadSizeLimitHandler(request, limit),
                    *(h for h in request.upload_handlers if not isinstance(h, _UploadSizeLimitHandler))]
        request.upload_handlers = handlers
        return super().parse(stream, media_type, parser_context)
