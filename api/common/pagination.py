"""Pagination of every list: cursors by default, page numbers where the order has no unique column.

Both read ``page_size`` strictly: a value that is not a whole number (``abc``, ``1.5``, ``-1``) is a
400 naming the parameter. DRF's own classes silently fall back to the default size, so a client with a
typo got a page of another size than it asked for and never knew. ``0`` still means the default size
and a size above the maximum is capped, as DRF documents.
"""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request

from api.common.filters import query_int

# Far above any max_page_size; only bounds the digits read (a page size of 5,000 digits is refused, not parsed).
_PAGE_SIZE_CEILING = 10**9


class _StrictPageSizeMixin:
    page_size: int | None
    page_size_query_param: str | None
    max_page_size: int | None

    def get_page_size(self, request: Request) -> int | None:
        if not self.page_size_query_param:
            return self.page_size
        asked = query_int(request.query_params, self.page_size_query_param, default=0, minimum=0,
                          maximum=_PAGE_SIZE_CEILING)
        if asked == 0:
            return self.page_size
        return min(asked, self.max_page_size) if self.max_page_size else asked


class CreatedCursorPagination(_StrictPageSizeMixin, CursorPagination):
    """Cursor pagination, newest first, with a capped page size.

    A cursor stays correct while rows are inserted, unlike page numbers, and costs
    the same on page 1 and page 1,000.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")


class StrictPageNumberPagination(_StrictPageSizeMixin, PageNumberPagination):
    """Page numbers for lists sorted by something other than a unique column.

    ``page`` must be a whole number from 1 (or ``last``), else a 400 naming it; a page past the end
    stays DRF's 404.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request: Request, paginator: Any) -> int | str:
        raw = request.query_params.get(self.page_query_param)
        if raw in self.last_page_strings:
            return str(raw)
        return query_int(request.query_params, self.page_query_param, default=1, minimum=1,
                         maximum=_PAGE_SIZE_CEILING)
