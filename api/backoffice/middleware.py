"""The back office's language: French unless the staff member picked another one."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers

# The prefix api/urls.py mounts the back office under. Only these pages are translated: the
# REST API answers in English whatever the browser asks, so its error messages never change.
BACKOFFICE_PREFIX = "/app/"


class BackofficeLocaleMiddleware:
    """Activate the language cookie's language (set by Django's ``set_language``), else
    ``BACKOFFICE_LANGUAGE_CODE``, for the back office's requests only."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(BACKOFFICE_PREFIX):
            return self.get_response(request)
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        if language not in dict(settings.LANGUAGES):
            language = settings.BACKOFFICE_LANGUAGE_CODE
        # The response is rendered inside get_response, so the override covers the templates too.
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Cookie",))
        return response
